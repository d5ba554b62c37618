-- Rollback of 20250806000004_create_chat_migration_batch: drops the batch step and what reads after it. The
-- ledger keeps every run and batch.

drop function chat_migration.batch_report(integer, boolean);
drop function chat_migration.health();
drop function chat_migration.run_progress(chat_migration.runs);
drop function public.migrate_chat_messages_batch(integer);
drop function chat_migration.fail_run(bigint, text, text);
drop function chat_migration.refresh_quarantine_stats(bigint);

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250806000004';
  end if;
end
$$;
