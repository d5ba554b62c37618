-- Rollback of 20250806000006_create_chat_dual_write: drops the mirror and fence triggers (whatever the mode had
-- enabled) and their functions, and the session-claim guard on conversation_sessions. Legacy and v2 rows stay as
-- they are. The legacy tables are in public: the modes rollback (20250806000008), which runs first, refuses
-- after a finalize.

drop trigger chat_migration_mirror_insert on public.chat_messages;
drop trigger chat_migration_mirror_update on public.chat_messages;
drop trigger chat_migration_mirror_delete on public.chat_messages;
drop trigger chat_migration_reject_writes on public.chat_messages;
drop trigger chat_migration_reject_writes on public.chat_states;
drop trigger chat_migration_mirror_insert on public.chat_messages_v2;
drop trigger chat_migration_mirror_update on public.chat_messages_v2;
drop trigger chat_migration_mirror_delete on public.chat_messages_v2;
drop trigger chat_migration_stamp_v2_only_edit on public.chat_messages_v2;
drop trigger chat_migration_mirror_children on public.chat_message_attachments;
drop trigger chat_migration_mirror_children on public.chat_tool_calls;
drop trigger chat_migration_guard_session_claim on public.conversation_sessions;

drop function chat_migration.stamp_v2_only_edit();
drop function chat_migration.guard_session_claim();
drop function chat_migration.reject_legacy_write();
drop function chat_migration.mirror_v2_children();
drop function chat_migration.mirror_v2_delete();
drop function chat_migration.mirror_v2_update();
drop function chat_migration.mirror_v2_insert();
drop function chat_migration.legacy_arrays(uuid);
drop function chat_migration.mirror_legacy_delete();
drop function chat_migration.mirror_legacy_upsert();
drop function chat_migration.mirroring();

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250806000006';
  end if;
end
$$;
