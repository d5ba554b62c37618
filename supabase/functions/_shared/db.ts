/**
 * Direct Postgres over `SUPABASE_DB_URL` (postgres.js, small bounded pool). Every request runs in ONE
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
import { HttpError, positiveMs } from './http.ts';

const url = Deno.env.get('SUPABASE_DB_URL') ?? Deno.env.get('DATABASE_URL');
if (!url) throw new Error('SUPABASE_DB_URL is not set');

export const REQUEST_TIMEOUT_MS = positiveMs('REQUEST_TIMEOUT_MS', 5_000);

export const sql = postgres(url, {
  max: Number(Deno.env.get('DB_POOL_MAX') ?? '4'),
  // Unnamed statements only: transaction poolers (Supavisor) and the local single-session socket
  // cannot keep named prepared statements apart.
  prepare: false,
  idle_timeout: 20,
  // Every row leaves as jsonb built in SQL, so postgres.js needs no array-type catalogue lookup per
  // connection (a catalog query that costs most of a cold first request on the local stack).
  fetch_types: false,
  // A connection attempt is bounded too (postgres.js counts whole seconds); a second longer than the
  // request deadline, so a request that waits on a slow connect answers the deadline's 503 first.
  connect_timeout: Math.ceil(REQUEST_TIMEOUT_MS / 1000) + 1,
  onnotice: () => {},
  connection: { application_name: 'advanced-json-chat-functions' },
});

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

export async function asCaller<T>(caller: Caller, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const started = performance.now();
  let abandoned = false;
  let committing = false;
  const live = () => {
    if (abandoned) throw new Abandoned('request abandoned at its deadline');
  };
  const work = sql.begin(async (tx) => {
    live(); // the deadline may have passed while this waited for a connection
    const left = Math.max(1, Math.floor(REQUEST_TIMEOUT_MS - (performance.now() - started)));
    // caller.role is one of three literals (auth.ts), never a client-chosen string.
    await tx`select set_config('role', ${caller.role}, true),
                    set_config('request.jwt.claims', ${JSON.stringify(caller.claims)}, true),
                    set_config('request.jwt.claim.sub', '', true),
                    set_config('request.jwt.claim.role', '', true),
                    set_config('statement_timeout', ${String(left)}, true),
                    set_config('lock_timeout', ${String(left)}, true),
                    set_config('idle_in_transaction_session_timeout', ${String(left)}, true)`;
    const result = await fn(guarded(tx, live));
    live(); // check before commit: a request that already answered 503 must not commit
    committing = true;
    return result;
  }) as Promise<T>;
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
      reject(databaseBusy());
    };
    timer = setTimeout(fire, REQUEST_TIMEOUT_MS);
  });
  deadline.catch(() => {});
  try {
    return await Promise.race([work, deadline]);
  } catch (e) {
    if (e instanceof Abandoned) throw databaseBusy();
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
