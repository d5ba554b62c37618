-- Data migration legacy (v1) → v2, part 1 of 9: the ledger.
--
-- Purpose : what the online migration of public.chat_messages / public.chat_states onto v2 remembers — runs
--           with their checkpoint (the Stripe pattern), the per-batch log, the schema mode, every mode change,
--           the quarantine of rows that cannot be converted, and the migration's settings. The other eight
--           files (20250806000001..08) build the mapping, the copy, the states, the batch step, the API, the
--           dual-write mirror, verification and the modes on it. docs/data-migration-sql.md is the reference.
-- Objects : schema chat_migration; tables chat_migration.settings, runs, batches, mode, mode_changes,
--           quarantine; functions chat_migration.lock_key, settings_row, latest_run, assert_not_finalized.
-- Locks   : creates new objects only; no lock on any existing table.
-- Rollback: supabase/rollbacks/20250806000000_create_chat_migration_ledger.down.sql (drops all of the above;
--           roll back 20250806000001..08 first: npm run db:rollback -- --to 20250806000000 does it in order).

/** Everything the migration remembers; not exposed through the API (PostgREST serves public only). */
create schema chat_migration;
revoke all on schema chat_migration from public;
grant usage on schema chat_migration to service_role;

/**
 * The migration's tunables, one row. default_batch_size is THE default batch size: migrate_chat_messages(), the
 * TypeScript driver and the CLI use it whenever no size is given (the public signatures keep their own
 * documented defaults: 1000 for migrate_with_progress and migrate_chat_messages_batch, 5000 for
 * run_chat_migration). A DBA may change it: update chat_migration.settings set default_batch_size = 2000;
 */
create table chat_migration.settings (
  singleton boolean primary key default true check (singleton),
  default_batch_size integer not null default 5000 check (default_batch_size between 1 and 1000000),
  -- Adaptive batch size (GitLab's batched background migrations): after each batch the loops resize the next
  -- one so a batch takes about target_batch_ms (null: keep the size the caller gave), within these bounds.
  target_batch_ms integer default 500 check (target_batch_ms > 0),
  min_batch_size integer not null default 100 check (min_batch_size >= 1),
  max_batch_size integer not null default 50000 check (max_batch_size >= min_batch_size),
  -- The time a function entry point (migrate_with_progress) may hold its transaction's locks: it returns once
  -- a call has run this long and resumes on the next call. About one batch, so a writer waits at most that.
  call_budget_ms integer not null default 1000 check (call_budget_ms > 0),
  -- Database health: the loops pause (and halve the batch) while any of these is exceeded.
  max_lock_waiters integer not null default 0 check (max_lock_waiters >= 0),
  -- autovacuum backlog: dead tuples of a migration table over its autovacuum trigger point, as a multiple
  max_vacuum_backlog real not null default 4 check (max_vacuum_backlog > 0),
  max_replica_lag_ms integer not null default 10000 check (max_replica_lag_ms > 0),
  health_pause_ms integer not null default 1000 check (health_pause_ms >= 0)
);
insert into chat_migration.settings default values;

/**
 * One row per run (the Stripe pattern). A run fixes its upper_bound when it starts: rows newer than that are
 * dual_write's job, or the next run's. checkpoint.cursor is the last chat_messages.id the keyset has passed.
 * A batch that fails sets status 'failed' with last_error and last_sqlstate; the checkpoint stays where the
 * last committed batch left it.
 */
create table chat_migration.runs (
  id bigint generated always as identity primary key,
  name text not null default 'chat_messages',
  phase text not null default 'backfill' check (phase in ('backfill', 'sweep', 'done')),
  status text not null default 'running' check (status in ('running', 'paused', 'completed', 'failed')),
  checkpoint jsonb not null default jsonb_build_object(
    'cursor', 0, 'processedCount', 0, 'successCount', 0, 'errorCount', 0, 'lastProcessedId', null),
  start_cursor bigint not null default 0,
  upper_bound bigint not null default 0,
  total_rows bigint not null default 0,
  batch_count integer not null default 0,
  started_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  completed_at timestamptz,
  last_error text,
  last_sqlstate text
);
create index runs_name_id_idx on chat_migration.runs (name, id desc);

/**
 * Per-batch log: what each batch covered and how long it took. Rows/s and ETA come from here
 * (chat_migration.run_progress); pause_ms is the pause the batch's caller was told to take afterwards.
 */
create table chat_migration.batches (
  id bigint generated always as identity primary key,
  run_id bigint not null references chat_migration.runs (id) on delete cascade,
  batch_number integer not null,
  phase text not null,
  batch_size integer not null,
  first_id bigint,
  last_id bigint,
  migrated integer not null,
  quarantined integer not null,
  row_by_row boolean not null default false,
  milliseconds numeric not null,
  pause_ms numeric not null default 0,
  -- what the loop was told after this batch: the size of the next one, why it changed, why it pauses
  next_batch_size integer,
  size_reason text,
  pause_reason text,
  -- when the batch finished (clock time: a function call's batches share one transaction, so now() would not do)
  at timestamptz not null default clock_timestamp(),
  -- the transaction the batch committed in: one per batch for run_chat_migration and the CLI, shared by the
  -- batches of one migrate_with_progress / migrate_chat_messages call
  xact_id xid8 not null default pg_catalog.pg_current_xact_id(),
  unique (run_id, batch_number)
);

/** The schema mode (singleton row). 'legacy' right after this migration is applied. */
create table chat_migration.mode (
  singleton boolean primary key default true check (singleton),
  mode text not null default 'legacy' check (mode in ('legacy', 'dual_write', 'v2_only')),
  changed_at timestamptz not null default now(),
  finalized_at timestamptz
);
insert into chat_migration.mode (mode) values ('legacy');

/** Every mode change, who made it and what it did on the way. */
create table chat_migration.mode_changes (
  id bigint generated always as identity primary key,
  from_mode text not null,
  to_mode text not null,
  changed_by text not null default current_user,
  note text,
  at timestamptz not null default now()
);

/**
 * Rows that could not be converted. The full original row is kept so nothing is lost; a row is "accounted for"
 * while resolved_at is null. Fix the legacy row, then retry_chat_migration_quarantine().
 */
create table chat_migration.quarantine (
  id bigint generated always as identity primary key,
  source_table text not null,
  source_id text not null,
  original_row jsonb not null,
  reason text not null,
  sqlstate text,
  attempts integer not null default 1,
  first_seen timestamptz not null default now(),
  last_seen timestamptz not null default now(),
  retried_at timestamptz,
  resolved_at timestamptz
);
-- One open entry per source row; the anti-joins of the sweep and of verify use it.
create unique index quarantine_open_source_idx on chat_migration.quarantine (source_table, source_id)
  where resolved_at is null;

comment on table chat_migration.settings is 'Tunables of the chat data migration (batch size, adaptive target, call budget, health limits); one row.';
comment on table chat_migration.runs is 'Data-migration runs (Stripe pattern): checkpoint, fixed upper bound, status.';
comment on table chat_migration.batches is 'One row per backfill batch: id range, migrated, quarantined, milliseconds.';
comment on table chat_migration.mode is 'The chat schema mode (legacy | dual_write | v2_only); singleton.';
comment on table chat_migration.mode_changes is 'Every chat schema mode change, who made it and what it copied.';
comment on table chat_migration.quarantine is 'Legacy rows that could not be converted, with the full original row and the reason.';

revoke all on all tables in schema chat_migration from public, anon, authenticated;
grant select, insert, update, delete on all tables in schema chat_migration to service_role;

/** The advisory-lock key every batch takes; any constant shared by all runs of this migration. */
create function chat_migration.lock_key()
returns bigint
language sql
immutable
as $$ select 727274006::bigint $$;

/** The settings row. */
create function chat_migration.settings_row()
returns chat_migration.settings
language sql
stable
set search_path = ''
as $$
  select s from chat_migration.settings s
$$;

/** Latest run of the chat_messages backfill (null when none has started). */
create function chat_migration.latest_run()
returns chat_migration.runs
language sql
stable
set search_path = ''
as $$
  select r from chat_migration.runs r where r.name = 'chat_messages' order by r.id desc limit 1
$$;

/** Raises the finalize error when the legacy tables have been archived. */
create function chat_migration.assert_not_finalized()
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if exists (select 1 from chat_migration.mode where finalized_at is not null) then
    raise exception 'the chat migration is finalized: legacy tables live in schema chat_archive'
      using errcode = '55000',
            hint = 'Nothing is left to migrate. To roll back, run select set_chat_schema_mode(''dual_write'') '
                   'first: it moves the legacy tables back and copies to them what v2 gained.';
  end if;
end
$$;

-- Not for the API roles: the functions of this file are postgres' and service_role's only.
revoke execute on function chat_migration.lock_key() from public, anon, authenticated;
revoke execute on function chat_migration.settings_row() from public, anon, authenticated;
revoke execute on function chat_migration.latest_run() from public, anon, authenticated;
revoke execute on function chat_migration.assert_not_finalized() from public, anon, authenticated;
grant execute on function chat_migration.lock_key() to service_role;
grant execute on function chat_migration.settings_row() to service_role;
grant execute on function chat_migration.latest_run() to service_role;
grant execute on function chat_migration.assert_not_finalized() to service_role;
