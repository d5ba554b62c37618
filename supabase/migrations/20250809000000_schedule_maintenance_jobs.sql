-- Scheduled maintenance with pg_cron, where the platform has it (hosted Supabase, the native lane).
--
-- Purpose : public.schedule_maintenance_jobs() schedules the retention and decay jobs — decay_agent_memories,
--           sweep_expired_memories, sweep_old_snapshots, prune_state_checkpoints — with cron.schedule under
--           stable job names, so calling it again updates the same four jobs (new times) instead of adding
--           more. public.unschedule_maintenance_jobs() removes them. Without pg_cron in this database both
--           say so in a NOTICE and change nothing (PGlite, a bare Postgres, Supabase before pg_cron is enabled).
--           The migration itself schedules nothing: enable pg_cron, then `select * from schedule_maintenance_jobs();`.
-- Objects : functions public.schedule_maintenance_jobs(text, text, text, text), public.unschedule_maintenance_jobs().
--           Calling them writes pg_cron's own table cron.job; jobs run as the role that scheduled them.
-- Depends : 20250805074447 (the maintenance functions its jobs call), not the data migration: rolling the data
--           migration back leaves it applied; rolling v2 back rolls it back first.
-- Locks   : none beyond creating two functions.
-- Rollback: supabase/rollbacks/20250809000000_schedule_maintenance_jobs.down.sql (unschedules the jobs, then
--           drops the functions); rolling v2 back (npm run db:rollback -- --to 20250805074444) runs it first.
--
-- pg_cron runs jobs only in the database named by the server setting cron.database_name (`postgres` on
-- Supabase), and `create extension pg_cron` succeeds only there.
-- SQLSTATE: AJC04 invalid schedule (with HINT).

/**
 * (Re)schedules the four maintenance jobs in pg_cron and returns them (job name, schedule, command, job id).
 * Schedules are standard cron expressions in UTC; the defaults spread the daily jobs over the small hours and
 * sweep expired memories hourly (at most 10 000 rows per run — sweep_expired_memories' batch). Idempotent:
 * cron.schedule updates a job of the same name and owner. Without pg_cron: NOTICE, no rows, nothing changed.
 * For the database owner (postgres) only: jobs run with the rights of whoever schedules them.
 */
create function public.schedule_maintenance_jobs(
  p_decay_memories text default '17 3 * * *',
  p_sweep_expired_memories text default '7 * * * *',
  p_sweep_old_snapshots text default '27 3 * * *',
  p_prune_checkpoints text default '37 3 * * *'
)
returns table (job_name text, schedule text, command text, jobid bigint)
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_job record;
begin
  if not exists (select 1 from pg_catalog.pg_extension where extname = 'pg_cron') then
    raise notice 'pg_cron is not installed in database %: no maintenance job scheduled', current_database()
      using hint = 'Enable pg_cron (on Supabase: Database → Extensions; elsewhere create extension pg_cron in the '
                   'database named by cron.database_name), then run select * from public.schedule_maintenance_jobs();';
    return;
  end if;
  for v_job in
    select j.name, j.schedule, j.command
    from (values
      ('ajc_decay_agent_memories', p_decay_memories, 'select public.decay_agent_memories()'),
      ('ajc_sweep_expired_memories', p_sweep_expired_memories, 'select public.sweep_expired_memories(10000)'),
      ('ajc_sweep_old_snapshots', p_sweep_old_snapshots, 'select public.sweep_old_snapshots()'),
      ('ajc_prune_state_checkpoints', p_prune_checkpoints, 'select public.prune_state_checkpoints()')
    ) as j (name, schedule, command)
  loop
    begin
      if v_job.schedule is null then
        raise invalid_parameter_value;
      end if;
      jobid := cron.schedule(v_job.name, v_job.schedule, v_job.command);
    exception when invalid_parameter_value then
      -- pg_cron says `invalid schedule: …` (22023); say which job, and what a valid one looks like.
      raise exception 'invalid schedule for %: %', v_job.name, coalesce(quote_literal(v_job.schedule), 'null')
        using errcode = 'AJC04',
              hint = 'Pass a cron expression in UTC such as ''17 3 * * *'' (minute hour day-of-month month day-of-week).';
    end;
    job_name := v_job.name;
    schedule := v_job.schedule;
    command := v_job.command;
    return next;
  end loop;
end
$$;

revoke execute on function public.schedule_maintenance_jobs(text, text, text, text) from public, anon, authenticated, service_role;

/**
 * Removes the four maintenance jobs from pg_cron (those of the calling role, which pg_cron lets it see) and
 * returns how many it removed. Without pg_cron: NOTICE, returns 0.
 */
create function public.unschedule_maintenance_jobs()
returns integer
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_jobid bigint;
  v_count integer := 0;
begin
  if not exists (select 1 from pg_catalog.pg_extension where extname = 'pg_cron') then
    raise notice 'pg_cron is not installed in database %: no maintenance job to unschedule', current_database();
    return 0;
  end if;
  for v_jobid in
    select j.jobid from cron.job j
    where j.jobname in ('ajc_decay_agent_memories', 'ajc_sweep_expired_memories', 'ajc_sweep_old_snapshots',
                        'ajc_prune_state_checkpoints')
      and j.username = current_user
  loop
    perform cron.unschedule(v_jobid);
    v_count := v_count + 1;
  end loop;
  return v_count;
end
$$;

revoke execute on function public.unschedule_maintenance_jobs() from public, anon, authenticated, service_role;
