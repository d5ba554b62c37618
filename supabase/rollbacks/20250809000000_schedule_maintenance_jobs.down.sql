-- Rollback of 20250809000000_schedule_maintenance_jobs: unschedules the four maintenance jobs (those of the
-- role running the rollback, where pg_cron is installed), then drops the two functions. pg_cron itself, and
-- every other job, stay. Maintenance can still be run by hand: select public.decay_agent_memories(); …
do $$
declare
  v_jobid bigint;
begin
  if exists (select 1 from pg_catalog.pg_extension where extname = 'pg_cron') then
    for v_jobid in
      select j.jobid from cron.job j
      where j.jobname in ('ajc_decay_agent_memories', 'ajc_sweep_expired_memories', 'ajc_sweep_old_snapshots',
                          'ajc_prune_state_checkpoints')
        and j.username = current_user
    loop
      perform cron.unschedule(v_jobid);
    end loop;
  end if;
end
$$;

drop function if exists public.unschedule_maintenance_jobs();
drop function if exists public.schedule_maintenance_jobs(text, text, text, text);

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250809000000';
  end if;
end
$$;
