-- Data migration legacy (v1) → v2, part 6 of 9: the DBA's API around the batch step.
--
-- Purpose : the documented entry points — migrate_with_progress (the seed's signature, for psql),
--           migrate_chat_messages, the committing procedure run_chat_migration, chat_migration_status, pause and
--           resume, the quarantine list and retry, and repair. Every loop here calls
--           migrate_chat_messages_batch() and reads chat_migration.batch_report() after it: one step, one
--           throttle, one failure meaning, one source of rows/s and ETA.
-- Objects : functions chat_migration.progress_notice, public.migrate_with_progress, public.migrate_chat_messages,
--           public.chat_migration_status, public.pause_chat_migration, public.resume_chat_migration,
--           public.list_chat_migration_quarantine, public.retry_chat_migration_quarantine,
--           public.repair_chat_migration; procedure public.run_chat_migration.
-- Locks   : none when applied (functions only).
-- Rollback: supabase/rollbacks/20250806000005_create_chat_migration_api.down.sql

/** One progress line per batch for psql users: rows, percent, rows/s and ETA (chat_migration.run_progress). */
create function chat_migration.progress_notice(n integer)
returns void
language plpgsql
set search_path = ''
as $$
declare
  r chat_migration.runs := chat_migration.latest_run();
  p record;
begin
  select * into p from chat_migration.run_progress(r);
  raise notice 'chat migration: batch % — % rows (% migrated, % quarantined in total) — %/% (% %%) — % rows/s — ETA %',
    r.batch_count, n, p.migrated, p.quarantined, p.processed, r.total_rows, p.percent,
    coalesce(round(p.rows_per_second)::text, '?'),
    coalesce((make_interval(secs => round(p.eta_seconds)))::text, '?');
end
$$;

/**
 * The seed's signature, online-safe: a function cannot COMMIT, so everything one call does is one transaction
 * and its row locks are held until the call returns. So a call runs batches only until it has run
 * chat_migration.settings.call_budget_ms (1 s; at least one batch), or sooner when a session queues behind its
 * locks, then returns — one result row and one NOTICE per batch — and the next call resumes from the stored
 * checkpoint. A call that returns no row means nothing is left (or the run is paused or failed: see
 * chat_migration_status()). In psql: `select * from migrate_with_progress(1000) \watch 0.1` until it returns
 * no rows. batch_size null: batches of the adaptive size (chat_migration.batch_report), starting at
 * settings.default_batch_size; a number: exactly that size.
 * A failing batch ends the call (the run is marked failed, the batch's WARNING says why; earlier batches of the
 * call stand).
 */
create function public.migrate_with_progress(batch_size integer default 1000)
returns table (batch_number integer, records_migrated integer, total_migrated integer)
language plpgsql
set search_path = ''
as $$
declare
  n integer;
  rep record;
  size integer := batch_size;
  adaptive boolean := batch_size is null;
  t0 timestamptz := clock_timestamp();
  budget interval := make_interval(secs => (chat_migration.settings_row()).call_budget_ms / 1000.0);
begin
  if adaptive then
    -- a \watch loop: each call goes on with the size the previous call's last batch arrived at
    select b.next_batch_size into size
      from chat_migration.batches b
     where b.run_id = (chat_migration.latest_run()).id and (chat_migration.latest_run()).status = 'running'
     order by b.batch_number desc limit 1;
  end if;
  loop
    n := public.migrate_chat_messages_batch(size);
    exit when n = 0;
    select * into rep from chat_migration.batch_report(null, adaptive);
    perform chat_migration.progress_notice(n);
    batch_number := rep.batch_number;
    records_migrated := (select b.migrated from chat_migration.batches b
                          where b.run_id = rep.run_id and b.batch_number = rep.batch_number);
    total_migrated := rep.migrated;
    return next;
    -- return while the locks taken so far are one budget old, or someone already waits for them
    exit when clock_timestamp() - t0 >= budget or rep.pause_reason is not null;
    size := rep.next_batch_size;
  end loop;
end
$$;

/**
 * Migrates what is left (in the caller's transaction) in batches of chat_migration.settings.default_batch_size;
 * returns the rows migrated (quarantined rows not counted). A failing batch ends the call (run marked failed).
 */
create function public.migrate_chat_messages()
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  total bigint := 0;
  n integer;
  rep record;
begin
  loop
    n := public.migrate_chat_messages_batch(null);
    exit when n = 0;
    select * into rep from chat_migration.batch_report();
    total := total + (select b.migrated from chat_migration.batches b
                       where b.run_id = rep.run_id and b.batch_number = rep.batch_number);
  end loop;
  return total;
end
$$;

/**
 * The DBA's backfill: one transaction per batch (COMMIT after each), honours pause_chat_migration() between
 * batches; batch_size null gives batches of the adaptive size (starting at settings.default_batch_size), a
 * number exactly that size; it pauses on max_rows_per_second and on database health
 * (chat_migration.batch_report; a NOTICE says when and why, and the new size). A failing batch — the run is then marked
 * failed by the batch itself — stops it with an error carrying the batch's SQLSTATE. Must be CALLed outside an
 * explicit transaction block. No `set search_path` clause: a procedure with a SET clause cannot COMMIT; every
 * name below is schema-qualified instead.
 */
create procedure public.run_chat_migration(batch_size integer default 5000, max_rows_per_second integer default null)
language plpgsql
as $$
declare
  n integer;
  rep record;
  err text;
  err_state text;
  err_hint text;
  adaptive boolean := batch_size is null;
begin
  loop
    begin
      n := public.migrate_chat_messages_batch(batch_size);
    exception when others then
      -- refused before any batch ran (another run holds the lock, a bad batch size, a finalized migration):
      -- nothing to mark, the run (if any) is fine
      get stacked diagnostics err = message_text, err_state = returned_sqlstate, err_hint = pg_exception_hint;
      raise exception 'chat migration stopped: %', err
        using errcode = err_state,
              hint = coalesce(nullif(err_hint, ''), 'The checkpoint is safe; fix the cause and call run_chat_migration() again.');
    end;
    select * into rep from chat_migration.batch_report(max_rows_per_second, adaptive);
    if rep.size_reason is not null or rep.pause_reason is not null then
      raise notice 'chat migration: next batch % rows%', rep.next_batch_size,
        concat_ws('', ' (' || rep.size_reason || ')', ', pausing ' || round(rep.pause_seconds::numeric, 1) || ' s: ' || rep.pause_reason);
    end if;
    if adaptive then
      batch_size := rep.next_batch_size;
    end if;
    if rep.status = 'failed' then
      commit;
      raise exception 'chat migration stopped: %', rep.last_error
        using errcode = coalesce(rep.last_sqlstate, 'P0001'),
              hint = 'The checkpoint is safe; fix the cause and call run_chat_migration() again.';
    end if;
    if n > 0 then
      perform chat_migration.progress_notice(n);
    end if;
    commit;
    exit when n = 0;
    if rep.pause_seconds > 0 then
      perform pg_sleep(rep.pause_seconds);
    end if;
  end loop;
end
$$;

/** One row describing the latest run (or the pending one), for psql, the CLI and dashboards. */
create function public.chat_migration_status()
returns table (
  name text, phase text, status text, mode text, total_legacy bigint, processed bigint, migrated bigint,
  quarantined bigint, remaining bigint, percent numeric, cursor bigint, upper_bound bigint,
  started_at timestamptz, updated_at timestamptz, completed_at timestamptz, last_error text,
  rows_per_second numeric, eta_seconds numeric)
language plpgsql
stable
set search_path = ''
as $$
declare
  r chat_migration.runs := chat_migration.latest_run();
  m text := (select x.mode from chat_migration.mode x);
  p record;
begin
  if r.id is null then
    name := 'chat_messages'; phase := 'backfill'; status := 'pending'; mode := m;
    total_legacy := case when to_regclass('public.chat_messages') is not null
                         then (select count(*) from public.chat_messages) else 0 end;
    processed := 0; migrated := 0; quarantined := 0; remaining := total_legacy;
    percent := case when total_legacy = 0 then 100 else 0 end; cursor := 0; upper_bound := null;
    return next;
    return;
  end if;
  select * into p from chat_migration.run_progress(r);
  name := r.name; phase := r.phase; status := r.status; mode := m;
  total_legacy := r.total_rows;
  processed := p.processed; migrated := p.migrated; quarantined := p.quarantined; remaining := p.remaining;
  percent := p.percent;
  cursor := (r.checkpoint ->> 'cursor')::bigint;
  upper_bound := r.upper_bound;
  started_at := r.started_at; updated_at := r.updated_at; completed_at := r.completed_at; last_error := r.last_error;
  rows_per_second := p.rows_per_second;
  eta_seconds := p.eta_seconds;
  return next;
end
$$;

/** Asks the running backfill to stop after its current batch (run_chat_migration and drivers check it). */
create function public.pause_chat_migration()
returns text
language plpgsql
set search_path = ''
as $$
declare
  r chat_migration.runs := chat_migration.latest_run();
begin
  if r.id is null or r.status <> 'running' then
    raise notice 'no running chat migration to pause (status: %)', coalesce(r.status, 'pending');
    return coalesce(r.status, 'pending');
  end if;
  update chat_migration.runs set status = 'paused', updated_at = now() where id = r.id;
  return 'paused';
end
$$;

/** Lets a paused (or failed) run continue; call run_chat_migration() (or the CLI) again afterwards. */
create function public.resume_chat_migration()
returns text
language plpgsql
set search_path = ''
as $$
declare
  r chat_migration.runs := chat_migration.latest_run();
begin
  if r.id is null or r.status not in ('paused', 'failed') then
    raise notice 'no paused chat migration to resume (status: %)', coalesce(r.status, 'pending');
    return coalesce(r.status, 'pending');
  end if;
  update chat_migration.runs set status = 'running', last_error = null, last_sqlstate = null, updated_at = now()
   where id = r.id;
  return 'running';
end
$$;

/** Open quarantine entries, oldest first, with the full original row and why it was set aside. */
create function public.list_chat_migration_quarantine(lim integer default 100)
returns table (id bigint, source_table text, source_id text, reason text, sqlstate text, attempts integer,
               first_seen timestamptz, last_seen timestamptz, retried_at timestamptz, original_row jsonb)
language sql
stable
set search_path = ''
as $$
  select q.id, q.source_table, q.source_id, q.reason, q.sqlstate, q.attempts, q.first_seen, q.last_seen,
         q.retried_at, q.original_row
    from chat_migration.quarantine q
   where q.resolved_at is null
   order by q.id
   limit lim
$$;

/**
 * Retries every open quarantine entry against the CURRENT legacy row (fix the row first). Rows that now convert
 * are migrated and their entries resolved; rows deleted since are resolved too; the rest stay quarantined.
 */
create function public.retry_chat_migration_quarantine()
returns table (retried integer, resolved integer, still_quarantined integer)
language plpgsql
set search_path = ''
as $$
declare
  ids bigint[];
  gone integer;
begin
  perform chat_migration.assert_not_finalized();
  if (select x.mode from chat_migration.mode x) = 'v2_only' then
    raise exception 'cannot retry quarantined rows while the chat schema mode is v2_only'
      using errcode = '55000',
            hint = 'Legacy rows cannot be fixed while legacy is read-only. Switch back with '
                   'select set_chat_schema_mode(''dual_write''), fix the rows, retry, then switch again.';
  end if;
  update chat_migration.quarantine q set retried_at = now() where q.resolved_at is null;
  get diagnostics retried = row_count;

  update chat_migration.quarantine q
     set resolved_at = now(), reason = q.reason || ' (source row deleted)'
   where q.resolved_at is null and q.source_table = 'chat_messages'
     and not exists (select 1 from public.chat_messages m where m.id::text = q.source_id);
  get diagnostics gone = row_count;

  select array_agg(q.source_id::bigint order by q.source_id::bigint) into ids
    from chat_migration.quarantine q where q.resolved_at is null and q.source_table = 'chat_messages';
  perform chat_migration.copy_messages_safely(ids);
  if exists (select 1 from chat_migration.quarantine q where q.resolved_at is null and q.source_table = 'chat_states') then
    perform public.migrate_chat_states();
  end if;

  still_quarantined := (select count(*) from chat_migration.quarantine q where q.resolved_at is null);
  resolved := greatest(retried - still_quarantined, 0);
  return next;
end
$$;

/**
 * Re-copies every legacy row (keyset batches, same set-based copy): fixes v2 rows that drifted from legacy,
 * e.g. legacy rows edited while mode was 'legacy' (verify_chat_migration reports them as message_content
 * mismatches). Rows already equal are not rewritten. Refused in v2_only, where v2 is the source of truth.
 * Returns the rows examined. batch_size null: chat_migration.settings.default_batch_size.
 */
create function public.repair_chat_migration(batch_size integer default null)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  size integer := coalesce(batch_size, (chat_migration.settings_row()).default_batch_size);
  cur bigint := null;
  ids bigint[];
  total bigint := 0;
begin
  perform chat_migration.assert_not_finalized();
  if (select x.mode from chat_migration.mode x) = 'v2_only' then
    raise exception 'cannot repair from legacy while the chat schema mode is v2_only'
      using errcode = '55000',
            hint = 'In v2_only, v2 is the source of truth. Switch back with select set_chat_schema_mode(''dual_write'') first.';
  end if;
  if not pg_try_advisory_xact_lock(chat_migration.lock_key()) then
    raise exception 'a chat migration batch is running right now'
      using errcode = '55P03', hint = 'Wait for it (select * from chat_migration_status()) and retry.';
  end if;
  loop
    select array_agg(s.id order by s.id) into ids
      from (select m.id from public.chat_messages m
             where cur is null or m.id > cur
             order by m.id limit greatest(size, 1)
               for no key update) as s;
    exit when ids is null;
    perform chat_migration.copy_messages_safely(ids);
    total := total + cardinality(ids);
    cur := ids[cardinality(ids)];
  end loop;
  return total;
end
$$;

-- Not for the API roles: the functions of this file are postgres' and service_role's only.
revoke execute on function chat_migration.progress_notice(integer) from public, anon, authenticated;
grant execute on function chat_migration.progress_notice(integer) to service_role;
revoke execute on function public.migrate_with_progress(integer) from public, anon, authenticated;
revoke execute on function public.migrate_chat_messages() from public, anon, authenticated;
revoke execute on procedure public.run_chat_migration(integer, integer) from public, anon, authenticated;
revoke execute on function public.chat_migration_status() from public, anon, authenticated;
revoke execute on function public.pause_chat_migration() from public, anon, authenticated;
revoke execute on function public.resume_chat_migration() from public, anon, authenticated;
revoke execute on function public.list_chat_migration_quarantine(integer) from public, anon, authenticated;
revoke execute on function public.retry_chat_migration_quarantine() from public, anon, authenticated;
revoke execute on function public.repair_chat_migration(integer) from public, anon, authenticated;
grant execute on function public.migrate_with_progress(integer) to service_role;
grant execute on function public.migrate_chat_messages() to service_role;
grant execute on procedure public.run_chat_migration(integer, integer) to service_role;
grant execute on function public.chat_migration_status() to service_role;
grant execute on function public.pause_chat_migration() to service_role;
grant execute on function public.resume_chat_migration() to service_role;
grant execute on function public.list_chat_migration_quarantine(integer) to service_role;
grant execute on function public.retry_chat_migration_quarantine() to service_role;
grant execute on function public.repair_chat_migration(integer) to service_role;
