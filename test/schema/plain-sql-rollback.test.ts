/**
 * Migrations applied without any runner — every file with plain SQL, as `psql -f` or another migration tool
 * does, so there is no supabase_migrations.schema_migrations — still roll back, per file newest first (order is
 * the operator's job there: docs/schema.md#rollback), down to the platform as it was before the first
 * migration; the data migration rolls back and re-applies on its own. Runs on both engines (a fresh database
 * with only the platform shim).
 */
import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { Db, Queryable } from '../../ops/db.ts';
import { listMigrations, listRollbacks } from '../../ops/migrations/runner.ts';
import { shimPath } from '../../devstack/platform.ts';
import { openEmpty } from '../helpers/db.ts';
import { schemaFingerprint } from '../helpers/schema-fingerprint.ts';

const opened: Db[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((d) => d.close()));
});

/** A database with the platform shim only, applied as plain SQL too. */
async function platformOnly(): Promise<Db> {
  const db = await openEmpty();
  opened.push(db);
  await db.exec(await readFile(shimPath, 'utf8'));
  return db;
}

/** Each file in one transaction, as `psql --single-transaction -f file` runs it. */
async function runFile(db: Db, path: string): Promise<void> {
  const sql = await readFile(path, 'utf8');
  await db.transaction((tx) => tx.exec(sql));
}

const SCHEMAS = ['public', 'chat_migration', 'chat_archive', 'advanced_json_chat_archive', 'supabase_migrations'];

/** Schema objects, API grants and the default privileges in the project's schemas. */
async function state(db: Queryable) {
  const defaults = await db.query<{ v: string }>(
    `select format('%s %s %s %s', d.defaclrole::regrole, coalesce(n.nspname, '*'), d.defaclobjtype, d.defaclacl) as v
       from pg_default_acl d left join pg_namespace n on n.oid = d.defaclnamespace order by 1`,
  );
  const schemas = await db.query<{ nspname: string }>(`select nspname from pg_namespace where nspname = any($1::text[]) order by 1`, [SCHEMAS]);
  return { ...(await schemaFingerprint(db, SCHEMAS)), defaults: defaults.map((r) => r.v), schemas: schemas.map((r) => r.nspname) };
}

async function applyAllPlain(db: Db): Promise<void> {
  for (const f of await listMigrations()) await runFile(db, f.path);
  const [h] = await db.query<{ t: string | null }>(`select to_regclass('supabase_migrations.schema_migrations')::text as t`);
  expect(h!.t).toBeNull();
  const [v2] = await db.query<{ t: string | null }>(`select to_regclass('public.chat_messages_v2')::text as t`);
  expect(v2!.t).toBe('chat_messages_v2');
}

describe('rollbacks on a database migrated without the history table', () => {
  it('every rollback, newest first, returns it to the bare platform', async () => {
    const before = await state(await platformOnly());
    const db = await platformOnly();
    await applyAllPlain(db);
    const downs = (await listRollbacks()).reverse();
    expect(downs.map((d) => d.version)).toEqual((await listMigrations()).map((m) => m.version).reverse());
    for (const d of downs) {
      await runFile(db, d.path).catch((e: Error) => {
        throw new Error(`${d.version}_${d.name}.down.sql: ${e.message}`);
      });
    }
    expect(await state(db)).toEqual(before);
  });

  it('the data migration rolls back and re-applies on its own; the legacy rollback refuses while v2 is there', async () => {
    const before = await state(await platformOnly());
    const db = await platformOnly();
    await applyAllPlain(db);
    const downs = (await listRollbacks()).reverse();
    const byVersion = new Map(downs.map((r) => [r.version, r.path]));
    // Without a history to read versions from, the legacy rollback recognises v2 by its tables.
    await expect(runFile(db, byVersion.get('20250801000000')!)).rejects.toMatchObject({ message: 'schema v2 is still installed' });
    // the nine data-migration files, newest first, by hand: ledger, quarantine and mode triggers go with them
    const dataMigration = (v: string) => v.startsWith('20250806');
    for (const d of downs.filter((r) => dataMigration(r.version))) await runFile(db, d.path);
    const [left] = await db.query<{ s: string | null; t: number }>(
      `select to_regnamespace('chat_migration')::text as s, (select count(*)::int from pg_trigger where tgname like 'chat\\_migration%') as t`);
    expect(left).toEqual({ s: null, t: 0 });
    // and they apply again as plain SQL, starting clean
    for (const f of (await listMigrations()).filter((m) => dataMigration(m.version))) await runFile(db, f.path);
    const [mode] = await db.query<{ mode: string; runs: number }>(`select mode, (select count(*)::int from chat_migration.runs) as runs from chat_migration.mode`);
    expect(mode).toEqual({ mode: 'legacy', runs: 0 });
    for (const d of downs) await runFile(db, d.path);
    expect(await state(db)).toEqual(before);
  });
});
