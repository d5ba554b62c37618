-- Rollback of 20250806000001_create_chat_migration_mapping: drops the mapping and tenancy functions.

drop function chat_migration.conversation_owner(uuid);
drop function chat_migration.legacy_conversation_owner(uuid);
drop function chat_migration.legacy_tool_calls_norm(jsonb, jsonb);
drop function chat_migration.legacy_attachments_norm(jsonb);
drop function chat_migration.v2_metadata(jsonb, text);
drop function chat_migration.content_text(jsonb);
drop function chat_migration.message_problem(text, jsonb, jsonb, jsonb, jsonb);
drop function chat_migration.message_problem_detail(text, jsonb, jsonb, jsonb, jsonb);
drop function chat_migration.json_int(jsonb);
drop function chat_migration.parse_args(jsonb);
drop function chat_migration.try_jsonb(text);
drop function chat_migration.map_role(text);

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250806000001';
  end if;
end
$$;
