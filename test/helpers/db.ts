/**
 * The single place tests get a database. Two engines, same call:
 *  - default (`npm test`): a fresh in-memory PGlite loaded from the migrated template tarball;
 *  - native lane (`npm run test:native` sets AJC_TEST_SERVER_URL to a superuser URL): a real database
 *    cloned from the migrated template on that server (`create database … template ajc_tpl_<key>`), one
 *    per call, dropped — sessions and all — when the Db is closed.
 * On the native lane `openSession(db)` opens more real sessions on the same database (race tests).
 */
import { openPostgres, type Db, type Queryable } from '../../ops/db.ts';
import { openMigrated as openPGliteMigrated } from '../../devstack/templates/pglite.ts';
import { openEmbedded, pgliteOf } from '../../devstack/pglite/engine.ts';
import { createScratchDatabase, databaseUrl, ensureServerTemplate } from '../../devstack/templates/server.ts';
import { serveSocket } from '../../devstack/pglite/socket.ts';
import { fenceFromInsertLsn, formatLsn, parseLsn } from '../../supabase/functions/_shared/lsn.ts';

/** Superuser URL of the server the native lane runs on; undefined on the PGlite lane. */
export const testServerUrl: string | undefined = process.env.AJC_TEST_SERVER_URL || undefined;
export const engine: 'pglite' | 'native' = testServerUrl ? 'native' : 'pglite';
export const onNative = engine === 'native';
/**
 * Superuser URL of a streaming hot standby of that server (`npm run test:native` starts one with
 * `db:native -- --replica`); undefined on PGlite or when `test:native --database-url` got no --replica-url.
 */
export const testReplicaUrl: string | undefined = (testServerUrl && process.env.AJC_TEST_REPLICA_URL) || undefined;

/** Prefix of every database this test run creates (global teardown drops leftovers). */
export const scratchPrefix = `ajc_t_${process.env.AJC_TEST_RUN_ID ?? 'local'}_`;
let counter = 0;
let template: Promise<string> | undefined;
const extraSessions = new WeakMap<Db, Set<Db>>();

async function openScratch(from: 'migrated' | 'empty'): Promise<Db> {
  const server = testServerUrl!;
  const source = from === 'empty' ? 'template0' : await (template ??= ensureServerTemplate(server));
  const scratch = await createScratchDatabase(server, `${scratchPrefix}${process.pid}_${++counter}`, source);
  const inner = await openPostgres(scratch.url, { max: 1 });
  const extra = new Set<Db>();
  const db: Db = {
    ...inner,
    async close() {
      for (const s of extra) await s.close().catch(() => {});
      await inner.close();
      await scratch.drop();
    },
  };
  extraSessions.set(db, extra);
  return db;
}

/** A fresh database with the platform shim and every migration applied. One session (like PGlite). */
export async function openMigrated(): Promise<Db> {
  return testServerUrl ? openScratch('migrated') : openPGliteMigrated();
}

/** A fresh database with nothing applied (no shim, no migrations). On the native lane the API roles
 * still exist — roles are cluster-wide — so the shim only adds the schemas and privileges. */
export async function openEmpty(): Promise<Db> {
  return testServerUrl ? openScratch('empty') : openEmbedded();
}

/**
 * Another real session (its own connection pool, `max` connections, default 1) on the same database as
 * `db`; closed with it. Native lane only: PGlite is one session, so there is nothing to open.
 */
export async function openSession(db: Db, opts: { max?: number } = {}): Promise<Db> {
  const extra = extraSessions.get(db);
  if (!db.url || !extra) {
    throw new Error('openSession needs a database from openMigrated()/openEmpty() on the native lane (npm run test:native): PGlite is a single session.');
  }
  const s = await openPostgres(db.url, { max: opts.max ?? 1 });
  extra.add(s);
  return s;
}

/**
 * A URL other processes (our CLIs, the Supabase CLI, Deno) connect to for `db`: on the native lane the
 * server database itself, on PGlite a pglite-socket in front of it (one client at a time).
 */
export async function serveDb(db: Db): Promise<{ url: string; stop(): Promise<void> }> {
  if (db.url) return { url: db.url, stop: async () => {} };
  return serveSocket(pgliteOf(db)!);
}

/** The same database as `db` on the hot standby (streaming replication copies every database). */
export function replicaUrl(db: Db): string {
  if (!testReplicaUrl || !db.url) throw new Error('replicaUrl needs the native lane with its replica (npm run test:native).');
  return databaseUrl(testReplicaUrl, decodeURIComponent(new URL(db.url).pathname.slice(1)));
}

/**
 * Until the standby has replayed everything the primary had inserted into its WAL when this was called (so a
 * database just cloned, and rows just committed — and the X-Commit-LSN fences handed out for them — are
 * there). Throws when replay does not get there in time.
 */
export async function replicaCaughtUp(db: Db, timeoutMs = 30_000): Promise<void> {
  const [inserted] = await db.query<{ lsn: string }>(`select pg_current_wal_insert_lsn()::text as lsn`);
  const p = { lsn: formatLsn(fenceFromInsertLsn(parseLsn(inserted!.lsn)!)) };
  const standby = await openPostgres(databaseUrl(testReplicaUrl!, 'postgres'), { max: 1 });
  try {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const [r] = await standby.query<{ ok: boolean; at: string }>(`select pg_last_wal_replay_lsn() >= $1::text::pg_lsn as ok, pg_last_wal_replay_lsn()::text as at`, [p.lsn]);
      if (r!.ok) return;
      if (Date.now() > until) throw new Error(`the standby replayed up to ${r!.at}, not ${p.lsn}, within ${timeoutMs} ms`);
      await new Promise((res) => setTimeout(res, 20));
    }
  } finally {
    await standby.close();
  }
}

/** Creates an auth user (as postgres, the way Supabase Auth would) and returns its id. */
export async function createUser(db: Queryable, email?: string): Promise<string> {
  const rows = await db.query<{ id: string }>(
    `insert into auth.users (id, email, aud, role) values (gen_random_uuid(), $1, 'authenticated', 'authenticated') returning id`,
    [email ?? `${Math.random().toString(36).slice(2)}@example.test`],
  );
  return rows[0]!.id;
}

export type Actor = { role: 'anon' } | { role: 'service_role' } | { role: 'authenticated'; sub: string };

/** Runs `fn` in a transaction as the given API role with PostgREST-style JWT claims. */
export async function as<T>(db: Db, actor: Actor, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    const claims = actor.role === 'authenticated' ? { sub: actor.sub, role: 'authenticated' } : { role: actor.role };
    await tx.query(`select set_config('request.jwt.claims', $1, true)`, [JSON.stringify(claims)]);
    await tx.query(`set local role ${actor.role}`);
    return fn(tx);
  });
}
