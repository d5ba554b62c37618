/**
 * A streaming hot standby of the db:native cluster (`npm run db:native -- --replica`): data in
 * `.data/pg15-replica`, 127.0.0.1 only, on its own remembered free port, made with `pg_basebackup -R`
 * from the primary and kept current by streaming replication — Supabase's read replicas in miniature.
 *
 * Choices (docs/architecture.md, "Read replicas"):
 *  - a physical replication slot (`ajc_replica`) on the primary, so the primary keeps every WAL segment the
 *    standby has not received yet (a stopped standby catches up on its next start instead of needing a new
 *    base backup). Unbounded retention would let a forgotten standby fill the disk, so the primary caps it
 *    (`max_slot_wal_keep_size`, cluster.ts); past the cap the slot is invalidated (`wal_status = 'lost'`) and
 *    the next start rebuilds the standby from a fresh base backup;
 *  - `hot_standby_feedback = on`: the primary's vacuum keeps row versions a standby query still reads, so
 *    reads are not cancelled by recovery conflicts (the cost: a long standby query delays vacuum like one on
 *    the primary would; the functions' reads end within their deadline);
 *  - `cluster_name = 'ajc_replica'`: the name the primary shows in pg_stat_replication.application_name.
 *
 * Idempotent like the primary: a running, streaming standby of this primary is only probed. A standby that
 * belongs to another primary (the primary's data directory was recreated), or whose slot was dropped or
 * invalidated, is rebuilt. As root, every server command runs as the `postgres` OS user (cluster.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import postgres from 'postgres';
import {
  anyFreePort,
  ownFile,
  PASSWORD,
  portFree,
  readPidFile,
  rememberedPort,
  serverRun,
  settings,
  SETTINGS_FILE,
  SUPERUSER,
  urlFor,
  type NativeCluster,
} from './cluster.ts';
import { isRoot, pgBinDir, PG_MAJOR, run, type Log } from './provision.ts';

/** The primary's physical replication slot for the standby. */
export const REPLICA_SLOT = 'ajc_replica';
/** The standby's cluster_name: its application_name in the primary's pg_stat_replication. */
export const REPLICA_NAME = 'ajc_replica';

export const nativeReplicaDataDir = (root: string) => join(root, '.data', `pg${PG_MAJOR}-replica`);

function replicaSettings(port: number): string {
  return [
    settings(port).trimEnd(),
    '# The standby (npm run db:native -- --replica): see devstack/native/replica.ts.',
    `cluster_name = '${REPLICA_NAME}'`,
    'hot_standby_feedback = on',
    '',
  ].join('\n');
}

function connect(url: string) {
  return postgres(url, { max: 1, connect_timeout: 10, onnotice: () => {}, idle_timeout: 1, connection: { application_name: 'ajc-db-native' } });
}

/** The database system identifier of a stopped or running cluster, read from its pg_control. */
async function systemIdentifier(dataDir: string): Promise<string | null> {
  if (!existsSync(join(dataDir, 'global', 'pg_control'))) return null;
  const bin = join(pgBinDir, 'pg_controldata');
  const [cmd, argv] = isRoot() ? ['runuser', ['-u', SUPERUSER, '--', bin, '-D', dataDir]] : [bin, ['-D', dataDir]];
  const r = await run(cmd, argv, { quiet: true, env: { LC_ALL: 'C' } });
  return /^Database system identifier:\s+(\d+)$/m.exec(r.out)?.[1] ?? null;
}

interface PrimaryView {
  systemId: string;
  /** null when the slot does not exist. */
  slot: { walStatus: string | null; active: boolean } | null;
}

async function primaryView(primaryUrl: string): Promise<PrimaryView> {
  const sql = connect(primaryUrl);
  try {
    const [sys] = await sql<{ id: string }[]>`select system_identifier::text as id from pg_control_system()`;
    const [slot] = await sql<{ wal_status: string | null; active: boolean }[]>`
      select wal_status, active from pg_replication_slots where slot_name = ${REPLICA_SLOT}`;
    // initdb's pg_hba.conf already lets the superuser replicate from 127.0.0.1 with a password; a cluster
    // whose pg_hba.conf was edited gets the line back.
    const [hba] = await sql<{ n: number }[]>`
      select count(*)::int as n from pg_hba_file_rules
       where type = 'host' and 'replication' = any (database) and address = '127.0.0.1' and error is null`;
    if (!hba!.n) {
      const file = (await sql<{ f: string }[]>`select current_setting('hba_file') as f`)[0]!.f;
      await writeFile(file, `${readFileSync(file, 'utf8').trimEnd()}\nhost    replication     all             127.0.0.1/32            scram-sha-256\n`);
      await sql`select pg_reload_conf()`;
    }
    return { systemId: sys!.id, slot: slot ? { walStatus: slot.wal_status, active: slot.active } : null };
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/** What the standby says about itself; null when it does not answer as a standby. */
async function standbyStatus(url: string): Promise<{ inRecovery: boolean; receiver: string | null; paused: boolean } | null> {
  const sql = connect(url);
  try {
    const [r] = await sql<{ in_recovery: boolean; receiver: string | null; paused: boolean }[]>`
      select pg_is_in_recovery() as in_recovery, (select status from pg_stat_wal_receiver) as receiver,
             pg_is_in_recovery() and pg_is_wal_replay_paused() as paused`;
    return { inRecovery: r!.in_recovery, receiver: r!.receiver, paused: r!.paused };
  } catch {
    return null;
  } finally {
    await sql.end({ timeout: 2 });
  }
}

async function stopServer(dataDir: string, log: Log): Promise<void> {
  if (readPidFile(dataDir)) await serverRun('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', '-t', '60', 'stop'], log);
}

/** A new base backup of the primary into `dataDir`, through a freshly created slot. */
async function baseBackup(primary: NativeCluster, dataDir: string, log: Log): Promise<void> {
  const sql = connect(primary.url);
  try {
    await sql`select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = ${REPLICA_SLOT}`;
    // Reserve WAL from now on: nothing the backup needs can be recycled before the standby connects.
    await sql`select pg_create_physical_replication_slot(${REPLICA_SLOT}, true)`;
  } finally {
    await sql.end({ timeout: 2 });
  }
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true });
  await ownFile(dataDir, 0o700);
  log(`taking a base backup of the primary (127.0.0.1:${primary.port}) into ${dataDir}…`);
  // -R writes standby.signal and primary_conninfo (this connection string, password included: a local
  // throwaway cluster whose password is printed in its URL anyway); -X stream copies the WAL the backup
  // needs alongside; -c fast asks the primary for an immediate checkpoint instead of waiting for one.
  const conninfo = `host=127.0.0.1 port=${primary.port} user=${SUPERUSER} password=${PASSWORD} application_name=${REPLICA_NAME}`;
  await serverRun('pg_basebackup', ['-d', conninfo, '-D', dataDir, '-R', '-S', REPLICA_SLOT, '-X', 'stream', '-c', 'fast', '--no-sync'], log);
  // The copy brought the primary's log along; the standby writes its own.
  const logFile = join(dataDir, 'server.log');
  if (existsSync(logFile)) await truncate(logFile, 0);
}

export interface NativeReplica extends NativeCluster {
  /** true when this call took a new base backup. */
  rebuilt: boolean;
}

/**
 * Makes sure a streaming standby of `primary` runs; returns its URL (same superuser, other port). Waits until
 * its WAL receiver streams from the primary.
 */
export async function ensureNativeReplica(opts: { root: string; log: Log; primary: NativeCluster; dataDir?: string }): Promise<NativeReplica> {
  const { log, primary } = opts;
  const dataDir = opts.dataDir ?? nativeReplicaDataDir(opts.root);
  const view = await primaryView(primary.url);
  const slotUsable = view.slot !== null && view.slot.walStatus !== 'lost';
  const sameSystem = (await systemIdentifier(dataDir)) === view.systemId;
  const isStandby = existsSync(join(dataDir, 'standby.signal'));

  // Kept across a rebuild (the base backup replaces the directory that remembers it): the same URL.
  const remembered = rememberedPort(dataDir);
  const running = readPidFile(dataDir);
  if (running && (running.status === 'standby' || running.status === 'ready')) {
    const url = urlFor(running.port);
    const status = await standbyStatus(url);
    if (status?.inRecovery && slotUsable && sameSystem) {
      if (status.paused) log('note: WAL replay is paused on the standby (select pg_wal_replay_resume() there to resume).');
      await waitStreaming(url, dataDir);
      return { url, port: running.port, dataDir, wasRunning: true, rebuilt: false };
    }
    log(`the standby in ${dataDir} no longer follows this primary (${!sameSystem ? 'another cluster' : !slotUsable ? `slot ${REPLICA_SLOT} ${view.slot ? 'invalidated' : 'missing'}` : 'promoted'}); rebuilding it…`);
    await stopServer(dataDir, log);
  } else if (running) {
    throw new Error(`The standby in ${dataDir} (pid ${running.pid}) is ${running.status || 'starting'}; try again in a moment or run \`npm run db:native -- stop\`.`);
  }

  const rebuild = !sameSystem || !slotUsable || !isStandby;
  if (rebuild) await baseBackup(primary, dataDir, log);

  const port = remembered && remembered !== primary.port && (await portFree(remembered)) ? remembered : await anyFreePort();
  const settingsPath = join(dataDir, SETTINGS_FILE);
  await writeFile(settingsPath, replicaSettings(port));
  await ownFile(settingsPath, 0o600);
  log(`starting the PostgreSQL ${PG_MAJOR} standby on 127.0.0.1:${port}…`);
  await serverRun('pg_ctl', ['-D', dataDir, '-l', join(dataDir, 'server.log'), '-w', '-t', '120', 'start'], log).catch((e: Error) => {
    const logFile = join(dataDir, 'server.log');
    const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-12).join('\n') : '';
    throw new Error(`${e.message}\n${tail}`);
  });
  const url = urlFor(port);
  await waitStreaming(url, dataDir);
  return { url, port, dataDir, wasRunning: false, rebuilt: rebuild };
}

/** Until the standby's WAL receiver streams (it connects a moment after the server accepts queries). */
async function waitStreaming(url: string, dataDir: string, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = await standbyStatus(url);
    if (s && !s.inRecovery) throw new Error(`The server in ${dataDir} is not a standby (it was promoted); delete ${dataDir} and run \`npm run db:native -- --replica\` again.`);
    if (s?.receiver === 'streaming') return;
    if (Date.now() > until) {
      const logFile = join(dataDir, 'server.log');
      const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-12).join('\n') : '';
      throw new Error(`The standby started but does not stream from the primary (WAL receiver: ${s?.receiver ?? 'none'}).\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Stops the standby. Returns false when it was not running. */
export async function stopNativeReplica(opts: { root: string; log: Log; dataDir?: string }): Promise<boolean> {
  const dataDir = opts.dataDir ?? nativeReplicaDataDir(opts.root);
  if (!readPidFile(dataDir)) return false;
  await stopServer(dataDir, opts.log);
  return true;
}

