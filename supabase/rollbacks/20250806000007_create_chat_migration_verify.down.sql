-- Rollback of 20250806000007_create_chat_migration_verify: drops verify_chat_migration(). Reads nothing, writes
-- nothing else.

drop function public.verify_chat_migration();

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250806000007';
  end if;
end
$$;
