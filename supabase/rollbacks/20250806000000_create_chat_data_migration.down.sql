-- Rollback of 20250806000000_create_chat_data_migration: removes the data-migration machinery — the ledger and
-- quarantine (schema chat_migration), the mode triggers on the legacy and v2 tables, the session-claim guard on
-- conversation_sessions and the public API functions — and its version row. It never touches message data:
-- legacy and v2 rows stay as they are.
-- It refuses, with a HINT, where removing it (and later v2: npm run db:rollback -- --to 20250805074444 rolls
-- this file back first) would lose messages:
--   * in v2_only (also after a finalize): legacy misses what v2 gained since the switch —
--     select set_chat_schema_mode('dual_write'); first copies it to legacy (and moves archived tables back);
--   * while v2 holds live messages that legacy lacks (rows written to v2 while nothing mirrored them). History
--     imported from chat_states is the exception: it came from legacy chat_states, which keeps it. In
--     dual_write every v2 write already has its legacy twin.
do $$
declare
  v_lacking bigint;
begin
  if exists (select 1 from chat_migration.mode where mode = 'v2_only' or finalized_at is not null) then
    raise exception 'cannot roll back the chat data migration while the chat schema mode is v2_only: legacy misses what v2 gained since'
      using errcode = '55000',
            hint = 'Run select set_chat_schema_mode(''dual_write''); first (it copies to legacy the v2 rows legacy '
                   'lacks and un-archives a finalized migration), then roll back again.';
  end if;
  select count(*) into v_lacking
    from public.chat_messages_v2 v
   where v.deleted_at is null
     and coalesce(v.metadata ->> 'source', '') <> 'chat_states'
     and (v.legacy_id is null
          or not exists (select 1 from public.chat_messages l where l.id = v.legacy_id));
  if v_lacking > 0 then
    raise exception 'cannot roll back the chat data migration: % v2 message(s) have no legacy row and would be lost', v_lacking
      using errcode = '55000',
            hint = 'Copy them to legacy first: select set_chat_schema_mode(''dual_write''); from v2_only, or export '
                   'them. Find them with: select * from chat_messages_v2 where deleted_at is null and legacy_id is null.';
  end if;
end
$$;

do $$
begin
  if to_regclass('chat_archive.chat_messages') is not null and to_regclass('public.chat_messages') is null then
    alter table chat_archive.chat_messages set schema public;
  end if;
  if to_regclass('chat_archive.chat_states') is not null and to_regclass('public.chat_states') is null then
    alter table chat_archive.chat_states set schema public;
  end if;
  if to_regclass('public.chat_messages') is not null then
    drop trigger if exists chat_migration_mirror_insert on public.chat_messages;
    drop trigger if exists chat_migration_mirror_update on public.chat_messages;
    drop trigger if exists chat_migration_mirror_delete on public.chat_messages;
    drop trigger if exists chat_migration_reject_writes on public.chat_messages;
  end if;
  if to_regclass('public.chat_states') is not null then
    drop trigger if exists chat_migration_reject_writes on public.chat_states;
  end if;
  if to_regclass('public.chat_messages_v2') is not null then
    drop trigger if exists chat_migration_mirror_insert on public.chat_messages_v2;
    drop trigger if exists chat_migration_mirror_update on public.chat_messages_v2;
    drop trigger if exists chat_migration_mirror_delete on public.chat_messages_v2;
    drop trigger if exists chat_migration_stamp_v2_only_edit on public.chat_messages_v2;
  end if;
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
