-- pgTAP: privileges on the legacy tables after 20250810000000_revoke_legacy_table_privileges.sql.
-- TRUNCATE bypasses row level security, so the API roles must not hold it: before that migration
-- `set role anon; truncate public.chat_messages` emptied the table. anon holds nothing on the legacy tables and
-- their sequence; authenticated keeps exactly the DML its owner-only policies fence.
-- Run: npm run db:test (PGlite) or `supabase test db` (pgTAP in the extensions schema).
begin;
\ir pgtap_setup.psql
select plan(21);

-- The privilege sets (server-independent: MAINTAIN, PostgreSQL 17+, is revoked too).
select table_privs_are('public', 'agents', 'anon', array[]::text[], 'anon holds no privilege on agents');
select table_privs_are('public', 'chat_messages', 'anon', array[]::text[], 'anon holds no privilege on chat_messages');
select table_privs_are('public', 'chat_states', 'anon', array[]::text[], 'anon holds no privilege on chat_states');
select sequence_privs_are('public', 'chat_messages_id_seq', 'anon', array[]::text[], 'anon holds no privilege on chat_messages_id_seq');
select table_privs_are('public', 'agents', 'authenticated', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  'authenticated keeps exactly the DML on agents');
select table_privs_are('public', 'chat_messages', 'authenticated', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  'authenticated keeps exactly the DML on chat_messages');
select table_privs_are('public', 'chat_states', 'authenticated', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  'authenticated keeps exactly the DML on chat_states');
select ok(has_sequence_privilege('authenticated', 'public.chat_messages_id_seq', 'usage'),
  'authenticated keeps USAGE on chat_messages_id_seq');
select ok(has_table_privilege('service_role', 'public.chat_messages', 'truncate'),
  'service_role (server-side jobs) is untouched');
select is_empty(
  $$ select c.oid::regclass::text from pg_class c
      where c.oid in ('public.agents'::regclass, 'public.chat_messages'::regclass, 'public.chat_states'::regclass)
        and (has_table_privilege('anon', c.oid, 'truncate') or has_table_privilege('authenticated', c.oid, 'truncate')
             or has_table_privilege('authenticated', c.oid, 'references') or has_table_privilege('authenticated', c.oid, 'trigger')) $$,
  'no API role can TRUNCATE, REFERENCE or add a TRIGGER to a legacy table'
);
select has_table('chat_legacy_acl', 'saved_acls', 'the ACLs from before are kept for the rollback');

-- Behaviour: a user with one row of each.
insert into auth.users (id, email, aud, role) values
  ('00000000-0000-4000-8000-00000000000a', 'a@example.test', 'authenticated', 'authenticated');
insert into public.agents (id, owner_id, name) values
  ('00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-00000000000a', 'A''s agent');
insert into public.chat_messages (conversation_id, user_id, agent_id, role, content) values
  ('00000000-0000-4000-8000-0000000000ac', '00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1', 'user', 'hello');
insert into public.chat_states (conversation_id, user_id, agent_id, content) values
  ('00000000-0000-4000-8000-0000000000ac', '00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1', '{}');

set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok($$ truncate public.chat_messages $$, '42501', null, 'anon cannot truncate chat_messages');
select throws_ok($$ truncate public.chat_states $$, '42501', null, 'anon cannot truncate chat_states');
select throws_ok($$ truncate public.agents cascade $$, '42501', null, 'anon cannot truncate agents');
select throws_ok($$ select nextval('public.chat_messages_id_seq') $$, '42501', null, 'anon cannot use the message id sequence');

reset role;
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "00000000-0000-4000-8000-00000000000a", "role": "authenticated"}', true);
select throws_ok($$ truncate public.chat_messages $$, '42501', null, 'a signed-in user cannot truncate chat_messages');
select throws_ok($$ truncate public.chat_states $$, '42501', null, 'a signed-in user cannot truncate chat_states');
select throws_ok($$ truncate public.agents cascade $$, '42501', null, 'a signed-in user cannot truncate agents');
select lives_ok(
  $$ insert into public.chat_messages (conversation_id, user_id, role, content)
     values ('00000000-0000-4000-8000-0000000000ac', '00000000-0000-4000-8000-00000000000a', 'user', 'still works') $$,
  'a signed-in user still writes their own messages (identity default included)'
);
select results_eq($$ select count(*)::int from public.chat_messages $$, $$ values (2) $$,
  'and reads them through the owner-only policy');

reset role;
select results_eq(
  $$ select (select count(*) from public.agents)::int, (select count(*) from public.chat_messages)::int,
            (select count(*) from public.chat_states)::int $$,
  $$ values (1, 2, 1) $$,
  'every legacy row is still there'
);

select * from finish();
rollback;
