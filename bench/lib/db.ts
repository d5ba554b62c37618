/**
 * Databases for the scenarios: on PGlite (default) a fresh in-memory database with every migration applied
 * (cloned from the cached template); on a real server (`--database-url` / `--native`) a throwaway database
 * cloned from the server's migrated template (`create database … template ajc_tpl_<key>`), dropped on close.
 * Plus helpers to put the v2 side back to "just migrated" between variants.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import postgres from 'postgres';
import { openPostgres, type Db, type Queryable } from '../../ops/db.ts';
import { projectRoot } from '../../ops/migrations/runner.ts';
import { openMigrated as openPGliteMigrated } from '../../devstack/templates/pglite.ts';
import { createScratchDatabase, dropDatabases, ensureServerTemplate } from '../../devstack/templates/server.ts';

let serverUrl: string | undefined;
let template: Promise<string> | undefined;
let counter = 0;
const scratchPrefix = `ajc_bench_${process.pid}_`;

/** Runs every later scenario on this server (a superuser URL); undefined = embedded PGlite. */
export function useServer(url: string | undefined): void {
  serverUrl = url;
  template = undefined;
}
export const benchEngine = (): 'pglite' | 'native' => (serverUrl ? 'native' : 'pglite');
export const benchServerUrl = () => serverUrl;

/** A fresh migrated database, one session (PGlite, or one connection to a scratch database on the server). */
export async function openMigrated(): Promise<Db> {
  if (!serverUrl) return openPGliteMigrated();
  const tpl = await (template ??= ensureServerTemplate(serverUrl));
  const scratch = await createScratchDatabase(serverUrl, `${scratchPrefix}${++counter}`, tpl);
  const inner = await openPostgres(scratch.url, { max: 1 });
  return {
    ...inner,
    async close() {
      await inner.close();
      await scratch.drop();
    },
  };
}

/** Drops the scratch databases this process left behind (a scenario that threw before closing). */
export async function dropScratch(): Promise<void> {
  if (serverUrl) await dropDatabases(serverUrl, scratchPrefix).catch(() => {});
}

/** Another real session on the same server database (native only: PGlite is one session). */
export async function openSession(db: Db, max = 1): Promise<Db> {
  if (!db.url) throw new Error('a second session needs a server database (--database-url or --native): PGlite is one session');
  return openPostgres(db.url, { max });
}

/**
 * Bulk load in COPY text format: PGlite's in-process COPY, or a COPY FROM STDIN stream through postgres.js on a
 * server (text is written in pieces as it is produced: `write` is called with chunks of lines).
 */
export async function copyRows(db: Db, into: string, produce: (write: (lines: string) => Promise<void>) => Promise<void>): Promise<void> {
  if (db.copyIn) {
    const parts: string[] = [];
    await produce(async (lines) => {
      parts.push(lines);
    });
    await db.copyIn(into, parts.join(''));
    return;
  }
  const sql = postgres(db.url!, { max: 1, onnotice: () => {} });
  try {
    const stream = await sql.unsafe(`copy ${into} from stdin`).writable();
    let failed: Error | null = null;
    stream.on('error', (e: Error) => {
      failed = e;
    });
    await produce(async (lines) => {
      if (failed) throw failed;
      if (stream.write(lines)) return;
      await new Promise<void>((resolve, reject) => {
        const onError = (e: Error) => reject(e);
        stream.once('error', onError);
        stream.once('drain', () => {
          stream.off('error', onError);
          resolve();
        });
      });
    });
    if (failed) throw failed;
    await new Promise<void>((resolve, reject) => {
      stream.on('error', reject);
      stream.on('finish', resolve);
      stream.end();
    });
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Tables the v2 migration owns and a backfill writes to (truncated between variants). */
const V2_TABLES = [
  'public.conversation_sessions',
  'public.chat_messages_v2',
  'public.chat_message_revisions',
  'public.chat_message_attachments',
  'public.chat_tool_calls',
  'public.agent_memories',
  'public.agent_states',
  'public.context_snapshots',
  'public.state_checkpoints',
  'public.policy_events',
];
/** Ledger tables of the data migration (the mode singleton is left alone). */
const LEDGER_TABLES = ['chat_migration.runs', 'chat_migration.batches', 'chat_migration.quarantine', 'chat_migration.migrated_states'];

export async function existingTables(db: Queryable, names: string[]): Promise<string[]> {
  const rows = await db.query<{ name: string; ok: boolean }>(
    `select n as name, to_regclass(n) is not null as ok from unnest($1::text[]) as n`,
    [names],
  );
  return rows.filter((r) => r.ok).map((r) => r.name);
}

/** Empties every v2 table and the migration ledger: the state right after `supabase db push`. */
export async function resetV2(db: Queryable): Promise<void> {
  const tables = await existingTables(db, [...V2_TABLES, ...LEDGER_TABLES]);
  if (tables.length) await db.exec(`truncate ${tables.join(', ')} restart identity cascade`);
}

export async function hasFunction(db: Queryable, signature: string): Promise<boolean> {
  const [r] = await db.query<{ ok: boolean }>(`select to_regprocedure($1) is not null as ok`, [signature]);
  return r?.ok === true;
}

export async function hasTable(db: Queryable, name: string): Promise<boolean> {
  return (await existingTables(db, [name])).length === 1;
}

/** A bench-only SQL file under bench/sql (never a migration: `supabase db push` must not see it). */
export async function loadBenchSql(db: Queryable, file: string): Promise<void> {
  await db.exec(await readFile(join(projectRoot, 'bench', 'sql', file), 'utf8'));
}

/** Engine versions (and, on a server, the settings that shape the figures) for the results' machine block. */
export async function engineVersions(db: Db) {
  const [v] = await db.query<{ version: string }>(`select version()`);
  await db.exec(`create extension if not exists vector with schema extensions`);
  const [ext] = await db.query<{ extversion: string }>(`select extversion from pg_extension where extname = 'vector'`);
  const pkg = async (name: string) =>
    JSON.parse(await readFile(join(projectRoot, 'node_modules', name, 'package.json'), 'utf8')).version as string;
  const base = {
    engine: benchEngine(),
    postgres: (v?.version ?? '').split(' on ')[0] ?? '',
    pgvector: ext?.extversion ?? 'unknown',
  };
  if (!serverUrl) return { ...base, pglite: await pkg('@electric-sql/pglite'), pglite_pgvector: await pkg('@electric-sql/pglite-pgvector') };
  const settings = await db.query<{ name: string; setting: string }>(
    `select name, current_setting(name) as setting from unnest(array['shared_buffers', 'work_mem', 'maintenance_work_mem',
       'max_parallel_workers_per_gather', 'max_parallel_maintenance_workers', 'jit', 'synchronous_commit', 'wal_level', 'max_wal_size']) as name`,
  );
  return { ...base, server_settings: Object.fromEntries(settings.map((r) => [r.name, r.setting])) };
}

/** EXPLAIN (ANALYZE, BUFFERS) text of one statement, for the docs when a goal is missed. */
export async function explain(db: Queryable, sql: string, params?: unknown[]): Promise<string> {
  const rows = await db.query<Record<string, string>>(`explain (analyze, buffers, costs off, timing on) ${sql}`, params);
  return rows.map((r) => Object.values(r)[0]).join('\n');
}
