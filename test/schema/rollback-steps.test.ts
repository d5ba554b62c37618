/**
 * Every migration has its own rollback, and `npm run db:rollback` (no --version) undoes the newest applied one.
 * Rolling back one file at a time, newest first, must leave exactly the schema of the files still applied —
 * compared with a database migrated only that far — and end at the legacy baseline; `up` then restores the
 * full schema, identical to a fresh one.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Queryable, Db } from '../../ops/db.ts';
import { appliedVersions, listMigrations, listRollbacks, rollback } from '../../ops/migrations/runner.ts';
import { migrateWithShim } from '../../devstack/platform.ts';
import { openEmpty, openMigrated } from '../helpers/db.ts';

const opened: Db[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((d) => d.close()));
});
async function track(p: Promise<Db>): Promise<Db> {
  const d = await p;
  opened.push(d);
  return d;
}

/** Names of everything this project creates: relations, functions, triggers, policies, schemas. */
async function fingerprint(db: Queryable): Promise<string[]> {
  const rows = await db.query<{ item: string }>(`
    select 'rel ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text as item
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname in ('public', 'chat_migration', 'chat_formats')
    union all
    select 'fn ' || p.oid::regprocedure::text
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname in ('public', 'chat_migration', 'chat_formats')
    union all
    select 'trg ' || t.tgrelid::regclass::text || ' ' || t.tgname || ' ' || t.tgenabled::text
      from pg_trigger t where not t.tgisinternal
    union all
    select 'pol ' || schemaname || '.' || tablename || ' ' || policyname from pg_policies
    union all
    select 'schema ' || nspname from pg_namespace where nspname in ('chat_migration', 'chat_archive', 'chat_formats')
    order by 1`);
  return rows.map((r) => r.item);
}

describe('per-file rollbacks', () => {
  it('every migration has a rollback file of the same version', async () => {
    const ups = (await listMigrations()).map((m) => `${m.version}_${m.name}`);
    const downs = (await listRollbacks()).map((m) => `${m.version}_${m.name}`);
    expect(downs).toEqual(ups);
  });

  it('newest first, each step leaves the schema of the files still applied; up restores everything', async () => {
    const db = await track(openMigrated());
    const full = await fingerprint(db);
    const versions = (await listMigrations()).map((m) => m.version);
    for (let i = versions.length - 1; i >= 1; i--) {
      const undone = await rollback(db);
      expect(undone.version).toBe(versions[i]);
      expect([...(await appliedVersions(db)).keys()]).toEqual(versions.slice(0, i));
      const partial = await track(openEmpty());
      await migrateWithShim(partial, { target: versions[i - 1]! });
      expect(await fingerprint(db)).toEqual(await fingerprint(partial));
    }
    const again = await migrateWithShim(db);
    expect(again.applied.map((f) => f.version)).toEqual(versions.slice(1));
    expect(await fingerprint(db)).toEqual(full);
  }, 600_000); // one fresh database migrated per step (13 files): minutes on a loaded 2-core machine

  it('a companion file refuses while a newer one is applied, with a hint', async () => {
    const db = await track(openMigrated());
    const err = await rollback(db, { version: '20250805074445' }).then(() => null, (e: unknown) => e as { code?: string; hint?: string });
    expect(err).not.toBeNull();
    expect(err!.code).toBe('AJC10');
    expect(err!.hint).toMatch(/Roll those back first/);
  });
});
