-- Rollback of 20250805074446_create_agent_tables: drops agent_memories, agent_states, context_snapshots and
-- state_checkpoints AND THEIR DATA (opt-in archive below). Legacy tables are never touched. Everything newer that builds on it is rolled back
-- first (npm run db:rollback -- --to <this version>).
-- Archive : when the setting advanced_json_chat.archive is 'on' (npm run db:rollback -- --archive, or
--           `set local advanced_json_chat.archive = on` in psql), each table is first copied into schema
--           advanced_json_chat_archive by chat_private.archive_v2_tables (20250805074444; an earlier archive of
--           the same table is renamed aside, never overwritten; enum columns are archived as text).
-- Drops   : children before parents, never CASCADE — an object someone else built on these tables (a view, a
--           function returning their row type) makes this fail loudly instead of vanishing silently. Their
--           indexes, policies and privileges go with them.
select chat_private.archive_v2_tables(array['agent_memories', 'agent_states', 'context_snapshots', 'state_checkpoints']);

drop table public.state_checkpoints;
drop table public.context_snapshots;
drop table public.agent_states;
drop table public.agent_memories;

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250805074446';
  end if;
end
$$;
