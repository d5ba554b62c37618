-- Rollback of 20250806000002_create_chat_migration_copy: drops the set-based copy and its fallback.

drop function chat_migration.copy_messages_safely(bigint[]);
drop function chat_migration.copy_messages(bigint[]);

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250806000002';
  end if;
end
$$;
