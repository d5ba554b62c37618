-- Rollback of 20250805074447_create_maintenance_functions: drops the maintenance, health and integrity
-- functions only. Tables and data are untouched. Everything newer that builds on it is rolled
-- back first (npm run db:rollback -- --to <this version>).
drop function public.replica_lag();
drop function public.check_chat_schema_integrity();
drop function public.chat_schema_index_usage();
drop function public.chat_schema_table_sizes();
drop function public.recompute_session_metrics(uuid);
drop function public.rebuild_agent_memory_index();
drop function public.sweep_old_snapshots(interval, integer);
drop function public.sweep_expired_memories(integer);
drop function public.decay_agent_memories(uuid);

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250805074447';
  end if;
end
$$;
