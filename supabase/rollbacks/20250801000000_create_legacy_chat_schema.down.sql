-- Rollback of 20250801000000_create_legacy_chat_schema: drops the legacy tables AND THEIR DATA.
-- Only for a development database; on production the legacy tables are moved to an archive schema by
-- finalize_chat_migration(), never dropped by a rollback. Refuses while schema v2's first table exists — the
-- runner rolls every newer file back first; by hand with psql (where there may be no history table to go by),
-- this check is what stops a rollback out of order.
do $$
begin
  if to_regclass('public.conversation_sessions') is not null then
    raise exception 'schema v2 is still installed'
      using errcode = 'P0001',
            hint = 'Run the newer rollbacks first, newest first (supabase/rollbacks/*.down.sql), or: npm run db:rollback -- --to 20250801000000';
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
