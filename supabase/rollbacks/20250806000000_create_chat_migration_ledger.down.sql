-- Rollback of 20250806000000_create_chat_migration_ledger: drops the ledger — runs, batches, mode, mode changes,
-- quarantine, settings — and schema chat_migration, so a re-applied migration starts clean. Message data is never
-- touched: legacy and v2 rows stay as they are. The later data-migration files (20250806000001..08) must be
-- rolled back first; `drop schema` without cascade refuses while anything of theirs is left.

drop function chat_migration.assert_not_finalized();
drop function chat_migration.latest_run();
drop function chat_migration.settings_row();
drop function chat_migration.lock_key();
drop table chat_migration.quarantine;
drop table chat_migration.mode_changes;
drop table chat_migration.mode;
drop table chat_migration.batches;
drop table chat_migration.runs;
drop table chat_migration.settings;
drop schema chat_migration;

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250806000000';
  end if;
end
$$;
