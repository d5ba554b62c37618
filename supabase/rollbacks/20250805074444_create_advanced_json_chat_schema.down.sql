-- Rollback of 20250805074444_create_advanced_json_chat_schema, the first file of schema v2: the enum types, the
-- content validators, the archive helper, schema chat_private and the default privileges on functions.
--
-- Purpose : undo that one file. The other v2 files (20250805074445..54) and everything built on v2 (the data
--           migration, the maintenance scheduler) have their own rollbacks and go first, newest first:
--           `npm run db:rollback -- --to 20250805074444` does exactly that, each file in its own transaction
--           (without --to the runner refuses while any of them is applied). By hand with psql, that order is
--           yours: docs/schema.md#rollback. Legacy tables (agents, chat_messages, chat_states) and their data
--           are never touched.
-- Drops   : never CASCADE — an object someone else built on v2 (a column of a v2 enum type, a view) makes this
--           fail loudly instead of vanishing silently.
-- Keeps   : the vector extension. `create extension if not exists` may have found it already installed,
--           dropping it would take every vector column in the database with it, and an unused extension
--           costs nothing. Drop it by hand if you know v2 was its only user: drop extension vector;
-- Check   : as the last v2 rollback to run, raises (AJC11) if any v2 table, index, sequence, type or function
--           is still there afterwards (one recreated under another signature, say).
-- History : deletes its own version row from supabase_migrations.schema_migrations where that table exists
--           (not after `psql -f` or another migration tool).
--
-- Hosted Supabase: roll the files back newest first with psql, each in one transaction, then tell the CLI:
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 --single-transaction -f supabase/rollbacks/<version>_<name>.down.sql
--   supabase migration repair --status reverted <version> …
-- (each script already deletes its own row; repair keeps the CLI's view of the remote history in step).

drop function chat_private.archive_v2_tables(text[]);
drop function public.is_valid_message_content(jsonb);
drop function chat_private.is_valid_message_content(jsonb);
drop schema chat_private;

-- The vocabularies.
drop type public.checkpoint_type;
drop type public.state_type;
drop type public.memory_type;
drop type public.session_status;
drop type public.message_role;

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
        'unschedule_maintenance_jobs', 'post_chat_message', 'create_conversation_session',
        'update_conversation_session', 'create_context_snapshot'
      ])
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
