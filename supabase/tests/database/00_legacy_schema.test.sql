-- pgTAP: the legacy (v1) baseline — supabase/migrations/20250801000000_create_legacy_chat_schema.sql.
-- Production runs these tables today, and the v2 migration and the data migration read them, so their
-- shape, their owner-only RLS and their policy set must not drift.
-- Run: npm run db:test (PGlite) or `supabase test db` (pgTAP in the extensions schema).
begin;
\ir pgtap_setup.psql
select plan(27);

-- Shape the rest of the project relies on.
select has_table('public', 'agents', 'legacy table agents exists');
select has_table('public', 'chat_messages', 'legacy table chat_messages exists');
select has_table('public', 'chat_states', 'legacy table chat_states exists');
select col_is_pk('public', 'chat_messages', 'id', 'chat_messages.id is the primary key (the keyset of the data migration)');
select col_type_is('public', 'chat_messages', 'id', 'bigint', 'chat_messages.id is a bigint identity');
select col_is_pk('public', 'chat_states', 'conversation_id', 'chat_states has one row per conversation');
select fk_ok('public', 'chat_messages', 'user_id', 'auth', 'users', 'id', 'chat_messages.user_id references auth.users');
select fk_ok('public', 'agents', 'owner_id', 'auth', 'users', 'id', 'agents.owner_id references auth.users');

-- RLS on, and exactly one policy per operation, for authenticated only.
select ok((select relrowsecurity from pg_class where oid = 'public.agents'::regclass), 'RLS is enabled on agents');
select ok((select relrowsecurity from pg_class where oid = 'public.chat_messages'::regclass), 'RLS is enabled on chat_messages');
select ok((select relrowsecurity from pg_class where oid = 'public.chat_states'::regclass), 'RLS is enabled on chat_states');
select policies_are('public', 'agents', array[
  'Owners can read their agents', 'Owners can create their agents',
  'Owners can update their agents', 'Owners can delete their agents'
], 'agents has exactly its four owner policies');
select policies_are('public', 'chat_messages', array[
  'Users can read their messages', 'Users can create their messages',
  'Users can update their messages', 'Users can delete their messages'
], 'chat_messages has exactly its four owner policies');
select policies_are('public', 'chat_states', array[
  'Users can read their chat states', 'Users can create their chat states',
  'Users can update their chat states', 'Users can delete their chat states'
], 'chat_states has exactly its four owner policies');
select is_empty(
  $$ select tablename || ': ' || policyname from pg_policies
      where schemaname = 'public' and tablename in ('agents', 'chat_messages', 'chat_states')
        and roles <> '{authenticated}' $$,
  'every legacy policy applies to authenticated only (anon gets nothing)'
);
select results_eq(
  $$ select cmd::text, count(*)::int from pg_policies
      where schemaname = 'public' and tablename in ('agents', 'chat_messages', 'chat_states')
      group by cmd order by cmd $$,
  $$ values ('DELETE', 3), ('INSERT', 3), ('SELECT', 3), ('UPDATE', 3) $$,
  'one policy per operation per legacy table'
);

-- Behaviour: two users, each owning one agent, one message and one state.
insert into auth.users (id, email, aud, role) values
  ('00000000-0000-4000-8000-00000000000a', 'a@example.test', 'authenticated', 'authenticated'),
  ('00000000-0000-4000-8000-00000000000b', 'b@example.test', 'authenticated', 'authenticated');
insert into public.agents (id, owner_id, name) values
  ('00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-00000000000a', 'A''s agent'),
  ('00000000-0000-4000-8000-0000000000b1', '00000000-0000-4000-8000-00000000000b', 'B''s agent');
insert into public.chat_messages (conversation_id, user_id, agent_id, role, content) values
  ('00000000-0000-4000-8000-0000000000ac', '00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1', 'user', 'hello from A'),
  ('00000000-0000-4000-8000-0000000000bc', '00000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-0000000000b1', 'user', 'hello from B');
insert into public.chat_states (conversation_id, user_id, agent_id, content) values
  ('00000000-0000-4000-8000-0000000000ac', '00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1', '{}'),
  ('00000000-0000-4000-8000-0000000000bc', '00000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-0000000000b1', '{}');

-- As user A (what PostgREST does for a signed-in request).
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "00000000-0000-4000-8000-00000000000a", "role": "authenticated"}', true);
select results_eq($$ select name from public.agents $$, $$ values ('A''s agent') $$, 'user A sees only their agent');
select results_eq($$ select content from public.chat_messages $$, $$ values ('hello from A') $$, 'user A sees only their messages');
select results_eq($$ select conversation_id from public.chat_states $$, $$ values ('00000000-0000-4000-8000-0000000000ac'::uuid) $$, 'user A sees only their chat states');
select throws_ok(
  $$ insert into public.agents (owner_id, name) values ('00000000-0000-4000-8000-00000000000b', 'forged') $$,
  '42501', 'new row violates row-level security policy for table "agents"',
  'user A cannot create an agent owned by B'
);
select is_empty(
  $$ update public.chat_messages set content = 'hijacked' where user_id = '00000000-0000-4000-8000-00000000000b' returning id $$,
  'user A cannot update B''s messages'
);
select is_empty(
  $$ delete from public.chat_states where user_id = '00000000-0000-4000-8000-00000000000b' returning conversation_id $$,
  'user A cannot delete B''s chat states'
);
select lives_ok(
  $$ update public.chat_messages set content = 'edited by A' where user_id = '00000000-0000-4000-8000-00000000000a' $$,
  'user A can update their own message'
);

-- As anon: nothing (no policy, and since 20250810000000 no privilege either: 01_legacy_privileges.test.sql).
reset role;
set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok($$ select 1 from public.agents union all select 1 from public.chat_messages union all select 1 from public.chat_states $$,
  '42501', null, 'anon cannot read the legacy tables');
select throws_ok(
  $$ insert into public.chat_messages (conversation_id, user_id, role, content)
     values (gen_random_uuid(), '00000000-0000-4000-8000-00000000000a', 'user', 'spam') $$,
  '42501', null, 'anon cannot write legacy messages'
);

-- service_role bypasses RLS (server-side jobs, the data migration).
reset role;
set local role service_role;
select results_eq($$ select count(*)::int from public.chat_messages $$, $$ values (2) $$, 'service_role sees every message');
reset role;
select is((select content from public.chat_messages where user_id = '00000000-0000-4000-8000-00000000000b'), 'hello from B',
  'B''s message is untouched after A''s attempts');

select * from finish();
rollback;
