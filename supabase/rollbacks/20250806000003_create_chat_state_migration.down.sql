-- Rollback of 20250806000003_create_chat_state_migration: drops migrate_chat_states() and its helpers, and the
-- record of which chat_states rows were migrated (so a re-applied migration migrates them again: roll back the
-- agent states, memories and history it created with v2, or expect them twice). v2 rows stay as they are.

drop function public.migrate_chat_states();
drop function chat_migration.state_problem(jsonb);
drop function chat_migration.try_timestamptz(jsonb);
drop table chat_migration.migrated_states;

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250806000003';
  end if;
end
$$;
