-- pgTAP: row level security on schema v2, seen from two users, anon and service_role.
-- Users are set up as postgres (the way Supabase Auth creates them); each block then takes a role with
-- PostgREST-style claims, like supabase_test_helpers' authenticate_as() does.
begin;
\ir pgtap_setup.psql
set local search_path = public, extensions;

select plan(22);

insert into auth.users (id, email) values
  ('11111111-1111-4111-8111-111111111111', 'alice@example.test'),
  ('22222222-2222-4222-8222-222222222222', 'bob@example.test');
insert into public.agents (id, owner_id, name) values
  ('aaaaaaaa-1111-4111-8111-111111111111', '11111111-1111-4111-8111-111111111111', 'alice agent'),
  ('bbbbbbbb-2222-4222-8222-222222222222', '22222222-2222-4222-8222-222222222222', 'bob agent');
insert into public.conversation_sessions (id, user_id, agent_id) values
  ('c0000000-1111-4111-8111-111111111111', '11111111-1111-4111-8111-111111111111', 'aaaaaaaa-1111-4111-8111-111111111111'),
  ('c0000000-2222-4222-8222-222222222222', '22222222-2222-4222-8222-222222222222', 'bbbbbbbb-2222-4222-8222-222222222222');
insert into public.chat_messages_v2 (id, conversation_id, user_id, role, content) values
  ('d0000000-1111-4111-8111-111111111111', 'c0000000-1111-4111-8111-111111111111', '11111111-1111-4111-8111-111111111111',
   'user', '{"type":"text","text":"alice says hi"}'),
  ('d0000000-2222-4222-8222-222222222222', 'c0000000-2222-4222-8222-222222222222', '22222222-2222-4222-8222-222222222222',
   'user', '{"type":"text","text":"bob says hi"}');
insert into public.agent_memories (agent_id, user_id, memory_type, content) values
  ('aaaaaaaa-1111-4111-8111-111111111111', '11111111-1111-4111-8111-111111111111', 'semantic', 'alice likes tea'),
  ('bbbbbbbb-2222-4222-8222-222222222222', '22222222-2222-4222-8222-222222222222', 'semantic', 'bob likes coffee');
insert into public.agent_states (agent_id, user_id, state_type, state) values
  ('aaaaaaaa-1111-4111-8111-111111111111', '11111111-1111-4111-8111-111111111111', 'local', '{"step": 1}'),
  ('bbbbbbbb-2222-4222-8222-222222222222', '22222222-2222-4222-8222-222222222222', 'local', '{"step": 1}');

-- ---------------------------------------------------------------- alice
select set_config('request.jwt.claims', '{"sub":"11111111-1111-4111-8111-111111111111","role":"authenticated"}', true);
set local role authenticated;

select results_eq('select count(*)::int from public.conversation_sessions', array[1], 'alice sees one session');
select results_eq('select content ->> ''text'' from public.chat_messages_v2', array['alice says hi'], 'alice sees only her message');
select results_eq('select content from public.agent_memories', array['alice likes tea'], 'alice sees only her agent''s memories');
select results_eq('select count(*)::int from public.agent_states', array[1], 'alice sees only her agent''s states');
select is_empty('select 1 from public.policy_events', 'alice sees no policy events about others');

select throws_ok(
  $$insert into public.chat_messages_v2 (conversation_id, user_id, role, content)
    values ('c0000000-2222-4222-8222-222222222222', '11111111-1111-4111-8111-111111111111', 'user', '{"type":"text","text":"x"}')$$,
  '42501',
  'new row violates row-level security policy for table "chat_messages_v2"',
  'alice cannot post into bob''s conversation'
);
select throws_ok(
  $$insert into public.agent_memories (agent_id, memory_type, content)
    values ('bbbbbbbb-2222-4222-8222-222222222222', 'semantic', 'planted')$$,
  '42501',
  'new row violates row-level security policy for table "agent_memories"',
  'alice cannot plant a memory in bob''s agent'
);
select throws_ok(
  $$select public.save_agent_state('bbbbbbbb-2222-4222-8222-222222222222', 'local', '{"step": 99}')$$,
  'AJC03',
  'agent bbbbbbbb-2222-4222-8222-222222222222 not found',
  'bob''s agent does not exist for alice'
);
select throws_ok(
  $$update public.conversation_sessions set message_count = 1000$$,
  '42501',
  'permission denied for table conversation_sessions',
  'session metrics are not writable by users'
);
select throws_ok(
  $$update public.agent_states set state = '{}'$$,
  '42501',
  'permission denied for table agent_states',
  'users cannot update state versions at all'
);
select is_empty(
  $$update public.chat_messages_v2 set content = '{"type":"text","text":"hacked"}'
    where id = 'd0000000-2222-4222-8222-222222222222' returning id$$,
  'alice cannot edit bob''s message'
);
select is_empty(
  $$delete from public.agent_memories where content = 'bob likes coffee' returning id$$,
  'alice cannot delete bob''s memory'
);
select lives_ok(
  $$update public.chat_messages_v2 set content = '{"type":"text","text":"alice says hello"}'
    where id = 'd0000000-1111-4111-8111-111111111111'$$,
  'alice can edit her message'
);
select results_eq(
  $$select version from public.chat_messages_v2 where id = 'd0000000-1111-4111-8111-111111111111'$$,
  array[2],
  'the edit bumped the version'
);
select results_eq(
  $$select content ->> 'text' from public.chat_message_revisions where message_id = 'd0000000-1111-4111-8111-111111111111'$$,
  array['alice says hi'],
  'the previous content is kept as a revision'
);
reset role;

-- ---------------------------------------------------------------- bob
select set_config('request.jwt.claims', '{"sub":"22222222-2222-4222-8222-222222222222","role":"authenticated"}', true);
set local role authenticated;
select results_eq(
  $$select content ->> 'text' from public.chat_messages_v2$$,
  array['bob says hi'],
  'bob still sees only his message, unchanged'
);
select is_empty('select 1 from public.chat_message_revisions', 'bob sees none of alice''s revisions');
reset role;

-- ---------------------------------------------------------------- anon
select set_config('request.jwt.claims', '{"role":"anon"}', true);
set local role anon;
select throws_ok(
  'select 1 from public.chat_messages_v2',
  '42501',
  'permission denied for table chat_messages_v2',
  'anon cannot read messages'
);
select throws_ok(
  $$select * from public.match_agent_memories('aaaaaaaa-1111-4111-8111-111111111111', null)$$,
  '42501',
  'permission denied for function match_agent_memories',
  'anon cannot search memories'
);
reset role;

-- ---------------------------------------------------------------- service_role
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
set local role service_role;
select results_eq('select count(*)::int from public.chat_messages_v2', array[2], 'service_role sees every message');
select results_eq('select count(*)::int from public.agent_memories', array[2], 'service_role sees every memory');
select lives_ok(
  $$insert into public.policy_events (user_id, policy_name, decision) values ('11111111-1111-4111-8111-111111111111', 'pii', 'flag')$$,
  'service_role writes policy events'
);
reset role;

select * from finish();
rollback;
