-- Rollback of 20250805074448_create_agent_state_triggers: drops the triggers of the agent tables (append-only
-- agent_states, checkpoint checks, agent_memories.updated_at) and their functions. Tables and data are
-- untouched; while it is rolled back a plain INSERT into agent_states is not versioned, so roll the tables back
-- too (20250805074446) or re-apply soon. Everything newer that builds on it is rolled back
-- first (npm run db:rollback -- --to <this version>).
drop trigger agent_memories_set_updated_at on public.agent_memories;
drop trigger agent_states_before_insert on public.agent_states;
drop trigger agent_states_before_update on public.agent_states;
drop trigger state_checkpoints_before_write on public.state_checkpoints;

drop function public.state_checkpoints_before_write();
drop function public.agent_states_before_update();
drop function public.agent_states_before_insert();
drop function public.agent_state_stream_lock_key(uuid, uuid, text, uuid);

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250805074448';
  end if;
end
$$;
