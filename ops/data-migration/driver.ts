/**
 * The TypeScript driver of the legacy → v2 data migration (docs/data-migration-sql.md, docs/runbook.md).
 *
 * All migration logic lives in SQL (the DBA path works from psql alone); this driver only loops over
 * `migrate_chat_messages_batch()` — ONE batch per transaction, so every committed batch is durable and
 * a crash or Ctrl-C loses at most the batch in flight — and adds what a terminal gives: a progress bar,
 * throttling, a clean stop, dry runs and readable errors.
 */
import type { Db, Queryable } from '../db.ts';

// ------------------------------------------------------------------------------------------------
// Errors a DBA can cause get a message that says what to do next.

export class DriverError extends Error {
  override name = 'DriverError';
  constructor(
    message: string,
    readonly hint?: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** The data-migration SQL API is not installed in this database. */
export class SchemaNotMigratedError extends DriverError {
  override name = 'SchemaNotMigratedError';
}

/** Another run holds the migration's advisory lock. */
export class MigrationLockedError extends DriverError {
  override name = 'MigrationLockedError';
}

const dbTarget = (url: boolean) => (url ? ' -- --database-url URL' : '');

/** Turns a database error from the SQL API into a DriverError with a hint; passes others through. */
export function explain(err: unknown, usingUrl = false): unknown {
  const e = err as { code?: string; message?: string; hint?: string };
  const msg = e?.message ?? String(err);
  if (e?.code === '42883' || e?.code === '3F000' || e?.code === '42P01') {
    return new SchemaNotMigratedError(
      `the data-migration API is missing from this database (${msg})`,
      `run npm run db:migrate${dbTarget(usingUrl)} first (it applies the data-migration files 20250806000000..08)`,
      e.code,
    );
  }
  if (e?.code === '55P03' || /advisory lock|already running|another run|lock.*held|is locked/i.test(msg)) {
    return new MigrationLockedError(
      `another migration run holds the lock (${msg})`,
      'wait for it to finish, or find it with: select pid, state, query from pg_stat_activity where query ilike \'%migrate_chat%\'; ' +
        'stop it with pg_cancel_backend(pid) — it resumes from the last committed batch',
      e.code,
    );
  }
  if (e?.code === '42501') {
    return new DriverError(msg, 'the data-migration API is callable by postgres / service_role only: connect as one of them', e.code);
  }
  if (e && typeof e === 'object' && 'message' in e && e.hint) return new DriverError(msg, e.hint, e.code);
  return err;
}

// ------------------------------------------------------------------------------------------------
// Status

/** One row of `chat_migration_status()` with the fields the driver relies on normalized to numbers. */
export interface MigrationStatus {
  raw: Record<string, unknown>;
  status: string | null;
  phase: string | null;
  mode: string | null;
  totalLegacy: number | null;
  processed: number | null;
  migrated: number | null;
  quarantined: number | null;
  remaining: number | null;
  percent: number | null;
  lastError: string | null;
}

const num = (v: unknown): number | null => (v === null || v === undefined || v === '' ? null : Number(v));
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

export async function apiInstalled(db: Queryable): Promise<boolean> {
  const r = await db.query<{ ok: boolean }>(
    `select to_regprocedure('public.migrate_chat_messages_batch(integer)') is not null
        and to_regprocedure('public.chat_migration_status()') is not null as ok`,
  );
  return Boolean(r[0]?.ok);
}

export async function requireApi(db: Queryable, usingUrl = false): Promise<void> {
  const legacy = await db.query<{ ok: boolean }>(`select to_regclass('public.chat_messages') is not null as ok`);
  if (!legacy[0]?.ok || !(await apiInstalled(db))) {
    throw new SchemaNotMigratedError(
      legacy[0]?.ok
        ? 'this database has the legacy tables but not the data-migration API (migrate_chat_messages_batch, chat_migration_status)'
        : 'this database has no chat tables at all',
      `run npm run db:migrate${dbTarget(usingUrl)} first`,
    );
  }
}

export async function getStatus(db: Queryable): Promise<MigrationStatus> {
  let rows: Record<string, unknown>[];
  try {
    rows = await db.query<Record<string, unknown>>(`select * from public.chat_migration_status()`);
  } catch (err) {
    throw explain(err);
  }
  const r = rows[0] ?? {};
  return {
    raw: r,
    status: str(r.status),
    phase: str(r.phase),
    mode: str(r.mode),
    totalLegacy: num(r.total_legacy),
    processed: num(r.processed),
    migrated: num(r.migrated),
    quarantined: num(r.quarantined),
    remaining: num(r.remaining),
    percent: num(r.percent),
    lastError: str(r.last_error),
  };
}

/** Planner estimate of legacy rows — instant at any size; the bar's total when the status has none. */
export async function estimateLegacyRows(db: Queryable): Promise<number> {
  const r = await db.query<{ n: number | string }>(
    `select greatest(c.reltuples, 0)::bigint as n from pg_class c where c.oid = 'public.chat_messages'::regclass`,
  );
  return Number(r[0]?.n ?? 0);
}

export const isPaused = (s: MigrationStatus) => s.status === 'paused';

/** THE default batch size, read from the database (chat_migration.settings.default_batch_size). */
export async function defaultBatchSize(db: Queryable): Promise<number> {
  const r = await call<{ n: number | string }>(db, `select default_batch_size as n from chat_migration.settings`);
  return Number(r[0]?.n ?? 0);
}

/** What chat_migration.batch_report() says after a batch: the ledger, not a re-derived status. */
export interface BatchReport {
  runId: number;
  status: string;
  phase: string;
  lastError: string | null;
  lastSqlstate: string | null;
  totalRows: number;
  batchNumber: number | null;
  batchSize: number | null;
  batchRows: number | null;
  batchMs: number | null;
  processed: number;
  migrated: number;
  quarantined: number;
  remaining: number;
  percent: number;
  rowsPerSecond: number | null;
  etaSeconds: number | null;
  pauseSeconds: number;
  /** The adaptive size of the next batch (settings.target_batch_ms), and why it changed; null: unchanged. */
  nextBatchSize: number | null;
  sizeReason: string | null;
  /** Why the loop pauses: the rate limit or database health (lock waiters, autovacuum backlog, replica lag). */
  pauseReason: string | null;
}

function toReport(r: Record<string, unknown>): BatchReport {
  return {
    runId: Number(r.run_id),
    status: String(r.status),
    phase: String(r.phase),
    lastError: str(r.last_error),
    lastSqlstate: str(r.last_sqlstate),
    totalRows: Number(r.total_rows ?? 0),
    batchNumber: num(r.batch_number),
    batchSize: num(r.batch_size),
    batchRows: num(r.batch_rows),
    batchMs: num(r.batch_ms),
    processed: Number(r.processed ?? 0),
    migrated: Number(r.migrated ?? 0),
    quarantined: Number(r.quarantined ?? 0),
    remaining: Number(r.remaining ?? 0),
    percent: Number(r.percent ?? 0),
    rowsPerSecond: num(r.rows_per_second),
    etaSeconds: num(r.eta_seconds),
    pauseSeconds: Number(r.pause_seconds ?? 0),
    nextBatchSize: num(r.next_batch_size),
    sizeReason: str(r.size_reason),
    pauseReason: str(r.pause_reason),
  };
}

/** A batch failed: the batch itself marked the run failed (the same whoever calls it); this carries its error. */
export class BatchFailedError extends DriverError {
  override name = 'BatchFailedError';
}

// ------------------------------------------------------------------------------------------------
// The batch loop

export interface BatchInfo {
  batch: number;
  /** Rows processed by this batch (migrated + quarantined). */
  rows: number;
  /** Rows processed by this run of the driver so far. */
  runRows: number;
  /** The ledger after the batch: where the run is, rows/s and ETA as SQL computes them, the pause it asks for. */
  report: BatchReport;
  /** Wall time of the batch's transaction as the driver saw it. */
  ms: number;
}

export type StopReason = 'done' | 'interrupted' | 'paused' | 'max-batches';

export interface MigrateOptions {
  /** Rows per batch; default: the database's default (chat_migration.settings.default_batch_size). */
  batchSize?: number;
  /** Throttle: at most this many rows per second, per batch (chat_migration.batch_report's pause). */
  rate?: number;
  /** Stop after this many batches (tests, smoke runs). */
  maxBatches?: number;
  /** Checked between batches: when it returns true the loop stops after the current batch. */
  shouldStop?: () => boolean;
  /** Called once before the first batch with the starting status. */
  onStart?: (s: MigrationStatus) => void;
  onBatch?: (b: BatchInfo) => void | Promise<void>;
  /** Skip migrate_chat_states() at the end. */
  skipStates?: boolean;
  sleep?: (ms: number) => Promise<void>;
}

export interface MigrateResult {
  reason: StopReason;
  batches: number;
  rows: number;
  ms: number;
  rowsPerSecond: number;
  /** The ledger after the last batch (null when no batch ran). */
  last: BatchReport | null;
  states?: Record<string, unknown>[];
  status: MigrationStatus;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs batches until nothing is left, a stop is requested, or the migration is paused (from here or from psql
 * with `select pause_chat_migration()`); then migrates chat_states when messages are done. Each batch is one
 * transaction: `migrate_chat_messages_batch()` then `chat_migration.batch_report()` — the ledger says where the
 * run is, how fast it goes and how long to pause; a failed batch (the run marked failed by SQL) stops the loop
 * with BatchFailedError.
 */
export async function runMigration(db: Db, opts: MigrateOptions = {}): Promise<MigrateResult> {
  const sleep = opts.sleep ?? defaultSleep;
  await requireApi(db);
  let status = await getStatus(db);
  if (isPaused(status)) {
    return { reason: 'paused', batches: 0, rows: 0, ms: 0, rowsPerSecond: 0, last: null, status };
  }
  opts.onStart?.(status);

  const started = performance.now();
  let batches = 0;
  let rows = 0;
  let last: BatchReport | null = null;
  let reason: StopReason = 'done';
  // the first batch's size; later ones follow the ledger's adaptive size (chat_migration.batch_report)
  // no batchSize: adaptive, starting at the database's default; a batchSize: exactly that, every batch
  let size: number | null = opts.batchSize ?? null;
  const adaptive = opts.batchSize === undefined;
  for (;;) {
    if (opts.shouldStop?.()) {
      reason = 'interrupted';
      break;
    }
    if (opts.maxBatches !== undefined && batches >= opts.maxBatches) {
      reason = 'max-batches';
      break;
    }
    const t0 = performance.now();
    let n: number;
    let report: BatchReport | null;
    try {
      [n, report] = await db.transaction(async (tx) => {
        const r = await tx.query<{ n: number | string }>(`select public.migrate_chat_messages_batch($1) as n`, [size]);
        const rep = await tx.query<Record<string, unknown>>(`select * from chat_migration.batch_report($1, $2)`, [opts.rate ?? null, adaptive]);
        return [Number(r[0]?.n ?? 0), rep[0] ? toReport(rep[0]) : null] as const;
      });
    } catch (err) {
      throw explain(err);
    }
    const ms = performance.now() - t0;
    if (report?.status === 'failed') {
      throw new BatchFailedError(
        `batch failed: ${report.lastError ?? 'unknown error'}`,
        'the run is marked failed and its checkpoint is safe (select * from chat_migration_status()); fix the cause ' +
          'and run data:migrate again: it resumes from the last committed batch',
        report.lastSqlstate ?? undefined,
      );
    }
    if (n === 0) {
      // The end of the keyset, or a pause that the batch function itself honoured.
      if (report?.status === 'paused') reason = 'paused';
      break;
    }
    last = report;
    batches++;
    rows += n;
    await opts.onBatch?.({ batch: batches, rows: n, runRows: rows, report: report!, ms });
    if (report!.status === 'paused') {
      reason = 'paused';
      break;
    }
    if (report!.nextBatchSize !== null) size = report!.nextBatchSize;
    if (report!.pauseSeconds > 0) await sleep(report!.pauseSeconds * 1000);
  }

  let states: Record<string, unknown>[] | undefined;
  if (reason === 'done' && !opts.skipStates) {
    try {
      states = await db.transaction((tx) => tx.query<Record<string, unknown>>(`select * from public.migrate_chat_states()`));
    } catch (err) {
      throw explain(err);
    }
  }
  status = await getStatus(db);
  const ms = performance.now() - started;
  return { reason, batches, rows, ms, rowsPerSecond: rows / Math.max(ms / 1000, 1e-3), last, ...(states ? { states } : {}), status };
}

// Dry run (./dry-run.ts): what would happen, with nothing written.
export { dryRun, type DryRunResult } from './dry-run.ts';

// ------------------------------------------------------------------------------------------------
// The other commands: thin calls into the SQL API.

async function call<T = Record<string, unknown>>(db: Queryable, sql: string, params: unknown[] = []): Promise<T[]> {
  try {
    return await db.query<T>(sql, params);
  } catch (err) {
    throw explain(err);
  }
}

export interface VerifyRow {
  check_name: string;
  legacy_count: number | null;
  v2_count: number | null;
  mismatches: number | null;
  ok: boolean;
}

export async function verify(db: Queryable): Promise<{ ok: boolean; rows: VerifyRow[] }> {
  const rows = (await call<Record<string, unknown>>(db, `select * from public.verify_chat_migration()`)).map((r) => ({
    check_name: String(r.check_name),
    legacy_count: num(r.legacy_count),
    v2_count: num(r.v2_count),
    mismatches: num(r.mismatches),
    ok: r.ok === true || r.ok === 't',
  }));
  return { ok: rows.length > 0 && rows.every((r) => r.ok), rows };
}

/** The latest run's last batches from the ledger's batch log (newest first). */
export async function recentBatches(db: Queryable, limit = 5): Promise<Record<string, unknown>[]> {
  return call(
    db,
    `select b.batch_number, b.phase, b.first_id, b.last_id, b.migrated, b.quarantined, b.row_by_row,
            round(b.milliseconds)::bigint as ms, b.at
       from chat_migration.batches b
      where b.run_id = (select max(r.id) from chat_migration.runs r where r.name = 'chat_messages')
      order by b.batch_number desc limit $1`,
    [limit],
  );
}

export async function pause(db: Queryable): Promise<void> {
  await call(db, `select public.pause_chat_migration()`);
}

export async function resume(db: Queryable): Promise<void> {
  await call(db, `select public.resume_chat_migration()`);
}

export async function listQuarantine(db: Queryable, limit = 100): Promise<Record<string, unknown>[]> {
  return call(db, `select * from public.list_chat_migration_quarantine($1)`, [limit]);
}

export async function retryQuarantine(db: Queryable): Promise<Record<string, unknown>[]> {
  return call(db, `select * from public.retry_chat_migration_quarantine()`);
}

export async function setMode(db: Queryable, mode: 'legacy' | 'dual_write' | 'v2_only'): Promise<void> {
  await call(db, `select public.set_chat_schema_mode($1)`, [mode]);
}
