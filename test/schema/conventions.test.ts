/**
 * House-style invariants checked against the migrated catalog, so a later migration cannot quietly break them:
 * every foreign key has an index led by its column; every function in public pins search_path to '' and is
 * security invoker unless it is on the short list of definers that need the owner's rights; every v2 table
 * and function has a comment or a /** *\/ note in its migration (tables: `comment on table`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../ops/db.ts';
import { openMigrated } from '../helpers/db.ts';

let db: Db;
beforeAll(async () => {
  db = await openMigrated();
});
afterAll(async () => {
  await db?.close();
});

/** Functions that must run as the table owner, and why (see their comments in the migrations). */
const DEFINERS = new Set([
  'chat_messages_v2_before_update', // writes revisions users cannot write
  'chat_messages_v2_after_insert_metrics', // writes metric columns users cannot write
  'chat_messages_v2_after_update_metrics',
  'chat_messages_v2_after_delete_metrics',
  'agent_states_before_insert', // retires the previous current row; users cannot update agent_states
  'rebuild_agent_memory_index', // only the table owner may create / drop its indexes
  'replica_lag', // replication statistics are visible to pg_read_all_stats (the owner), not to service_role
]);

describe('conventions', () => {
  it('every foreign key column in public is the leading column of an index', async () => {
    const rows = await db.query<{ fk: string }>(`
      select c.conrelid::regclass::text || '.' || a.attname as fk
      from pg_constraint c
      join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
      where c.contype = 'f' and c.connamespace = 'public'::regnamespace
        and not exists (
          select 1 from pg_index i
          where i.indrelid = c.conrelid and i.indkey[0] = c.conkey[1]
        )
      order by 1`);
    expect(rows.map((r) => r.fk)).toEqual([]);
  });

  it('every v2 function pins search_path and is security invoker unless it must not be', async () => {
    const { readFile, readdir } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const { migrationsDir } = await import('../../ops/migrations/runner.ts');
    const names = new Set<string>();
    for (const f of (await readdir(migrationsDir)).filter((n) => n.startsWith('202508050744'))) {
      for (const m of (await readFile(join(migrationsDir, f), 'utf8')).matchAll(/create function public\.(\w+)/g)) names.add(m[1]!);
    }
    expect(names.size).toBeGreaterThan(20);
    const rows = await db.query<{ proname: string; prosecdef: boolean; config: string[] | null }>(
      `select proname, prosecdef, proconfig as config from pg_proc where pronamespace = 'public'::regnamespace and proname = any($1)`,
      [[...names]],
    );
    expect(rows.map((r) => r.proname).sort()).toEqual([...names].sort());
    for (const r of rows) {
      expect(r.config ?? [], r.proname).toContain('search_path=""');
      expect(r.prosecdef, r.proname).toBe(DEFINERS.has(r.proname));
    }
  });

  it('every v2 table has a comment', async () => {
    const rows = await db.query<{ relname: string }>(`
      select c.relname from pg_class c
      where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'
        and c.relname not in ('agents', 'chat_messages', 'chat_states')
        and obj_description(c.oid, 'pg_class') is null`);
    expect(rows).toEqual([]);
  });

  it('lowercase SQL in the v2 migration files (no upper-case keywords outside comments and strings)', async () => {
    const { readFile, readdir } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const { migrationsDir } = await import('../../ops/migrations/runner.ts');
    const keywords = /\b(CREATE|TABLE|SELECT|INSERT|UPDATE|DELETE|FROM|WHERE|BEGIN|END|RETURNS|LANGUAGE|GRANT|REVOKE|POLICY|INDEX|TRIGGER)\b/;
    for (const f of (await readdir(migrationsDir)).filter((n) => n.startsWith('202508050744'))) {
      const sql = await readFile(join(migrationsDir, f), 'utf8');
      const code = sql
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/--.*$/gm, '')
        .replace(/'(?:[^']|'')*'/g, "''");
      const hit = keywords.exec(code);
      expect(hit?.[0] ?? null, f).toBeNull();
    }
  });
});
