-- Rollback of schema v2: 20250805074444_create_advanced_json_chat_schema and its companions
-- 20250805074445..20250805074449 (triggers, memory/state API, maintenance functions), plus the data
-- migration (20250806000000) and the maintenance scheduler (20250809000000) built on them.
--
-- Purpose : return the database to the legacy (v1) schema. Legacy tables (agents, chat_messages,
--           chat_states) and their data are never touched: nothing here reads or writes them except
--           through the foreign keys that disappear with the v2 tables.
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
-- Check   : raises if any v2 table, index, sequence, type or function is still there afterwards.
-- History : deletes the version rows 20250805074444..20250805074449 from supabase_migrations.schema_migrations
--           where that table exists (not after `psql -f` or another migration tool).
-- Later   : refuses (AJC10) while a later migration is applied, except 20250810000000 (legacy table
--           privileges), which concerns only the legacy tables and stays applied.
--
-- Hosted Supabase: run this file with psql in one transaction, then tell the CLI:
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 --single-transaction \
--        -c "set advanced_json_chat.archive = 'on'" -f supabase/rollbacks/20250805074444_create_advanced_json_chat_schema.down.sql
--   supabase migration repair --status reverted 20250805074444 20250805074445 20250805074446 20250805074447
-- (the script already deletes those rows; repair keeps the CLI's view of the remote history in step).

-- >>> data-migration objects (20250806000000, datamig branch) are removed HERE, before anything below: their
-- >>> triggers, ledger, quarantine and API reference v2 tables. Keep that block at the top of this file.

-- Data migration (20250806000000): the v2 rollback removes the ledger, quarantine and mode triggers
-- too (a re-applied migration starts clean), and refuses while v2 holds messages legacy lacks: those would be
-- lost with v2. History imported from chat_states is the exception (it came from legacy chat_states, which
-- keeps it). In dual_write every v2 write already has its legacy twin; from v2_only switch back first.
do $$
declare
  v_lacking bigint;
  v_v2_only boolean := false;
begin
  if to_regclass('public.chat_messages_v2') is null then
    return;
  end if;
  -- Dynamic SQL: plpgsql plans a static reference to chat_migration.mode even when to_regclass() is null, so
  -- a database whose data-migration file was rolled back on its own would fail here.
  if to_regclass('chat_migration.mode') is not null then
    execute 'select exists (select 1 from chat_migration.mode where mode = ''v2_only'')' into v_v2_only;
  end if;
  if v_v2_only then
    raise exception 'cannot roll back schema v2 while the chat schema mode is v2_only: legacy misses what v2 gained since'
      using errcode = '55000',
            hint = 'Run select set_chat_schema_mode(''dual_write''); first (it copies to legacy the v2 rows legacy '
                   'lacks and un-archives a finalized migration), then roll back again.';
  end if;
  if to_regclass('public.chat_messages') is null then
    raise exception 'cannot roll back schema v2: the legacy table public.chat_messages is missing'
      using errcode = '55000',
            hint = 'If the migration was finalized, run select set_chat_schema_mode(''dual_write''); to move the '
                   'legacy tables back from chat_archive, then roll back again.';
  end if;
  select count(*) into v_lacking
    from public.chat_messages_v2 v
   where v.deleted_at is null
     and coalesce(v.metadata ->> 'source', '') <> 'chat_states'
     and (v.legacy_id is null
          or not exists (select 1 from public.chat_messages l where l.id = v.legacy_id));
  if v_lacking > 0 then
    raise exception 'cannot roll back schema v2: % v2 message(s) have no legacy row and would be lost', v_lacking
      using errcode = '55000',
            hint = 'Copy them to legacy first: select set_chat_schema_mode(''dual_write''); from v2_only, or run '
                   'the rollback with advanced_json_chat.archive = on after exporting them. Find them with: '
                   'select * from chat_messages_v2 where deleted_at is null and legacy_id is null.';
  end if;

  if to_regclass('chat_archive.chat_messages') is not null and to_regclass('public.chat_messages') is null then
    alter table chat_archive.chat_messages set schema public;
  end if;
  if to_regclass('chat_archive.chat_states') is not null and to_regclass('public.chat_states') is null then
    alter table chat_archive.chat_states set schema public;
  end if;
  drop trigger if exists chat_migration_mirror_insert on public.chat_messages;
  drop trigger if exists chat_migration_mirror_update on public.chat_messages;
  drop trigger if exists chat_migration_mirror_delete on public.chat_messages;
  drop trigger if exists chat_migration_reject_writes on public.chat_messages;
  if to_regclass('public.chat_states') is not null then
    drop trigger if exists chat_migration_reject_writes on public.chat_states;
  end if;
  drop trigger if exists chat_migration_mirror_insert on public.chat_messages_v2;
  drop trigger if exists chat_migration_mirror_update on public.chat_messages_v2;
  drop trigger if exists chat_migration_mirror_delete on public.chat_messages_v2;
  drop trigger if exists chat_migration_stamp_v2_only_edit on public.chat_messages_v2;
  if to_regclass('public.chat_message_attachments') is not null then
    drop trigger if exists chat_migration_mirror_children on public.chat_message_attachments;
  end if;
  if to_regclass('public.chat_tool_calls') is not null then
    drop trigger if exists chat_migration_mirror_children on public.chat_tool_calls;
  end if;
  if to_regclass('public.conversation_sessions') is not null then
    drop trigger if exists chat_migration_guard_session_claim on public.conversation_sessions;
  end if;
end
$$;
drop function if exists public.migrate_with_progress(integer);
drop function if exists public.migrate_chat_messages();
drop function if exists public.migrate_chat_messages_batch(integer);
drop procedure if exists public.run_chat_migration(integer, integer);
drop function if exists public.migrate_chat_states();
drop function if exists public.verify_chat_migration();
drop function if exists public.set_chat_schema_mode(text);
drop function if exists public.finalize_chat_migration();
drop function if exists public.chat_migration_status();
drop function if exists public.pause_chat_migration();
drop function if exists public.resume_chat_migration();
drop function if exists public.list_chat_migration_quarantine(integer);
drop function if exists public.retry_chat_migration_quarantine();
drop function if exists public.repair_chat_migration(integer);
drop schema if exists chat_migration cascade;
drop schema if exists chat_archive;
-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250806000000';
  end if;
end
$$;
-- <<< end of the data-migration block

-- Scheduled maintenance (20250809000000): its pg_cron jobs call v2's maintenance functions, so undoing all of
-- v2 unschedules them (where pg_cron is installed) and drops the scheduler too, like the block above.
do $$
declare
  v_jobid bigint;
begin
  if exists (select 1 from pg_catalog.pg_extension where extname = 'pg_cron') then
    for v_jobid in
      select j.jobid from cron.job j
      where j.jobname in ('ajc_decay_agent_memories', 'ajc_sweep_expired_memories', 'ajc_sweep_old_snapshots',
                          'ajc_prune_state_checkpoints')
        and j.username = current_user
    loop
      perform cron.unschedule(v_jobid);
    end loop;
  end if;
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250809000000';
  end if;
end
$$;
drop function if exists public.unschedule_maintenance_jobs();
drop function if exists public.schedule_maintenance_jobs(text, text, text, text);

-- Later migrations built on v2 must be rolled back first (this script does not know their objects).
do $$
declare
  v_newer text[];
begin
  -- The history table exists only where the Supabase CLI or our runner applied the migrations.
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    select array_agg(m.version order by m.version) into v_newer
    from supabase_migrations.schema_migrations m
    where m.version > '20250805074449'
      -- 20250810000000 (legacy table privileges) touches only the legacy tables: it stays applied, so rolling
      -- v2 back does not reopen TRUNCATE on them
      and m.version <> '20250810000000';
  end if;
  if v_newer is not null then
    raise exception 'migrations newer than schema v2 are still applied: %', array_to_string(v_newer, ', ')
      using errcode = 'AJC10',
            hint = 'Roll those back first (npm run db:rollback -- --version <version>), newest first.';
  end if;
end
$$;

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

-- 20250805074447: maintenance, health and integrity functions.
drop function if exists public.replica_lag();
drop function if exists public.check_chat_schema_integrity();
drop function if exists public.chat_schema_index_usage();
drop function if exists public.chat_schema_table_sizes();
drop function if exists public.recompute_session_metrics(uuid);
drop function if exists public.rebuild_agent_memory_index();
drop function if exists public.sweep_old_snapshots(interval, integer);
drop function if exists public.sweep_expired_memories(integer);
drop function if exists public.decay_agent_memories(uuid);

-- 20250805074446: memory / state API (save_agent_state and the checkpoint functions return v2 row types,
-- so they go before the tables).
drop function if exists public.prune_state_checkpoints(uuid, timestamptz);
drop function if exists public.restore_state_checkpoint(uuid);
drop function if exists public.create_state_checkpoint(uuid, text, uuid, text, text, uuid, jsonb, timestamptz, uuid);
drop function if exists public.save_agent_state(uuid, text, jsonb, uuid, integer);
drop function if exists public.record_agent_memory_access(uuid[]);
drop function if exists public.match_agent_memories(uuid, extensions.vector, integer, text[], real);

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

-- 20250805074445: trigger functions (their triggers are gone with the tables).
drop function if exists public.state_checkpoints_before_write();
drop function if exists public.chat_messages_v2_check_parent();
drop function if exists public.agent_states_before_update();
drop function if exists public.agent_states_before_insert();
drop function if exists public.agent_state_stream_lock_key(uuid, uuid, text, uuid);
drop function if exists public.chat_messages_v2_after_delete_metrics();
drop function if exists public.chat_messages_v2_after_update_metrics();
drop function if exists public.chat_messages_v2_after_insert_metrics();
drop function if exists public.chat_messages_v2_before_update();
drop function if exists public.message_tokens(jsonb);
drop function if exists public.set_updated_at();

-- 20250805074444: the CHECK helper (after chat_messages_v2, whose constraint used it).
drop function if exists public.is_valid_message_content(jsonb);
drop function if exists chat_private.is_valid_message_content(jsonb);
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
        'policy\_events%'
      ]))
    union all
    select 'type public.' || t.typname
    from pg_catalog.pg_type t
    where t.typnamespace = 'public'::regnamespace
      and t.typname = any (array['message_role', 'session_status', 'memory_type', 'state_type', 'checkpoint_type'])
    union all
    select 'function public.' || p.proname
    from pg_catalog.pg_proc p
    where p.pronamespace = 'public'::regnamespace
      and p.proname = any (array[
        'is_valid_message_content', 'set_updated_at', 'message_tokens', 'agent_state_stream_lock_key',
        'chat_messages_v2_before_update', 'chat_messages_v2_after_insert_metrics',
        'chat_messages_v2_after_update_metrics', 'chat_messages_v2_after_delete_metrics',
        'agent_states_before_insert', 'agent_states_before_update', 'state_checkpoints_before_write',
        'chat_messages_v2_check_parent',
        'match_agent_memories', 'record_agent_memory_access', 'save_agent_state', 'create_state_checkpoint',
        'restore_state_checkpoint', 'prune_state_checkpoints', 'decay_agent_memories', 'sweep_expired_memories',
        'sweep_old_snapshots', 'rebuild_agent_memory_index', 'recompute_session_metrics', 'chat_schema_table_sizes',
        'chat_schema_index_usage', 'check_chat_schema_integrity', 'replica_lag', 'schedule_maintenance_jobs',
        'unschedule_maintenance_jobs'
      ])
  ) x;
  if v_left is not null then
    raise exception 'schema v2 rollback left objects behind: %', array_to_string(v_left, ', ')
      using errcode = 'AJC11',
            hint = 'Drop them by hand (they may have been recreated under another signature) and run the rollback again.';
  end if;
end
$$;

-- History rows, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version between '20250805074444' and '20250805074449';
  end if;
end
$$;
