-- Rollback of 20250805074454_create_session_write_api: drops the write API for sessions and context snapshots
-- (create_/update_conversation_session, create_context_snapshot). Tables and data are untouched; the edge
-- functions need these functions, so roll them back (or redeploy the previous ones) with it. Everything newer that builds on it is rolled back
-- first (npm run db:rollback -- --to <this version>).
drop function public.create_context_snapshot(uuid, uuid, uuid[], integer, uuid[], jsonb, integer, integer, jsonb);
drop function public.update_conversation_session(uuid, jsonb);
drop function public.create_conversation_session(uuid, uuid, text, public.session_status, jsonb, jsonb, uuid);

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250805074454';
  end if;
end
$$;
