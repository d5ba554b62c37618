-- Rollback of 20250805074447_create_maintenance_functions: drops the maintenance, health and integrity
-- functions only. Tables and data are untouched. To undo the whole of schema v2 at once use
-- 20250805074444_create_advanced_json_chat_schema.down.sql (it undoes 20250805074444..49).
-- Refuse while anything newer is applied: those files may build on what this one drops.
do $$
declare
  v_newer text[];
begin
  -- The history table exists only where the Supabase CLI or our runner applied the migrations.
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    select array_agg(m.version order by m.version) into v_newer
    from supabase_migrations.schema_migrations m
    where m.version > '20250805074447';
  end if;
  if v_newer is not null then
    raise exception 'migrations newer than 20250805074447 are still applied: %', array_to_string(v_newer, ', ')
      using errcode = 'AJC10',
            hint = 'Roll those back first, newest first: npm run db:rollback (repeat), or --version <version>.';
  end if;
end
$$;

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
