-- Rollback of 20250805074444_create_advanced_json_chat_schema: the v2 tables with their indexes, policies and
-- privileges, the enum types, the content validator, the RLS helper and schema chat_private.
--
-- Purpose : undo that one file. The other v2 files (20250805074445..48) and everything built on v2 (the data
--           migration 20250806000000..08, the maintenance scheduler 20250809000000) have their own rollbacks and
--           must be rolled back first, newest first: `npm run db:rollback -- --to 20250805074444` does exactly
--           that, each file in its own transaction (and without --to it refuses while any of them is applied).
--           By hand with psql, that order is yours: docs/schema.md#rollback. Legacy tables (agents,
--           chat_messages, chat_states) and their data are never touched.
-- Archive : when the setting advanced_json_chat.archive is 'on' (npm run db:rollback -- --archive, or
--           `set local advanced_json_chat.archive = on` in psql), every v2 table is first copied into schema
--           advanced_json_chat_archive (create table … as select). An archive left by an earlier rollback is
--           renamed <table>_<epoch> first, never overwritten. Enum columns (role, status, the types) are
--           archived as text, so the archive outlives the v2 types.
-- Drops   : in dependency order, never CASCADE — an object someone else built on v2 (a view, a function
--           returning a v2 row type) makes this fail loudly instead of vanishing silently.
-- Keeps   : the vector extension. `create extension if not exists` may have found it already installed,
--           dropping it would take every vector column in the database with it, and an unused extension
--           costs nothing. Drop it by hand if you know v2 was its only user: drop extension vector;
-- Check   : raises (AJC11) if any table, index, sequence, type or function of this file is still there afterwards.
-- History : deletes its own version row from supabase_migrations.schema_migrations where that table exists
--           (not after `psql -f` or another migration tool).

-- Optional archive of v2 data (opt-in).
do $$
declare
  v_table text;
  v_tables constant text[] := array[
    'conversation_sessions', 'chat_messages_v2', 'chat_message_revisions', 'chat_message_attachments',
    'chat_tool_calls', 'agent_memories', 'agent_states', 'context_snapshots', 'state_checkpoints', 'policy_events'
  ];
  v_suffix constant text := extract(epoch from clock_timestamp())::bigint::text;
  v_columns text;
begin
  if coalesce(current_setting('advanced_json_chat.archive', true), '') <> 'on' then
    return;
  end if;
  create schema if not exists advanced_json_chat_archive;
  -- Not an API schema: only the owner (postgres) and service_role may read the archive.
  revoke all on schema advanced_json_chat_archive from public;
  grant usage on schema advanced_json_chat_archive to service_role;
  foreach v_table in array v_tables loop
    if to_regclass(format('public.%I', v_table)) is null then
      continue;
    end if;
    if to_regclass(format('advanced_json_chat_archive.%I', v_table)) is not null then
      execute format('alter table advanced_json_chat_archive.%I rename to %I', v_table, v_table || '_' || v_suffix);
    end if;
    -- Enum columns are archived as text: the archive must not depend on the v2 types dropped below.
    select string_agg(case when t.typtype = 'e' then format('%I::text as %I', a.attname, a.attname)
                           else format('%I', a.attname) end, ', ' order by a.attnum)
      into v_columns
      from pg_catalog.pg_attribute a
      join pg_catalog.pg_type t on t.oid = a.atttypid
     where a.attrelid = format('public.%I', v_table)::regclass and a.attnum > 0 and not a.attisdropped;
    execute format('create table advanced_json_chat_archive.%I as select %s from public.%I', v_table, v_columns, v_table);
    execute format('revoke all on table advanced_json_chat_archive.%I from public, anon, authenticated', v_table);
    execute format('grant select on table advanced_json_chat_archive.%I to service_role', v_table);
    execute format(
      'comment on table advanced_json_chat_archive.%I is %L', v_table,
      format('copy of public.%s taken by the schema v2 rollback at %s', v_table, clock_timestamp()));
  end loop;
end
$$;

-- 20250805074444: tables, children before parents (their triggers, policies and indexes go with them).
drop table if exists public.policy_events;
drop table if exists public.state_checkpoints;
drop table if exists public.context_snapshots;
drop table if exists public.agent_states;
drop table if exists public.agent_memories;
drop table if exists public.chat_tool_calls;
drop table if exists public.chat_message_attachments;
drop table if exists public.chat_message_revisions;
drop table if exists public.chat_messages_v2;
drop table if exists public.conversation_sessions;

-- 20250805074444: the CHECK helper (after chat_messages_v2, whose constraint used it).
drop function if exists public.is_valid_message_content(jsonb);
drop function if exists chat_private.is_valid_message_content(jsonb);
drop function if exists chat_private.owns_message(uuid);
drop schema if exists chat_private;

-- 20250805074444: the vocabularies (after the tables and functions that use them).
drop type if exists public.checkpoint_type;
drop type if exists public.state_type;
drop type if exists public.memory_type;
drop type if exists public.session_status;
drop type if exists public.message_role;

-- Give back the platform's default EXECUTE on new functions that 20250805074444 took away, so the database
-- is as it was before v2 (on hosted Supabase and in our shim: PUBLIC globally, anon/authenticated in public).
alter default privileges for role postgres grant execute on functions to public;
alter default privileges for role postgres in schema public grant execute on functions to anon, authenticated;

-- Nothing of v2 may be left.
do $$
declare
  v_left text[];
begin
  select array_agg(x.name order by x.name) into v_left
  from (
    select 'relation public.' || c.relname as name
    from pg_catalog.pg_class c
    where c.relnamespace = 'public'::regnamespace
      and (c.relname like any (array[
        'conversation\_sessions%', 'chat\_messages\_v2%', 'chat\_message\_revisions%', 'chat\_message\_attachments%',
        'chat\_tool\_calls%', 'agent\_memories%', 'agent\_states%', 'context\_snapshots%', 'state\_checkpoints%',
        'policy\_events%', 'chat\_messages\_expanded'
      ]))
    union all
    select 'type public.' || t.typname
    from pg_catalog.pg_type t
    where t.typnamespace = 'public'::regnamespace
      and t.typname = any (array['message_role', 'session_status', 'memory_type', 'state_type', 'checkpoint_type'])
    union all
    select 'function ' || p.pronamespace::regnamespace || '.' || p.proname
    from pg_catalog.pg_proc p
    where p.pronamespace in ('public'::regnamespace, to_regnamespace('chat_private'))
      and p.proname in ('is_valid_message_content', 'owns_message')
  ) x;
  if v_left is not null then
    raise exception 'schema v2 rollback left objects behind: %', array_to_string(v_left, ', ')
      using errcode = 'AJC11',
            hint = 'Drop them by hand (they may have been recreated under another signature) and run the rollback again.';
  end if;
end
$$;

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250805074444';
  end if;
end
$$;
