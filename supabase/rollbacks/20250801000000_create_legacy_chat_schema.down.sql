-- Rollback of 20250801000000_create_legacy_chat_schema: drops the legacy tables AND THEIR DATA.
-- Only for a development database; on production the legacy tables are moved to an archive schema by
-- finalize_chat_migration(), never dropped by a rollback. Refuses while schema v2 is still installed.
do $$
begin
  -- With a history table, by version; without one (applied with psql -f), by schema v2's first table.
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    if exists (select 1 from supabase_migrations.schema_migrations where version > '20250801000000') then
      raise exception 'newer migrations are still applied'
        using errcode = 'P0001',
              hint = 'Roll back schema v2 first: npm run db:rollback -- --version 20250805074444';
    end if;
  elsif to_regclass('public.conversation_sessions') is not null then
    raise exception 'schema v2 is still installed'
      using errcode = 'P0001',
            hint = 'Run the newer rollbacks first, newest first (supabase/rollbacks/*.down.sql).';
  end if;
end
$$;
drop table if exists public.chat_states;
drop table if exists public.chat_messages;
drop table if exists public.agents;
-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250801000000';
  end if;
end
$$;
