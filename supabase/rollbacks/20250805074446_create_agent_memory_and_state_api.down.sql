-- Rollback of 20250805074446_create_agent_memory_and_state_api: drops the memory search, state and
-- checkpoint functions only. Tables and data are untouched. Everything newer that builds on it is rolled
-- back first (npm run db:rollback -- --to <this version>).
drop function public.prune_state_checkpoints(uuid, timestamptz);
drop function public.restore_state_checkpoint(uuid);
drop function public.create_state_checkpoint(uuid, text, uuid, text, text, uuid, jsonb, timestamptz, uuid);
drop function public.save_agent_state(uuid, text, jsonb, uuid, integer);
drop function public.record_agent_memory_access(uuid[]);
drop function public.match_agent_memories(uuid, extensions.vector, integer, text[], real);

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250805074446';
  end if;
end
$$;
