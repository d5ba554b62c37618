-- Rollback of 20250801000000_create_legacy_chat_schema: drops the legacy tables AND THEIR DATA.
-- Only for a development database; on production the legacy tables are moved to an archive schema by
-- finalize_chat_migration(), never dropped by a rollback. Refuses while schema v2 is still installed.
do $$
begin
  if exists (select 1 from supabase_migrations.schema_migrations where version > '20250801000000') then
    raise exception 'newer migrations are still applied'
      using errcode = 'P0001',
            hint = 'Roll back schema v2 first: npm run db:rollback -- --version 20250805074444';
  end if;
end
$$;
drop table if exists public.chat_states;
drop table if exists public.chat_messages;
drop table if exists public.agents;
delete from supabase_migrations.schema_migrations where version = '20250801000000';
