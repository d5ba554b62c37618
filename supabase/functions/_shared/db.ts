/**
 * Direct Postgres over `SUPABASE_DB_URL` (postgres.js, small bounded pool), and reads over
 * `SUPABASE_DB_URL_READ` when a read replica is configured (asReader, below). Every request runs in ONE
 * transaction that first becomes the caller — `role` and `request.jwt.claims` set with `is_local = true`
 * (PostgREST's way) — so RLS is the only fence and nothing outlives the transaction. On the local stack
 * the database is a single shared session; transaction-local settings are what keep requests apart.
 *
 * Every transaction has a deadline (`REQUEST_TIMEOUT_MS`, default 5 s) that covers waiting for a pool
 * connection, for the database (a lock, or on the local stack another client's open transaction) and the
 * work itself. Past it the request answers 503 `database_busy` with `Retry-After`, and the transaction is
 * rolled back: it is checked before every statement and before COMMIT, so nothing a 503'd request started
 * can land later. On a real server the same budget is also set as `statement_timeout`, `lock_timeout` and
 * `idle_in_transaction_session_timeout` for the transaction, so the server stops the work too.
 */
import postgres from 'postgres';
import type { Caller } from './auth.ts';
import { RETRY_AFTER_SECONDS } from './errors.ts';
import { badRequest, HttpError, positiveMs } from './http.ts';
import { FenceMap, fenceFromInsertLsn, formatLsn, parseLsn } from './lsn.ts';

const url = Deno.env.get('SUPABASE_DB_URL') ?? Deno.env.get('DATABASE_URL');
if (!url) throw new Error('SUPABASE_DB_URL is not set');
/** A read replica (hosted Supabase: the replica's connection string; locally `npm start -- --read-url`). */
const readUrl = Deno.env.get('SUPABASE_DB_URL_READ') || null;

export const REQUEST_TIMEOUT_MS = positiveMs('REQUEST_TIMEOUT_MS', 5_000);
/** How long a read may wait for the replica to replay the caller's last write before it goes to the primary. */
export const READ_WAIT_MS = positiveMs('READ_WAIT_MS', 200);
/** The replica's share of a read's deadline; the primary fallback always keeps the rest. */
const REPLICA_BUDGET_MS = Math.max(1, Math.floor(REQUEST_TIMEOUT_MS / 2));
/** After the replica failed to connect (or refused us), reads skip it this long. */
const REPLICA_RETRY_MS = positiveMs('REPLICA_RETRY_MS', 5_000);

const pool = (target: string, name: string, connectSeconds: number) =>
  postgres(target, {
    max: Number(Deno.env.get('DB_POOL_MAX') ?? '4'),
    // Unnamed statements only: transaction poolers (Supavisor) and the local single-session socket
    // cannot keep named prepared statements apart.
    prepare: false,
    idle_timeout: 20,
    // Every row leaves as jsonb built in SQL, so postgres.js needs no array-type catalogue lookup per
    // connection (a catalog query that costs most of a cold first request on the local stack).
    fetch_types: false,
    connect_timeout: connectSeconds,
    onnotice: () => {},
    connection: { application_name: name },
  });

// A connection attempt is bounded too (postgres.js counts whole seconds); a second longer than the
// request deadline, so a request that waits on a slow connect answers the deadline's 503 first.
export const sql = pool(url, 'advanced-json-chat-functions', Math.ceil(REQUEST_TIMEOUT_MS / 1000) + 1);
/** Reads go here when set (see asReader); the replica's own deadline ends a slow connect first. */
const replica = readUrl ? pool(readUrl, 'advanced-json-chat-functions-read', Math.ceil(REPLICA_BUDGET_MS / 1000) + 1) : null;

export type Tx = postgres.TransactionSql;

/** The 503 every deadline miss answers with: nothing was changed, try again shortly. */
export function databaseBusy(detail = `did not finish within ${REQUEST_TIMEOUT_MS} ms`): HttpError {
  return new HttpError(
    503,
    'database_busy',
    `The database is busy (the request ${detail}); nothing was changed. Retry in a moment.`,
    { 'Retry-After': String(RETRY_AFTER_SECONDS) },
  );
}

/** Thrown inside an abandoned transaction so postgres.js rolls it back; never reaches a client. */
class Abandoned extends Error {}

/**
 * The transaction as the callback sees it: every statement first checks that the request is still
 * wanted, so an abandoned request stops at its next statement instead of finishing its work.
 */
function guarded(tx: Tx, live: () => void): Tx {
  return new Proxy(tx, {
    apply(target, thisArg, args) {
      live();
      return Reflect.apply(target as unknown as (...a: unknown[]) => unknown, thisArg, args);
    },
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (prop === 'unsafe' && typeof v === 'function') {
        return (...args: unknown[]) => {
          live();
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return v;
    },
  }) as Tx;
}

/** Becomes the caller for this transaction only ($1 role, $2 JWT claims, $3 the time left in ms). */
const BECOME_CALLER = `select set_config('role', $1, true),
                              set_config('request.jwt.claims', $2, true),
                              set_config('request.jwt.claim.sub', '', true),
                              set_config('request.jwt.claim.role', '', true),
                              set_config('statement_timeout', $3, true),
                              set_config('lock_timeout', $3, true),
                              set_config('idle_in_transaction_session_timeout', $3, true)`;

/** Why a read left the replica for the primary; never reaches a client. */
class ReplicaUnusable extends Error {
  constructor(
    message: string,
    readonly connected = true,
  ) {
    super(message);
  }
}

interface Attempt {
  /** performance.now() when the budget started. */
  started: number;
  budgetMs: number;
  /** `begin read only`: a read route that tried to write fails here as on a standby, on every engine. */
  readOnly: boolean;
  /**
   * What a missed deadline becomes: the primary's 503, or the replica's hand-over to the primary.
   * `connected` is false when the deadline passed before the transaction got a connection.
   */
  onDeadline: (connected: boolean) => Error;
  /** Replica reads: the WAL position the replica must have replayed before `fn` runs. */
  fence?: bigint;
}

/**
 * One transaction as the caller, within a budget: the deadline covers the wait for a connection, for the
 * database and the work; past it the transaction is abandoned (rolled back at its next statement) and
 * `onDeadline()` is thrown. A write whose COMMIT is already on the wire gets a second deadline to learn the
 * outcome (504 if it never comes).
 */
async function inTransaction<T>(db: postgres.Sql, caller: Caller, fn: (tx: Tx) => Promise<T>, a: Attempt): Promise<T> {
  let abandoned = false;
  let committing = false;
  let connected = false;
  const live = () => {
    if (abandoned) throw new Abandoned('request abandoned at its deadline');
  };
  const body = async (tx: Tx) => {
    connected = true;
    live(); // the deadline may have passed while this waited for a connection
    const left = Math.max(1, Math.floor(a.budgetMs - (performance.now() - a.started)));
    // caller.role is one of three literals (auth.ts), never a client-chosen string.
    const [setup] = await tx.unsafe(a.fence === undefined ? BECOME_CALLER : `${BECOME_CALLER}, ${REPLAYED_LSN} as replayed`, [
      caller.role,
      JSON.stringify(caller.claims),
      String(left),
    ]);
    if (a.fence !== undefined) await awaitFence(tx, setup!.replayed as string | null, a.fence, live);
    const result = await fn(guarded(tx, live));
    live(); // check before commit: a request that already answered 503 must not commit
    committing = !a.readOnly;
    return result;
  };
  // Reads are read committed whatever the server's default: each statement of `fn` must take a snapshot
  // after the fence check (a repeatable-read snapshot would be taken before it).
  const work = (a.readOnly ? db.begin('isolation level read committed read only', body) : db.begin(body)) as Promise<T>;
  // An abandoned transaction settles later (rolled back); its outcome is nobody's business by then.
  work.catch(() => {});

  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    const fire = () => {
      if (committing) {
        // COMMIT is on the wire: answering 503 now could be a lie. Wait for the outcome, a little longer.
        timer = setTimeout(() => reject(new HttpError(504, 'outcome_unknown', 'The database did not confirm the commit in time: the change may or may not have been saved. Read it back before retrying (retries with the same client_message_id are safe).')), REQUEST_TIMEOUT_MS);
        return;
      }
      abandoned = true;
      reject(a.onDeadline(connected));
    };
    timer = setTimeout(fire, Math.max(0, a.budgetMs - (performance.now() - a.started)));
  });
  deadline.catch(() => {});
  try {
    return await Promise.race([work, deadline]);
  } catch (e) {
    if (e instanceof Abandoned) throw a.onDeadline(connected);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A request that may change data: one transaction on the primary. With a read replica configured, the
 * caller's new fence (the primary's WAL position after the commit) is remembered and sent back as
 * `X-Commit-LSN`, so the caller's next reads wait for the replica to have it (asReader).
 */
export async function asCaller<T>(caller: Caller, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await inTransaction(sql, caller, fn, { started, budgetMs: REQUEST_TIMEOUT_MS, readOnly: false, onDeadline: () => databaseBusy() });
  if (replica) await stampWrite(caller, result, started);
  return result;
}

/**
 * A request that only reads: on the read replica when one is configured and it has replayed the caller's
 * writes, otherwise on the primary. The transaction is read only everywhere, and is the caller's (role and
 * JWT claims) on either server, so RLS is the fence on the replica too.
 *
 * The caller's fence is the later of `X-Read-After-LSN` (the `X-Commit-LSN` of their last write, which the
 * typed client sends back by itself: correct across every instance of every function) and the last write
 * this instance made for them (FenceMap). The replica gets half the deadline — to connect, to reach the
 * fence (at most READ_WAIT_MS) and to answer; a replica that is down, refuses, lags or is cancelled hands
 * the read to the primary with the rest of the deadline. Answers never depend on the replica being up.
 */
export async function asReader<T>(req: Request, caller: Caller, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const claimed = readAfterHeader(req);
  const started = performance.now();
  if (replica && Date.now() >= replicaSkipUntil && !pinnedToPrimary(fenceKey(caller))) {
    const known = fences.get(fenceKey(caller));
    const fence = claimed !== null && claimed > known ? claimed : known;
    try {
      return await inTransaction(replica, caller, fn, {
        started,
        budgetMs: REPLICA_BUDGET_MS,
        readOnly: true,
        fence,
        // No connection within the replica's share: unreachable (or its pool is saturated) — skip it a while,
        // or every read would wait that long first.
        onDeadline: (connected) => new ReplicaUnusable(connected ? 'deadline' : 'no connection within the deadline', connected),
      });
    } catch (e) {
      if (e instanceof ReplicaUnusable) {
        if (!e.connected) skipReplica(e);
      } else if (!replicaTrouble(e)) {
        throw e;
      } else if (replicaDown(e)) {
        skipReplica(e);
      }
    }
  }
  const budgetMs = REQUEST_TIMEOUT_MS - (performance.now() - started);
  return await inTransaction(sql, caller, fn, { started: performance.now(), budgetMs: Math.max(1, budgetMs), readOnly: true, onDeadline: () => databaseBusy() });
}

/** The standby's replay position (on a primary used as the read URL: its insert position). */
const REPLAYED_LSN = `(case when pg_catalog.pg_is_in_recovery() then pg_catalog.pg_last_wal_replay_lsn()
                            else pg_catalog.pg_current_wal_insert_lsn() end)::text`;
/** Further behind than this, waiting is pointless: the read goes to the primary at once. */
const FAR_BEHIND_BYTES = 64n * 1024n * 1024n;

const fences = new FenceMap();
const fenceKey = (c: Caller) => `${c.role}:${c.userId ?? ''}`;
let replicaSkipUntil = 0;
/** Callers whose last write's position is unknown (the query after the commit failed), until when. */
const pinned = new Map<string, number>();
const PRIMARY_WINDOW_MS = 10_000;

function pinnedToPrimary(key: string): boolean {
  const until = pinned.get(key);
  if (until === undefined) return false;
  if (until > Date.now()) return true;
  pinned.delete(key);
  return false;
}

/** Inside the replica transaction: until the replica has replayed `fence`, or hand the read over. */
async function awaitFence(tx: Tx, first: string | null, fence: bigint, live: () => void): Promise<void> {
  const waitUntil = performance.now() + READ_WAIT_MS;
  let replayed = first === null ? 0n : (parseLsn(first) ?? 0n);
  for (;;) {
    fences.replayedUpTo(replayed);
    if (replayed >= fence) return;
    if (performance.now() >= waitUntil || fence - replayed > FAR_BEHIND_BYTES) throw new ReplicaUnusable('behind');
    await new Promise((r) => setTimeout(r, 5));
    live();
    // Read committed: each statement sees what the replica has replayed when it starts, so once this
    // passes, every statement of `fn` sees the caller's writes.
    const [r] = await tx.unsafe(`select ${REPLAYED_LSN} as replayed`);
    replayed = r!.replayed === null ? 0n : (parseLsn(r!.replayed as string) ?? 0n);
  }
}

/** After a committed write: the caller's fence, remembered here and handed to the client. */
async function stampWrite(caller: Caller, result: unknown, started: number): Promise<void> {
  const key = fenceKey(caller);
  let lsn: bigint | null = null;
  try {
    // Asked after the commit returned, on any connection: with synchronous_commit on (the default, and
    // every level but off) the commit record is flushed, so the flush position is past it; with off it may
    // not be, and the insert position is. (The insert position is later than needed otherwise: it includes
    // other sessions' WAL not yet flushed, which a standby cannot have before the WAL writer flushes it.)
    const left = Math.max(250, REQUEST_TIMEOUT_MS - (performance.now() - started));
    const query = sql`select (case when current_setting('synchronous_commit') = 'off' then pg_catalog.pg_current_wal_insert_lsn()
                                   else pg_catalog.pg_current_wal_flush_lsn() end)::text as lsn`;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const [r] = await Promise.race([query, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), left)))]).finally(() => clearTimeout(timer));
    lsn = parseLsn(String(r?.lsn ?? ''));
  } catch {
    // The write is committed whatever happens here (so no error for the client).
  }
  if (lsn === null) {
    // Without the write's position, this instance sends the caller's reads to the primary for a while.
    pinned.set(key, Date.now() + PRIMARY_WINDOW_MS);
    if (pinned.size > 10_000) for (const [k, until] of pinned) if (until <= Date.now() || pinned.size > 10_000) pinned.delete(k);
    return;
  }
  const fence = fenceFromInsertLsn(lsn);
  fences.record(key, fence);
  if (result instanceof Response) result.headers.set('X-Commit-LSN', formatLsn(fence));
}

function readAfterHeader(req: Request): bigint | null {
  const raw = req.headers.get('x-read-after-lsn');
  if (raw === null || raw.trim() === '') return null;
  const lsn = parseLsn(raw);
  if (lsn === null) {
    throw badRequest('invalid_header', 'X-Read-After-LSN must be a WAL position such as 0/16B3748: send back the X-Commit-LSN of your last write, or leave the header out.');
  }
  return lsn;
}

const CONNECTION_CODES = new Set([
  'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'EAI_AGAIN', 'EPIPE',
]);

/** The replica cannot be reached or will not take us (down, starting, wrong credentials, no such database). */
function replicaDown(e: unknown): boolean {
  const code = String((e as { code?: unknown })?.code ?? '');
  return CONNECTION_CODES.has(code) || code.startsWith('08') || code.startsWith('28') || code === '3D000' || code.startsWith('57P') || code.startsWith('53');
}

/**
 * Errors that say nothing about the request, only about the replica: it is unreachable, or it cancelled
 * the query (a recovery conflict is 40001, a timeout 57014, a lock replayed from the primary 55P03). The
 * read runs again on the primary. Anything else (a 404, AJC codes, bad values) would fail there the same.
 */
function replicaTrouble(e: unknown): boolean {
  if (e instanceof HttpError) return false;
  const code = String((e as { code?: unknown })?.code ?? '');
  return replicaDown(e) || ['40001', '40P01', '57014', '55P03'].includes(code) || code.startsWith('58');
}

function skipReplica(e: unknown): void {
  const first = replicaSkipUntil <= Date.now();
  replicaSkipUntil = Date.now() + REPLICA_RETRY_MS;
  if (first) {
    const err = e as { code?: unknown; message?: unknown };
    console.warn(`read replica unavailable (${String(err.code ?? '')} ${String(err.message ?? '')}); reads go to the primary for ${REPLICA_RETRY_MS} ms`);
  }
}
