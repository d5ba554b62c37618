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
      `run npm run db:migrate${dbTarget(usingUrl)} first (it applies 20250806000000_create_chat_data_migration.sql)`,
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

/** Legacy rows above a completed run's upper bound: what the next run will cover (an index range count). */
async function newerThan(db: Queryable, upperBound: number): Promise<number> {
  const r = await db.query<{ n: number | string }>(`select count(*)::bigint as n from public.chat_messages where id > $1`, [upperBound]);
  return Number(r[0]?.n ?? 0);
}

// ------------------------------------------------------------------------------------------------
// The batch loop

export interface BatchInfo {
  batch: number;
  /** Rows processed by this batch (migrated + quarantined). */
  rows: number;
  /** Rows processed by this run so far. */
  runRows: number;
  /** Best estimate of rows processed overall (ledger at start + this run). */
  processed: number;
  /** Best estimate of all legacy rows. */
  total: number;
  ms: number;
  rowsPerSecond: number;
}

export type StopReason = 'done' | 'interrupted' | 'paused' | 'max-batches';

export interface MigrateOptions {
  batchSize?: number;
  /** Throttle: at most this many rows per second, averaged over the run (sleeps between batches). */
  rate?: number;
  /** Stop after this many batches (tests, smoke runs). */
  maxBatches?: number;
  /** Checked between batches: when it returns true the loop stops after the current batch. */
  shouldStop?: () => boolean;
  /** Called once before the first batch with the starting status and the bar total. */
  onStart?: (s: MigrationStatus, total: number, processed: number) => void;
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
  states?: Record<string, unknown>[];
  status: MigrationStatus;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs batches until nothing is left, a stop is requested, or the migration is paused (from here or
 * from psql with `select pause_chat_migration()`); then migrates chat_states when messages are done.
 */
export async function runMigration(db: Db, opts: MigrateOptions = {}): Promise<MigrateResult> {
  const batchSize = opts.batchSize ?? 5000;
  const sleep = opts.sleep ?? defaultSleep;
  await requireApi(db);
  let status = await getStatus(db);
  if (isPaused(status)) {
    return { reason: 'paused', batches: 0, rows: 0, ms: 0, rowsPerSecond: 0, status };
  }
  // A completed run reports its own totals; the next batch starts a new run over what is new.
  const fresh = status.status === 'completed';
  let offset = fresh ? 0 : (status.processed ?? 0);
  let total = fresh
    ? await newerThan(db, num(status.raw.upper_bound) ?? 0)
    : (status.totalLegacy ?? (await estimateLegacyRows(db)));
  const startProcessed = offset;
  opts.onStart?.(status, total, startProcessed);

  const started = performance.now();
  let batches = 0;
  let rows = 0;
  let reason: StopReason = 'done';
  // Checking the ledger for a pause costs a query; do it every batch while that is cheap relative
  // to a batch, otherwise at most every 2 s.
  let statusMs = 0;
  let lastStatusAt = performance.now();
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
    try {
      n = await db.transaction(async (tx) => {
        const r = await tx.query<{ n: number | string }>(`select public.migrate_chat_messages_batch($1) as n`, [batchSize]);
        return Number(r[0]?.n ?? 0);
      });
    } catch (err) {
      throw explain(err);
    }
    const ms = performance.now() - t0;
    if (n === 0) {
      // Either the end of the keyset or a pause that the batch function itself honoured.
      status = await getStatus(db);
      if (isPaused(status)) reason = 'paused';
      break;
    }
    batches++;
    rows += n;
    let paused = false;
    const now = performance.now();
    if (batches === 1 || statusMs <= ms * 0.2 || now - lastStatusAt > 2000) {
      const s0 = performance.now();
      status = await getStatus(db);
      statusMs = performance.now() - s0;
      lastStatusAt = now;
      // The ledger is the truth for where the run is (a new run may have started with the first batch).
      if (status.processed !== null) offset = status.processed - rows;
      if (status.totalLegacy !== null && status.totalLegacy > 0) total = status.totalLegacy;
      paused = isPaused(status);
    }
    const processed = offset + rows;
    if (processed > total) total = processed;
    const elapsed = (performance.now() - started) / 1000;
    await opts.onBatch?.({ batch: batches, rows: n, runRows: rows, processed, total, ms, rowsPerSecond: rows / Math.max(elapsed, 1e-3) });
    if (paused) {
      reason = 'paused';
      break;
    }
    if (opts.rate && opts.rate > 0) {
      const due = (rows / opts.rate) * 1000 - (performance.now() - started);
      if (due > 0) await sleep(due);
    }
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
  return { reason, batches, rows, ms, rowsPerSecond: rows / Math.max(ms / 1000, 1e-3), ...(states ? { states } : {}), status };
}

// ------------------------------------------------------------------------------------------------
// Dry run: what would happen, with nothing written.

export interface DryRunResult {
  /** Legacy rows not yet migrated or quarantined (from the status), or the planner estimate. */
  remaining: number | null;
  /** Rows in the remaining keyset range that the migration's rules send to quarantine, by reason. */
  wouldQuarantine: Record<string, number>;
  wouldMigrate: number;
  /** One real batch run inside a transaction that was rolled back. */
  sample: { rows: number; ms: number; migrated: number | null; quarantined: number | null } | null;
  chatStates: { total: number; invalidJson: number };
}

class Rollback extends Error {}

/**
 * Classifies the legacy rows that are neither migrated nor in open quarantine with the SQL's own rules — tenancy
 * first (chat_migration.conversation_owner, once per conversation; agent owner), then the row's shape
 * (chat_migration.message_problem) — read-only; array positions are folded so reasons group.
 */
const classifySql = `
with todo as materialized (
  select m.* from public.chat_messages m
   where not exists (select 1 from public.chat_messages_v2 v where v.legacy_id = m.id)
     and not exists (select 1 from chat_migration.quarantine q
                      where q.source_table = 'chat_messages' and q.source_id = m.id::text and q.resolved_at is null)
),
owners as materialized (
  select c.conversation_id, chat_migration.conversation_owner(c.conversation_id) as owner_id
    from (select distinct t.conversation_id from todo t) as c
)
select coalesce(
         case when m.user_id is distinct from o.owner_id then 'conversation_owned_by_other_user'
              when m.agent_id is not null and a.owner_id is distinct from m.user_id then 'agent_owned_by_other_user' end,
         regexp_replace(chat_migration.message_problem(m.role, m.metadata, m.attachments, m.tool_calls,
                          m.partial_tool_calls), '\\[[0-9]+\\]', '[i]', 'g'),
         'ok') as outcome,
       count(*)::bigint as n
  from todo m
  join owners o on o.conversation_id = m.conversation_id
  left join public.agents a on a.id = m.agent_id
 group by 1 order by 2 desc`;

export async function dryRun(db: Db, opts: { batchSize?: number } = {}): Promise<DryRunResult> {
  await requireApi(db);
  const before = await getStatus(db);
  const classified = await db.query<{ outcome: string; n: number | string }>(classifySql);
  const wouldQuarantine: Record<string, number> = {};
  let wouldMigrate = 0;
  for (const c of classified) {
    if (c.outcome === 'ok') wouldMigrate = Number(c.n);
    else wouldQuarantine[c.outcome] = Number(c.n);
  }
  const st = await db.query<{ total: number | string; invalid: number | string }>(
    `select count(*)::bigint as total,
            count(*) filter (where chat_migration.try_jsonb(content) is null)::bigint as invalid
     from public.chat_states`,
  );
  let sample: DryRunResult['sample'] = null;
  if (!isPaused(before)) {
    try {
      await db.transaction(async (tx) => {
        const t0 = performance.now();
        const r = await tx.query<{ n: number | string }>(`select public.migrate_chat_messages_batch($1) as n`, [opts.batchSize ?? 5000]);
        const ms = performance.now() - t0;
        const after = await getStatus(tx);
        sample = {
          rows: Number(r[0]?.n ?? 0),
          ms,
          migrated: after.migrated !== null && before.migrated !== null ? after.migrated - before.migrated : null,
          quarantined: after.quarantined !== null && before.quarantined !== null ? after.quarantined - before.quarantined : null,
        };
        throw new Rollback();
      });
    } catch (err) {
      if (!(err instanceof Rollback)) throw explain(err);
    }
  }
  return {
    remaining: before.remaining ?? (await estimateLegacyRows(db)),
    wouldQuarantine,
    wouldMigrate,
    sample,
    chatStates: { total: Number(st[0]?.total ?? 0), invalidJson: Number(st[0]?.invalid ?? 0) },
  };
}

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
