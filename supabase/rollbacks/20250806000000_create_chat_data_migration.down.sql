-- Rollback of 20250806000000_create_chat_data_migration: removes the data-migration machinery — the ledger and
-- quarantine (schema chat_migration), the mode triggers on the legacy and v2 tables, the session-claim guard on
-- conversation_sessions and the public API functions — and its version row. It never touches message data:
-- legacy and v2 rows stay as they are.
-- When the migration had been finalized, the legacy tables are first moved back from chat_archive to public.
-- Before rolling back from dual_write or v2_only, switch to 'legacy' if you want legacy complete:
--   select set_chat_schema_mode('dual_write');  -- from v2_only: copies to legacy what v2 gained
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
