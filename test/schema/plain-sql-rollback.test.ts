/**
 * Migrations applied without any runner — every file with plain SQL, as `psql -f` or another migration tool
 * does, so there is no supabase_migrations.schema_migrations — still roll back: per file newest first, or all
 * of v2 at once, and either way down to the platform as it was before the first migration. Runs on both
 * engines (a fresh database with only the platform shim).
 */
import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { Db, Queryable } from '../../ops/db.ts';
import { listMigrations, listRollbacks } from '../../ops/migrations/runner.ts';
import { shimPath } from '../../devstack/platform.ts';
import { openEmpty } from '../helpers/db.ts';
import { schemaFingerprint } from '../helpers/schema-fingerprint.ts';
import { FIRST_AFTER_V2 } from '../helpers/newer-than-v2.ts';

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

  it('the whole-v2 rollback then the legacy one do the same, and the legacy one refuses while v2 is there', async () => {
    const before = await state(await platformOnly());
    const db = await platformOnly();
    await applyAllPlain(db);
    const byVersion = new Map((await listRollbacks()).map((r) => [r.version, r.path]));
    // Without a history to read versions from, the legacy rollback recognises v2 by its tables.
    await expect(runFile(db, byVersion.get('20250801000000')!)).rejects.toMatchObject({ message: 'schema v2 is still installed' });
    // the migrations built on v2 with rollbacks of their own first, newest first (the whole-v2 rollback does not know them)
    for (const [version, path] of [...byVersion].filter(([v]) => v >= FIRST_AFTER_V2).reverse()) await runFile(db, path);
    await runFile(db, byVersion.get('20250805074444')!);
    await runFile(db, byVersion.get('20250801000000')!);
    expect(await state(db)).toEqual(before);
  });
});
