-- Rollback of 20250806000008_create_chat_schema_modes: drops set_chat_schema_mode, finalize_chat_migration and
-- their helpers, and schema chat_archive when it is empty. It is the first step of removing the data migration
-- (npm run db:rollback -- --to 20250806000000 goes on with 07, 06, … 00), so it refuses, with a HINT:
--   * in v2_only (also after a finalize): legacy misses what v2 gained since the switch —
--     select set_chat_schema_mode('dual_write'); first copies it to legacy (and moves archived tables back);
--   * while v2 holds live messages that legacy lacks (rows written to v2 while nothing mirrored them): removing
--     the migration, and later v2, would lose them. History imported from chat_states is the exception: it came
--     from legacy chat_states, which keeps it. In dual_write every v2 write already has its legacy twin.
-- The mode triggers stay as the mode left them until 20250806000006's rollback drops them.
do $$
declare
  v_lacking bigint;
begin
  if exists (select 1 from chat_migration.mode where mode = 'v2_only' or finalized_at is not null) then
    raise exception 'cannot roll back the chat data migration while the chat schema mode is v2_only: legacy misses what v2 gained since'
      using errcode = '55000',
            hint = 'Run select set_chat_schema_mode(''dual_write''); first (it copies to legacy the v2 rows legacy '
                   'lacks and un-archives a finalized migration), then roll back again.';
  end if;
  select count(*) into v_lacking
    from public.chat_messages_v2 v
   where v.deleted_at is null
     and coalesce(v.metadata ->> 'source', '') <> 'chat_states'
     and (v.legacy_id is null
          or not exists (select 1 from public.chat_messages l where l.id = v.legacy_id));
  if v_lacking > 0 then
    raise exception 'cannot roll back the chat data migration: % v2 message(s) have no legacy row and would be lost', v_lacking
      using errcode = '55000',
            hint = 'Copy them to legacy first: select set_chat_schema_mode(''dual_write''); from v2_only, or export '
                   'them. Find them with: select * from chat_messages_v2 where deleted_at is null and legacy_id is null.';
  end if;
end
$$;

drop function public.finalize_chat_migration();
drop function public.set_chat_schema_mode(text);
drop function chat_migration.copy_v2_to_legacy();
drop function chat_migration.lock_chat_tables(interval);
drop function chat_migration.apply_mode_triggers(text);
drop schema if exists chat_archive;

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250806000008';
  end if;
end
$$;
