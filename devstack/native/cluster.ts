/**
 * A throwaway native PostgreSQL 15 cluster for the native lane (`npm run db:native`): data in `.data/pg15`,
 * listening on 127.0.0.1 only, on a free port that is remembered (the same URL while it runs, and again
 * after a restart when that port is still free), with pg_cron preloaded and Supabase-like settings.
 *
 * initdb and the server refuse to run as root: as root, every server command runs as the `postgres` OS
 * user (created by Debian's postgresql-common) through runuser, and the data directory belongs to it.
 * Otherwise they run as the current user.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import postgres from 'postgres';
import { ensureInstalled, isRoot, pgBinDir, PG_MAJOR, run, type Log } from './provision.ts';

export { NativeUnavailableError } from './provision.ts';

/** The superuser and its password (like `supabase start`'s local database). */
export const SUPERUSER = 'postgres';
export const PASSWORD = 'postgres';
/** Our settings, rewritten at every start (so a changed setting applies on the next one). */
export const SETTINGS_FILE = 'advanced-json-chat.conf';

export const nativeDataDir = (root: string) => join(root, '.data', `pg${PG_MAJOR}`);

export interface NativeCluster {
  /** postgresql://postgres:postgres@127.0.0.1:PORT/postgres — a superuser. */
  url: string;
  port: number;
  dataDir: string;
  /** false when this call started it (or created it). */
  wasRunning: boolean;
}

export const urlFor = (port: number, database = 'postgres') =>
  `postgresql://${SUPERUSER}:${PASSWORD}@127.0.0.1:${port}/${database}`;

/**
 * Settings on top of initdb's defaults. What hosted Supabase sets that matters to this project: pg_cron
 * preloaded (its jobs run in `postgres`, through background workers rather than libpq logins), UTC, and a
 * search_path that reaches the `extensions` schema. WAL settings already allow a streaming standby.
 */
export function settings(port: number): string {
  return [
    '# Written by `npm run db:native` at every start; edit devstack/native/cluster.ts instead.',
    `port = ${port}`,
    "listen_addresses = '127.0.0.1'",
    "unix_socket_directories = ''",
    'max_connections = 300',
    "shared_preload_libraries = 'pg_cron'",
    "cron.database_name = 'postgres'",
    'cron.use_background_workers = on',
    'max_worker_processes = 32',
    `search_path = '"$user", public, extensions'`,
    "timezone = 'UTC'",
    "log_timezone = 'UTC'",
    "password_encryption = 'scram-sha-256'",
    // Streaming replication (`npm run db:native -- --replica`, devstack/native/replica.ts): the standby holds a
    // physical slot so the primary keeps the WAL it has not received yet, but never more than this — past
    // it the slot is invalidated and the next `--replica` start rebuilds the standby from a fresh base backup.
    'wal_level = replica',
    'max_wal_senders = 10',
    "max_slot_wal_keep_size = '2GB'",
    'hot_standby = on',
    // IVFFlat builds on the memory table want more than the 64MB default (Supabase gives ≥ 64MB too).
    "maintenance_work_mem = '256MB'",
    '',
  ].join('\n');
}

export interface Pid {
  pid: number;
  port: number;
  status: string;
}

export function readPidFile(dataDir: string): Pid | null {
  const f = join(dataDir, 'postmaster.pid');
  if (!existsSync(f)) return null;
  const lines = readFileSync(f, 'utf8').split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port)) return null;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return null; // stale pid file
  }
  return { pid, port, status: (lines[7] ?? '').trim() };
}

function serverUser(): { uid: number; gid: number } | null {
  if (!isRoot()) return null;
  try {
    const uid = Number(execFileSync('id', ['-u', SUPERUSER]).toString().trim());
    const gid = Number(execFileSync('id', ['-g', SUPERUSER]).toString().trim());
    return { uid, gid };
  } catch {
    throw new Error(`Running as root, but there is no \`${SUPERUSER}\` OS user to run the server as (Debian's postgresql-common creates it).`);
  }
}

/** The command line that runs a server binary as the right OS user. */
function asServer(bin: string, args: string[]): [string, string[]] {
  const path = join(pgBinDir, bin);
  return isRoot() ? ['runuser', ['-u', SUPERUSER, '--', path, ...args]] : [path, args];
}

export async function serverRun(bin: string, args: string[], log: Log): Promise<string> {
  const [cmd, argv] = asServer(bin, args);
  const r = await run(cmd, argv, { log, quiet: true });
  if (r.code !== 0) throw new Error(`${bin} ${args.join(' ')} failed (exit ${r.code}):\n${r.out.trim()}`);
  return r.out;
}

export async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export async function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export function rememberedPort(dataDir: string): number | null {
  const f = join(dataDir, SETTINGS_FILE);
  if (!existsSync(f)) return null;
  const m = /^port = (\d+)$/m.exec(readFileSync(f, 'utf8'));
  return m ? Number(m[1]) : null;
}

export async function ownFile(path: string, mode: number) {
  const user = serverUser();
  if (user) await chown(path, user.uid, user.gid);
  await chmod(path, mode);
}

async function initCluster(dataDir: string, log: Log): Promise<void> {
  log(`creating a PostgreSQL ${PG_MAJOR} cluster in ${dataDir}…`);
  await mkdir(dataDir, { recursive: true });
  await ownFile(dataDir, 0o700);
  if (isRoot()) {
    // The postgres user must be able to reach the data directory through every parent.
    const probe = await run('runuser', ['-u', SUPERUSER, '--', 'test', '-x', dataDir], { quiet: true });
    if (probe.code !== 0) {
      throw new Error(
        `The \`${SUPERUSER}\` OS user cannot reach ${dataDir}: a parent directory is not searchable by others. ` +
          'Move the checkout (e.g. under /srv or /work) or `chmod o+x` its parents.',
      );
    }
  }
  const pwfile = `${dataDir}.pw`;
  await writeFile(pwfile, `${PASSWORD}\n`, { mode: 0o600 });
  await ownFile(pwfile, 0o600);
  try {
    await serverRun(
      'initdb',
      ['-D', dataDir, '-U', SUPERUSER, `--pwfile=${pwfile}`, '--auth-host=scram-sha-256', '--auth-local=peer', '-E', 'UTF8', '--locale=C.UTF-8', '--no-instructions'],
      log,
    );
  } finally {
    await rm(pwfile, { force: true });
  }
  const conf = join(dataDir, 'postgresql.conf');
  await writeFile(conf, `${readFileSync(conf, 'utf8')}\ninclude_if_exists = '${SETTINGS_FILE}'\n`);
}

async function probe(url: string): Promise<string[]> {
  const sql = postgres(url, { max: 1, connect_timeout: 10, onnotice: () => {}, idle_timeout: 1 });
  try {
    const rows = await sql<{ name: string }[]>`select name from pg_available_extensions where name in ('vector', 'pg_cron', 'pgtap') order by 1`;
    return rows.map((r) => r.name);
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/**
 * A running server whose settings file is older than this code's (e.g. before the replication settings)
 * gets the new file and a reload, so settings that a reload applies take effect without a restart; the
 * others are named.
 */
export async function refreshSettings(dataDir: string, port: number, url: string, log: Log, text = settings(port)): Promise<void> {
  const path = join(dataDir, SETTINGS_FILE);
  if (existsSync(path) && readFileSync(path, 'utf8') === text) return;
  await writeFile(path, text);
  await ownFile(path, 0o600);
  const sql = postgres(url, { max: 1, connect_timeout: 10, onnotice: () => {}, idle_timeout: 1 });
  try {
    await sql`select pg_reload_conf()`;
    // pending_restart is set by the postmaster's reload, which the backend sees on its next statement.
    await new Promise((r) => setTimeout(r, 200));
    const pending = await sql<{ name: string }[]>`select name from pg_settings where pending_restart order by 1`;
    log(`settings updated and reloaded${pending.length ? `; restart (npm run db:native -- stop, then start) to apply ${pending.map((p) => p.name).join(', ')}` : ''}`);
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/** Installs (when needed), creates (when needed) and starts (when stopped) the cluster; returns its URL. */
export async function ensureNativeCluster(opts: { root: string; log: Log; dataDir?: string }): Promise<NativeCluster> {
  const { log } = opts;
  const dataDir = opts.dataDir ?? nativeDataDir(opts.root);
  await ensureInstalled({ root: opts.root, log });

  if (existsSync(dataDir)) {
    try {
      accessSync(dataDir, constants.R_OK | constants.X_OK);
    } catch {
      throw new Error(`${dataDir} belongs to another OS user (as root, db:native runs the server as \`${SUPERUSER}\`): run it as root again (sudo npm run db:native).`);
    }
  }
  const running = readPidFile(dataDir);
  if (running && running.status === 'ready') {
    const url = urlFor(running.port);
    await probe(url);
    await refreshSettings(dataDir, running.port, url, log);
    return { url, port: running.port, dataDir, wasRunning: true };
  }
  if (!existsSync(join(dataDir, 'PG_VERSION'))) await initCluster(dataDir, log);
  else if (running) throw new Error(`The server in ${dataDir} (pid ${running.pid}) is ${running.status || 'starting'}; try again in a moment or run \`npm run db:native -- stop\`.`);

  const remembered = rememberedPort(dataDir);
  const port = remembered && (await portFree(remembered)) ? remembered : await anyFreePort();
  const settingsPath = join(dataDir, SETTINGS_FILE);
  await writeFile(settingsPath, settings(port));
  await ownFile(settingsPath, 0o600);
  log(`starting PostgreSQL ${PG_MAJOR} on 127.0.0.1:${port}…`);
  await serverRun('pg_ctl', ['-D', dataDir, '-l', join(dataDir, 'server.log'), '-w', '-t', '60', 'start'], log).catch((e: Error) => {
    const logFile = join(dataDir, 'server.log');
    const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-12).join('\n') : '';
    throw new Error(`${e.message}\n${tail}`);
  });
  const url = urlFor(port);
  const available = await probe(url);
  for (const ext of ['vector', 'pg_cron', 'pgtap']) {
    if (!available.includes(ext)) throw new Error(`The server started, but extension ${ext} is not available to it.`);
  }
  return { url, port, dataDir, wasRunning: false };
}

/** Stops the cluster (fast shutdown: open sessions are rolled back). Returns false when it was not running. */
export async function stopNativeCluster(opts: { root: string; log: Log; dataDir?: string }): Promise<boolean> {
  const dataDir = opts.dataDir ?? nativeDataDir(opts.root);
  if (!readPidFile(dataDir)) return false;
  await serverRun('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', '-t', '60', 'stop'], opts.log);
  return true;
}
