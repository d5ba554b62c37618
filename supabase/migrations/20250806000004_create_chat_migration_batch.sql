-- Data migration legacy (v1) → v2, part 5 of 9: the batch step — the one function every backfill loop calls.
--
-- Purpose : public.migrate_chat_messages_batch() does exactly one batch: keyset on chat_messages.id from the
--           run's checkpoint up to its fixed upper bound, then the end-of-keyset sweep, through the set-based
--           copy. migrate_with_progress, migrate_chat_messages, run_chat_migration and the TypeScript driver
--           all loop over it, so a batch means one thing everywhere: the same checkpoint, the same failure
--           handling (a failing batch marks the run failed, here, whoever called it) and the same ledger rows.
--           After a batch, a loop reads chat_migration.batch_report(): where the run is, rows/s and ETA
--           (computed only in chat_migration.run_progress) and how long to pause before the next batch (the
--           throttle and the adaptive batch size, computed only here).
-- Objects : functions chat_migration.refresh_quarantine_stats, chat_migration.fail_run,
--           public.migrate_chat_messages_batch, chat_migration.run_progress, chat_migration.health,
--           chat_migration.batch_report.
-- Locks   : none when applied. A batch locks its legacy rows `for no key update` and the v2 rows and sessions
--           it writes until its transaction ends; batches are serialized by a transaction-scoped advisory lock.
-- Rollback: supabase/rollbacks/20250806000004_create_chat_migration_batch.down.sql

/**
 * Re-analyzes chat_migration.quarantine once the run has quarantined more than twice the rows the planner last
 * counted there. Why: with statistics from when it was empty, the batch's quarantine lookups degrade to
 * nested-loop scans and batch time grows with every quarantined row (measured on PGlite, which never
 * autovacuums: 5,000-row batches 4 s → 40 s by 40,000 quarantined rows; a real server has the same window
 * between autovacuum runs). Doubling keeps the cost to a few ANALYZEs per run. Security definer because
 * only the table owner may analyze it and service_role runs the backfill; it touches nothing else.
 */
create function chat_migration.refresh_quarantine_stats(quarantined_in_run bigint)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  seen real;
begin
  select c.reltuples into seen from pg_catalog.pg_class c where c.oid = 'chat_migration.quarantine'::pg_catalog.regclass;
  if quarantined_in_run > greatest(seen, 10) * 2 then
    analyze chat_migration.quarantine;
  end if;
end
$$;

revoke all on function chat_migration.refresh_quarantine_stats(bigint) from public;

/** What a failed batch does to its run, in one place: status 'failed' with the error; the checkpoint stays. */
create function chat_migration.fail_run(run_id bigint, message text, sqlstate text)
returns void
language sql
set search_path = ''
as $$
  update chat_migration.runs
     set status = 'failed', last_error = message, last_sqlstate = sqlstate, updated_at = now()
   where id = run_id and status = 'running'
$$;

/**
 * Exactly one batch of the backfill, in the caller's transaction. Returns rows processed (migrated +
 * quarantined); 0 when nothing is left, when the run is paused, or when the batch failed.
 * batch_size null means the migration's default (chat_migration.settings.default_batch_size).
 * Keyset on chat_messages.id up to the run's fixed upper bound; once the keyset is exhausted it sweeps for rows
 * neither migrated nor quarantined (late commits behind the cursor, rows written while mode was 'legacy'),
 * and marks the run completed when the sweep comes back short.
 * A batch that fails is rolled back whole (a subtransaction), the run is marked failed with the error
 * (chat_migration.fail_run), and a WARNING says so; the run resumes from its checkpoint on the next call.
 * Errors before the batch starts — a bad batch_size, another batch holding the lock (55P03), v2_only or a
 * finalized migration — are raised as they are and change nothing.
 */
create function public.migrate_chat_messages_batch(batch_size integer default 1000)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  size integer := coalesce(batch_size, (chat_migration.settings_row()).default_batch_size);
  r chat_migration.runs;
  ids bigint[];
  res record;
  t0 timestamptz := clock_timestamp();
  n integer;
  last_id bigint;
  batch_phase text;
  fresh bigint[];
  mirrored integer := 0;
  err text;
  err_state text;
begin
  if size < 1 then
    raise exception 'batch_size must be a positive integer, got %', batch_size
      using errcode = '22023',
            hint = 'Pass a number of rows, or null for the default (select default_batch_size from chat_migration.settings).';
  end if;
  if not pg_try_advisory_xact_lock(chat_migration.lock_key()) then
    raise exception 'another chat migration batch is running right now'
      using errcode = '55P03',
            hint = 'Two runs never overlap. Watch it with select * from chat_migration_status(); '
                   'stop it with select pause_chat_migration(), or wait and retry.';
  end if;
  perform chat_migration.assert_not_finalized();
  if (select x.mode from chat_migration.mode x) = 'v2_only' then
    -- legacy is read-only and v2 is the source of truth: copying would revert v2 edits
    raise notice 'chat schema mode is v2_only: legacy cannot change, nothing to migrate';
    return 0;
  end if;

  select * into r from chat_migration.runs where name = 'chat_messages' order by id desc limit 1 for update;

  if r.id is null or r.status = 'completed' then
    -- A new run starts where the last completed one stopped; its upper bound is fixed now.
    if r.id is not null
       and not exists (select 1 from public.chat_messages m where m.id > r.upper_bound)
       and not exists (select 1 from public.chat_messages m
                        where not exists (select 1 from public.chat_messages_v2 v where v.legacy_id = m.id)
                          and not exists (select 1 from chat_migration.quarantine q
                                           where q.source_table = 'chat_messages' and q.source_id = m.id::text
                                             and q.resolved_at is null)) then
      return 0;
    end if;
    insert into chat_migration.runs (name, start_cursor, upper_bound, total_rows, checkpoint)
    select 'chat_messages', b.start_cursor, b.upper_bound,
           (select count(*) from public.chat_messages m where m.id > b.start_cursor and m.id <= b.upper_bound),
           jsonb_build_object('cursor', b.start_cursor, 'processedCount', 0, 'successCount', 0, 'errorCount', 0,
                              'lastProcessedId', null)
      from (select coalesce(r.upper_bound, 0) as start_cursor,
                   coalesce((select max(m.id) from public.chat_messages m), 0) as upper_bound) as b
    returning * into r;
  elsif r.status = 'paused' then
    raise notice 'chat migration run % is paused; select resume_chat_migration() to continue', r.id;
    return 0;
  elsif r.status = 'failed' then
    update chat_migration.runs set status = 'running', last_error = null, last_sqlstate = null where id = r.id;
  end if;

  begin
    batch_phase := r.phase;
    if r.phase = 'backfill' then
      select array_agg(s.id order by s.id) into ids
        from (select m.id from public.chat_messages m
               where m.id > (r.checkpoint ->> 'cursor')::bigint and m.id <= r.upper_bound
               order by m.id
               limit size
                 for no key update) as s;
      if ids is null then
        batch_phase := 'sweep';
      end if;
    end if;
    if batch_phase = 'sweep' then
      select array_agg(s.id order by s.id) into ids
        from (select m.id from public.chat_messages m
               where m.id <= r.upper_bound
                 and not exists (select 1 from public.chat_messages_v2 v where v.legacy_id = m.id)
                 and not exists (select 1 from chat_migration.quarantine q
                                  where q.source_table = 'chat_messages' and q.source_id = m.id::text
                                    and q.resolved_at is null)
               order by m.id
               limit size
                 for no key update of m) as s;
    end if;

    n := coalesce(cardinality(ids), 0);
    if n = 0 then
      update chat_migration.runs
         set phase = 'done', status = 'completed', completed_at = now(), updated_at = now()
       where id = r.id;
      return 0;
    end if;

    -- dual_write: a row that already has a live v2 twin was mirrored, and the triggers keep the two in sync.
    -- Copying it again would wait for the v2 row while holding the legacy row — the reverse of a v2 writer, who
    -- holds the v2 row while its mirror waits for the legacy one: a deadlock (40P01, found by
    -- test/races/dual-write-writers.test.ts on PostgreSQL 15). So the backfill only creates missing twins.
    fresh := ids;
    if (select x.mode from chat_migration.mode x) = 'dual_write' then
      select coalesce(array_agg(i order by i) filter (where v.id is null), '{}'), count(v.id)
        into fresh, mirrored
        from unnest(ids) as i
        left join public.chat_messages_v2 v on v.legacy_id = i and v.deleted_at is null;
    end if;
    select * into res from chat_migration.copy_messages_safely(fresh);
    res.migrated := res.migrated + mirrored;
    last_id := ids[n];

    update chat_migration.runs
       set phase = case when batch_phase = 'sweep' and n < size then 'done' else batch_phase end,
           status = case when batch_phase = 'sweep' and n < size then 'completed' else 'running' end,
           completed_at = case when batch_phase = 'sweep' and n < size then now() end,
           batch_count = batch_count + 1,
           updated_at = now(),
           checkpoint = jsonb_build_object(
             'cursor', case when batch_phase = 'backfill' then last_id else (checkpoint ->> 'cursor')::bigint end,
             'processedCount', (checkpoint ->> 'processedCount')::bigint + n,
             'successCount', (checkpoint ->> 'successCount')::bigint + res.migrated,
             'errorCount', (checkpoint ->> 'errorCount')::bigint + res.quarantined,
             'lastProcessedId', last_id)
     where id = r.id
    returning * into r;

    if res.quarantined > 0 then
      perform chat_migration.refresh_quarantine_stats((r.checkpoint ->> 'errorCount')::bigint);
    end if;

    insert into chat_migration.batches
      (run_id, batch_number, phase, batch_size, first_id, last_id, migrated, quarantined, row_by_row, milliseconds)
    values (r.id, r.batch_count, batch_phase, size, ids[1], last_id, res.migrated, res.quarantined, res.row_by_row,
            round(extract(epoch from clock_timestamp() - t0)::numeric * 1000, 3));
    return n;
  exception when others then
    -- everything since `begin` is rolled back; what the run remembers is the failure
    get stacked diagnostics err = message_text, err_state = returned_sqlstate;
    perform chat_migration.fail_run(r.id, err, err_state);
    raise warning 'chat migration batch failed: % (SQLSTATE %)', err, err_state
      using hint = 'The run is marked failed and its checkpoint is safe; fix the cause, then run the backfill '
                   'again (it resumes from the last committed batch).';
    return 0;
  end;
end
$$;

/**
 * Where a run stands and how fast it goes — the one place rows/s and ETA are computed (chat_migration_status(),
 * the per-batch NOTICE, batch_report() and so the CLI all read it). Rows/s: rows of the run's last 20 batches
 * over their time including the pauses the run was told to take, so a throttled run's ETA is honest.
 */
create function chat_migration.run_progress(r chat_migration.runs, out processed bigint, out migrated bigint,
                                            out quarantined bigint, out remaining bigint, out percent numeric,
                                            out rows_per_second numeric, out eta_seconds numeric)
language sql
stable
set search_path = ''
as $$
  select p.processed, p.migrated, p.quarantined, p.remaining,
         case when r.status = 'completed' or r.total_rows = 0 then 100
              else least(100, round(100.0 * p.processed / r.total_rows, 2)) end,
         round(rate.v, 1),
         case when p.remaining = 0 then 0 when rate.v > 0 then round(p.remaining / rate.v, 1) end
    from (select (r.checkpoint ->> 'processedCount')::bigint as processed,
                 (r.checkpoint ->> 'successCount')::bigint as migrated,
                 (r.checkpoint ->> 'errorCount')::bigint as quarantined,
                 case when r.status = 'completed' then 0
                      else greatest(r.total_rows - (r.checkpoint ->> 'processedCount')::bigint, 0) end as remaining) as p,
         lateral (select sum(b.migrated + b.quarantined) / nullif(sum(b.milliseconds + b.pause_ms), 0) * 1000 as v
                    from (select * from chat_migration.batches b where b.run_id = r.id
                           order by b.batch_number desc limit 20) as b) as rate
$$;

/**
 * Database health as the throttle sees it, read in the batch's own transaction (so before its locks go):
 * lock_waiters — sessions waiting for a lock this session holds (a writer queued behind the batch);
 * vacuum_backlog — the worst of the migration's tables with at least 100,000 dead tuples, dead tuples as a
 * multiple of the point where autovacuum should start on it (autovacuum_vacuum_threshold + scale_factor × live
 * tuples; 1 = due now, 4 = well behind);
 * replica_lag_ms — the largest replay lag of a streaming replica (null without replicas).
 * Security definer: pg_stat_replication's lag columns are for pg_read_all_stats only.
 */
create function chat_migration.health(out lock_waiters integer, out vacuum_backlog real, out replica_lag_ms real)
language sql
stable
security definer
set search_path = ''
as $$
  select (select count(*)::integer from pg_catalog.pg_stat_activity a
           where a.pid <> pg_catalog.pg_backend_pid()
             and pg_catalog.pg_backend_pid() = any (pg_catalog.pg_blocking_pids(a.pid))),
         (select max(t.n_dead_tup / (current_setting('autovacuum_vacuum_threshold')::real
                                     + current_setting('autovacuum_vacuum_scale_factor')::real
                                       * greatest(t.n_live_tup, 0)))::real
            from pg_catalog.pg_stat_user_tables t
           where t.relid = any (array[to_regclass('public.chat_messages'), to_regclass('public.chat_messages_v2'),
                                      to_regclass('public.conversation_sessions'),
                                      to_regclass('public.chat_message_attachments'),
                                      to_regclass('public.chat_tool_calls')]::oid[])
             -- a small table's dead tuples cost nothing yet (conversation_sessions, whose metrics every batch
             -- updates, is 4× over its trigger point within a minute on a busy server and autovacuum visits it
             -- once per naptime): only a backlog big enough to bloat counts
             and t.n_dead_tup >= 100000),
         (select max(extract(epoch from r.replay_lag) * 1000)::real from pg_catalog.pg_stat_replication r)
$$;

/**
 * What a loop reads after each call of migrate_chat_messages_batch(), in the same transaction: the run (status,
 * phase, last error), its latest batch, its progress (run_progress), and what to do next:
 * - next_batch_size / size_reason — with adaptive (the loop was given no batch size), the adaptive batch size
 *   (GitLab's batched background migrations): after a full batch, the next is target_batch_ms over the time per
 *   row of the run's last three batches, as a factor of the size clamped to 0.5..1.5 and left alone within ±10 % (no
 *   flapping), bounded by min_/max_batch_size; a session waiting for the batch's locks halves it. Without adaptive (an explicit
 *   size) or with a null target_batch_ms the size stays what the caller gave.
 * - pause_seconds / pause_reason — the throttle. With max_rows_per_second set, a batch of n rows that took t
 *   seconds is followed by a pause of n / max_rows_per_second - t. When the database is unwell
 *   (chat_migration.health: a session waits for this batch's locks, autovacuum is behind on a migration table,
 *   or a replica lags), the pause is at least settings.health_pause_ms and the next batch half the size.
 * Both are recorded on the batch (batches.pause_ms, next_batch_size, size_reason, pause_reason), so rows/s and
 * ETA include the pauses and the CLI and psql show the same thing.
 */
create function chat_migration.batch_report(max_rows_per_second integer default null, adaptive boolean default false)
returns table (run_id bigint, status text, phase text, last_error text, last_sqlstate text, total_rows bigint,
               batch_number integer, batch_size integer, batch_rows integer, batch_ms numeric, processed bigint,
               migrated bigint, quarantined bigint, remaining bigint, percent numeric, rows_per_second numeric,
               eta_seconds numeric, pause_seconds double precision, next_batch_size integer, size_reason text,
               pause_reason text)
language plpgsql
set search_path = ''
as $$
declare
  r chat_migration.runs := chat_migration.latest_run();
  b chat_migration.batches;
  cfg chat_migration.settings := chat_migration.settings_row();
  h record;
  pause double precision := 0;
  why_pause text;
  next_size integer;
  why_size text;
  factor double precision;
  per_row_ms double precision;
begin
  if r.id is null then
    return;
  end if;
  select * into b from chat_migration.batches x where x.run_id = r.id order by x.batch_number desc limit 1;
  if b.id is not null and r.status = 'running' and b.next_batch_size is null then
    next_size := b.batch_size;
    if max_rows_per_second > 0 then
      pause := greatest((b.migrated + b.quarantined)::double precision / max_rows_per_second - b.milliseconds / 1000.0, 0);
      if pause > 0 then
        why_pause := format('rate limit %s rows/s', max_rows_per_second);
      end if;
    end if;
    if adaptive and cfg.target_batch_ms is not null and b.migrated + b.quarantined >= b.batch_size then
      -- time per row over the run's last three batches, so one slow or fast batch does not swing the size
      select sum(x.milliseconds) / nullif(sum(x.migrated + x.quarantined), 0) into per_row_ms
        from (select * from chat_migration.batches x where x.run_id = r.id
               order by x.batch_number desc limit 3) as x;
      factor := least(greatest(cfg.target_batch_ms / greatest(per_row_ms * b.batch_size, 1), 0.5), 1.5);
      if abs(factor - 1) >= 0.1 then
        next_size := least(greatest(round(b.batch_size * factor)::integer, cfg.min_batch_size), cfg.max_batch_size);
        if next_size <> b.batch_size then
          why_size := format('batches took %s ms per 1000 rows, target %s ms a batch', round((per_row_ms * 1000)::numeric),
                             cfg.target_batch_ms);
        end if;
      end if;
    end if;
    select * into h from chat_migration.health();
    if h.lock_waiters > cfg.max_lock_waiters then
      why_pause := format('%s session(s) waited for the batch''s locks', h.lock_waiters);
    elsif h.vacuum_backlog > cfg.max_vacuum_backlog then
      why_pause := format('autovacuum backlog %s× its trigger point', round(h.vacuum_backlog::numeric, 1));
    elsif h.replica_lag_ms > cfg.max_replica_lag_ms then
      why_pause := format('replica lag %s ms', round(h.replica_lag_ms::numeric));
    end if;
    if why_pause is not null and why_pause not like 'rate limit%' then
      pause := greatest(pause, cfg.health_pause_ms / 1000.0);
      -- a smaller batch holds its locks for less time; it makes no fewer dead tuples and no less WAL per row
      if adaptive and h.lock_waiters > cfg.max_lock_waiters then
        next_size := greatest(least(next_size, b.batch_size / 2), cfg.min_batch_size);
        why_size := 'halved: ' || why_pause;
      end if;
    end if;
    update chat_migration.batches x
       set pause_ms = round((pause * 1000)::numeric, 3), next_batch_size = next_size, size_reason = why_size,
           pause_reason = why_pause
     where x.id = b.id
    returning * into b;
  end if;
  return query
  select r.id, r.status, r.phase, r.last_error, r.last_sqlstate, r.total_rows, b.batch_number, b.batch_size,
         b.migrated + b.quarantined, b.milliseconds, p.processed, p.migrated, p.quarantined, p.remaining, p.percent,
         p.rows_per_second, p.eta_seconds, coalesce(b.pause_ms / 1000.0, 0)::double precision,
         coalesce(b.next_batch_size, b.batch_size), b.size_reason, b.pause_reason
    from chat_migration.run_progress(chat_migration.latest_run()) p;
end
$$;

-- Not for the API roles: the functions of this file are postgres' and service_role's only.
revoke execute on function chat_migration.refresh_quarantine_stats(bigint) from public, anon, authenticated;
revoke execute on function chat_migration.fail_run(bigint, text, text) from public, anon, authenticated;
revoke execute on function chat_migration.run_progress(chat_migration.runs) from public, anon, authenticated;
revoke execute on function chat_migration.batch_report(integer, boolean) from public, anon, authenticated;
revoke execute on function chat_migration.health() from public, anon, authenticated;
grant execute on function chat_migration.health() to service_role;
grant execute on function chat_migration.refresh_quarantine_stats(bigint) to service_role;
grant execute on function chat_migration.fail_run(bigint, text, text) to service_role;
grant execute on function chat_migration.run_progress(chat_migration.runs) to service_role;
grant execute on function chat_migration.batch_report(integer, boolean) to service_role;
revoke execute on function public.migrate_chat_messages_batch(integer) from public, anon, authenticated;
grant execute on function public.migrate_chat_messages_batch(integer) to service_role;
