/**
 * The local stack — `supabase start` without Docker:
 *   embedded PGlite (data dir or memory) with every migration applied
 *   → pglite-socket (internal port) → session-lock proxy on the db port (psql, Supabase CLI, Deno)
 *   → one Deno process per edge function behind a gateway on the API port (`/functions/v1/<name>`).
 *
 * With `databaseUrl` (`npm start -- --database-url URL`) the database is an existing Postgres instead:
 * migrations applied there, and each function talks to it through its own postgres.js pool — no socket,
 * no session-lock proxy, so parallel requests really run in parallel.
 *
 * `scripts/start.ts` is a thin CLI over `startStack`; the e2e tests start one stack per file with free
 * ports and an in-memory database.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openEmbedded, pgliteOf, pgliteStartupSql } from '../pglite/engine.ts';
import { openPostgres, type Db } from '../../ops/db.ts';
import { acquireDataDirLock, DataDirInUseError, displayDir } from '../pglite/lock.ts';
import { applySeed, appliedVersions, projectRoot } from '../../ops/migrations/runner.ts';
import { migrateWithShim } from '../platform.ts';
import { freePort, serveSocket } from '../pglite/socket.ts';
import { openMigrated } from '../templates/pglite.ts';
import { serveFunctions } from './functions.ts';
import { LOCAL_JWT_SECRET, signApiKey } from './keys.ts';
import { serveSessionProxy } from './pg-proxy.ts';

export interface StackOptions {
  /**
   * An existing Postgres (superuser or the migrations' owner) to serve instead of the embedded database:
   * migrated on start (seeded when it had no migrations yet), no socket, no proxy; `dataDir`, `reset` and
   * `dbPort` do not apply.
   */
  databaseUrl?: string;
  /**
   * A read replica of that server (`SUPABASE_DB_URL_READ` for the functions): reads go there once it has
   * replayed the caller's writes, and to the primary whenever it is down or behind.
   */
  readUrl?: string;
  /** Data directory of the embedded database; `null` for an in-memory one (tests). Default `.data/db`. */
  dataDir?: string | null;
  /** Delete the data directory first and migrate from scratch. */
  reset?: boolean;
  /** Postgres wire port; 0 picks a free one. Default 54322. */
  dbPort?: number;
  /** Functions gateway port; 0 picks a free one. Default 54321. */
  apiPort?: number;
  host?: string;
  /** Serve only these functions (default: all under supabase/functions). */
  functions?: string[];
  jwtSecret?: string;
  /** Extra environment for the functions (e.g. SUPABASE_JWKS_URL). */
  functionEnv?: Record<string, string>;
  /** Apply supabase/seed.sql when the database is created (default true, like `supabase start`). */
  seed?: boolean;
  log?: (line: string) => void;
}

export interface Stack {
  apiUrl: string;
  functionsUrl: string;
  dbUrl: string;
  /** The read replica the functions read from, if any. */
  readUrl: string | null;
  dbPort: number;
  apiPort: number;
  jwtSecret: string;
  anonKey: string;
  serviceRoleKey: string;
  functions: string[];
  /** The embedded database itself, or a small pool on `databaseUrl` (the stack owns it; do not close it). */
  db: Db;
  /** Milliseconds from the call to every function accepting requests. */
  startupMs: number;
  stop(): Promise<void>;
}

/** One line on what the read URL is right now; the functions cope with whatever it becomes later. */
async function describeReplica(readUrl: string, log: (line: string) => void): Promise<void> {
  let replica: Db | undefined;
  try {
    replica = await openPostgres(readUrl, { max: 1 });
    const [r] = await replica.query<{ standby: boolean; lag: string | null }>(
      `select pg_is_in_recovery() as standby,
              case when pg_is_in_recovery() then (extract(epoch from now() - pg_last_xact_replay_timestamp()) * 1000)::bigint::text end as lag`,
    );
    log(r!.standby ? `reads: a hot standby (last replayed commit ${r!.lag ?? '?'} ms ago)` : 'reads: the read URL is not a standby (reads still work; nothing is offloaded)');
  } catch (e) {
    log(`reads: the read URL does not answer yet (${(e as Error).message}); reads go to the primary until it does`);
  } finally {
    await replica?.close().catch(() => {});
  }
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const host = opts.host ?? '127.0.0.1';
  const jwtSecret = opts.jwtSecret ?? LOCAL_JWT_SECRET;
  const dataDir = opts.dataDir === undefined ? join(projectRoot, '.data', 'db') : opts.dataDir;
  const cleanups: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch (e) {
        log(`shutdown: ${(e as Error).message}`);
      }
    }
  };

  try {
    // The database (WASM start, data dir load, migration check) and the Deno workers (process start,
    // module load) take about the same time and barely share a core, so they start side by side: the
    // db port is fixed first, and the gateway holds requests until the database is up.
    const server = opts.databaseUrl ? new URL(opts.databaseUrl) : null;
    const dbPort = server ? Number(server.port || 5432) : opts.dbPort === 0 ? await freePort() : (opts.dbPort ?? 54322);
    const dbUrl = opts.databaseUrl ?? `postgresql://postgres:postgres@${host}:${dbPort}/postgres`;
    // The data directory's lock comes before anything starts: a second stack on the same directory is
    // refused at once, before it spawns a worker or touches a file.
    const lock = server || dataDir === null ? null : await acquireDataDirLock(dataDir, { stack: true }).catch((e: unknown) => {
      if (!(e instanceof DataDirInUseError)) throw e;
      const shown = displayDir(e.dir);
      throw new DataDirInUseError(
        e.dir,
        e.holder,
        `stop it first${e.holder.dbUrl ? ` (its database is ${e.holder.dbUrl})` : ''}, or start another stack on its own data: ` +
          `npm start -- --data-dir ${shown === '.data/db' ? '.data/db2' : `${shown}-2`} --db-port 0 --api-port 0`,
      );
    });
    if (lock) cleanups.push(async () => lock.release());
    const anonKey = await signApiKey('anon', jwtSecret);
    const serviceRoleKey = await signApiKey('service_role', jwtSecret);
    let openGate!: (ok: boolean) => void;
    const gate = new Promise<boolean>((r) => (openGate = r));

    const functionsStarting = serveFunctions({
      root: projectRoot,
      ...(opts.functions ? { names: opts.functions } : {}),
      port: opts.apiPort ?? 54321,
      host,
      log,
      gate,
      env: (apiUrl) => ({
        SUPABASE_URL: apiUrl,
        SUPABASE_DB_URL: dbUrl,
        ...(opts.readUrl ? { SUPABASE_DB_URL_READ: opts.readUrl } : {}),
        SUPABASE_JWT_SECRET: jwtSecret,
        SUPABASE_ANON_KEY: anonKey,
        SUPABASE_SERVICE_ROLE_KEY: serviceRoleKey,
        // The session-lock proxy serializes batches anyway; a small pool keeps Deno from queuing on it.
        // On a real server each function keeps the pool size of production (_shared/db.ts).
        ...(server ? {} : { DB_POOL_MAX: '2' }),
        ...opts.functionEnv,
      }),
    }).then((f) => {
      cleanups.push(() => f.stop());
      return f;
    });

    const databaseStarting = (async () => {
      let db: Db;
      if (opts.databaseUrl) {
        db = await openPostgres(opts.databaseUrl, { max: 2 });
        cleanups.push(() => db.close());
        const fresh = (await appliedVersions(db)).size === 0;
        const r = await migrateWithShim(db, { log });
        if (r.applied.length) log(`applied ${r.applied.length} migration(s)`);
        if (fresh && opts.seed !== false && (await applySeed(db))) log('applied supabase/seed.sql');
        if (opts.readUrl) await describeReplica(opts.readUrl, log);
        return db;
      }
      if (dataDir === null) {
        db = await openMigrated();
        cleanups.push(() => db.close());
      } else {
        const fresh = opts.reset === true || !existsSync(join(lock!.dir, 'PG_VERSION'));
        db = await openEmbedded({ dataDir: lock!.dir, lock: lock!, ...(opts.reset ? { reset: true } : {}) });
        cleanups.push(() => db.close());
        if (opts.reset) log(`reset: deleted ${displayDir(lock!.dir)} and created it again`);
        const r = await migrateWithShim(db, { log });
        if (r.applied.length) log(`applied ${r.applied.length} migration(s)`);
        if (fresh && opts.seed !== false && (await applySeed(db))) log('applied supabase/seed.sql');
      }
      const socket = await serveSocket(pgliteOf(db)!, { host });
      cleanups.push(() => socket.stop());
      const proxy = await serveSessionProxy({ upstreamPort: socket.port, upstreamHost: host, port: dbPort, host, sessionInitSql: pgliteStartupSql });
      cleanups.push(() => proxy.stop());
      lock?.update({ dbUrl });
      return db;
    })();

    const [fnsResult, dbResult] = await Promise.allSettled([functionsStarting, databaseStarting]);
    openGate(dbResult.status === 'fulfilled');
    if (dbResult.status === 'rejected') throw dbResult.reason;
    if (fnsResult.status === 'rejected') throw fnsResult.reason;
    const fns = fnsResult.value;
    const db = dbResult.value;
    lock?.update({ dbUrl, apiUrl: fns.url });

    return {
      apiUrl: fns.url,
      functionsUrl: `${fns.url}/functions/v1`,
      dbUrl,
      readUrl: opts.readUrl ?? null,
      dbPort,
      apiPort: fns.port,
      jwtSecret,
      anonKey,
      serviceRoleKey,
      functions: fns.names,
      db,
      startupMs: Math.round(performance.now() - t0),
      stop,
    };
  } catch (e) {
    await stop();
    const err = e as Error & { code?: string; port?: number; hint?: string };
    if (err.code === 'EADDRINUSE') {
      err.hint = `Port ${err.port ?? ''} is taken — another \`npm start\` or \`supabase start\` is running? Stop it, or pick ports with --db-port / --api-port (0 = any free port).`;
    }
    throw err;
  }
}
