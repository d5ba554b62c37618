-- Rollback of 20250806000005_create_chat_migration_api: drops the DBA's entry points around the batch step
-- (migrate_with_progress, migrate_chat_messages, run_chat_migration, status, pause / resume, quarantine list and
-- retry, repair). The ledger keeps every run and batch.

drop function public.repair_chat_migration(integer);
drop function public.retry_chat_migration_quarantine();
drop function public.list_chat_migration_quarantine(integer);
drop function public.resume_chat_migration();
drop function public.pause_chat_migration();
drop function public.chat_migration_status();
drop procedure public.run_chat_migration(integer, integer);
drop function public.migrate_chat_messages();
drop function public.migrate_with_progress(integer);
drop function chat_migration.progress_notice(integer);

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250806000005';
  end if;
end
$$;
