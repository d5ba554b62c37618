/**
 * Databases for the scenarios: a fresh in-memory PGlite with every migration applied (cloned from the cached
 * template), plus helpers to put the v2 side back to "just migrated" between variants.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Db, Queryable } from '../../ops/db.ts';
import { projectRoot } from '../../ops/migrations/runner.ts';
import { openMigrated } from '../../devstack/templates/pglite.ts';

export { openMigrated };

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

/** Engine versions for the results' machine block. */
export async function engineVersions(db: Db) {
  const [v] = await db.query<{ version: string }>(`select version()`);
  await db.exec(`create extension if not exists vector with schema extensions`);
  const [ext] = await db.query<{ extversion: string }>(`select extversion from pg_extension where extname = 'vector'`);
  const pkg = async (name: string) =>
    JSON.parse(await readFile(join(projectRoot, 'node_modules', name, 'package.json'), 'utf8')).version as string;
  return {
    postgres: (v?.version ?? '').split(' on ')[0] ?? '',
    pglite: await pkg('@electric-sql/pglite'),
    pglite_pgvector: await pkg('@electric-sql/pglite-pgvector'),
    pgvector: ext?.extversion ?? 'unknown',
  };
}

/** EXPLAIN (ANALYZE, BUFFERS) text of one statement, for the docs when a goal is missed. */
export async function explain(db: Queryable, sql: string, params?: unknown[]): Promise<string> {
  const rows = await db.query<Record<string, string>>(`explain (analyze, buffers, costs off, timing on) ${sql}`, params);
  return rows.map((r) => Object.values(r)[0]).join('\n');
}
