/**
 * Every migration has its own rollback, and `npm run db:rollback` (no --version) undoes the newest applied one.
 * Rolling back one file at a time, newest first, must leave exactly the schema of the files still applied —
 * compared with a database migrated only that far — and end at the legacy baseline; `up` then restores the
 * full schema, identical to a fresh one.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Queryable, Db } from '../../ops/db.ts';
import { appliedVersions, listMigrations, listRollbacks, rollback, rollbackTo } from '../../ops/migrations/runner.ts';
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
     where n.nspname in ('public', 'chat_migration')
    union all
    select 'fn ' || p.oid::regprocedure::text
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname in ('public', 'chat_migration')
    union all
    select 'trg ' || t.tgrelid::regclass::text || ' ' || t.tgname || ' ' || t.tgenabled::text
      from pg_trigger t where not t.tgisinternal
    union all
    select 'pol ' || schemaname || '.' || tablename || ' ' || policyname from pg_policies
    union all
    select 'schema ' || nspname from pg_namespace where nspname in ('chat_migration', 'chat_archive')
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
    // the schema of a database migrated only that far, for every version: one database migrated step by step
    const partial = await track(openEmpty());
    const upTo = new Map<string, string[]>();
    for (const v of versions) {
      await migrateWithShim(partial, { target: v });
      upTo.set(v, await fingerprint(partial));
    }
    for (let i = versions.length - 1; i >= 1; i--) {
      const undone = await rollback(db);
      expect(undone.version).toBe(versions[i]);
      expect([...(await appliedVersions(db)).keys()]).toEqual(versions.slice(0, i));
      expect(await fingerprint(db)).toEqual(upTo.get(versions[i - 1]!));
    }
    const again = await migrateWithShim(db);
    expect(again.applied.map((f) => f.version)).toEqual(versions.slice(1));
    expect(await fingerprint(db)).toEqual(full);
  });

  it('--to V rolls back what builds on V, newest first, then V; what does not build on it stays applied', async () => {
    const db = await track(openMigrated());
    const full = await fingerprint(db);
    const all = (await listMigrations()).map((m) => m.version);
    const lines: string[] = [];
    const done = await rollbackTo(db, '20250806000000', { log: (l) => lines.push(l) });
    // the nine data-migration files; the scheduler (built on the maintenance functions) and the legacy hardening stay
    const dataMigration = all.filter((v) => v.startsWith('20250806')).reverse();
    expect(dataMigration).toHaveLength(9);
    expect(done.map((f) => f.version)).toEqual(dataMigration);
    expect(lines).toHaveLength(9);
    expect([...(await appliedVersions(db)).keys()]).toEqual(all.filter((v) => !v.startsWith('20250806')));
    expect((await fingerprint(db)).filter((x) => x.includes('chat_migration'))).toEqual([]);
    const again = await migrateWithShim(db);
    expect(again.applied.map((f) => f.version)).toEqual([...dataMigration].reverse());
    expect(await fingerprint(db)).toEqual(full);
  });

  it('a companion file refuses while a newer one is applied, with a hint', async () => {
    const db = await track(openMigrated());
    const err = await rollback(db, { version: '20250805074445' }).then(() => null, (e: unknown) => e as { code?: string; hint?: string });
    expect(err).not.toBeNull();
    expect(err!.code).toBe('AJC10');
    expect(err!.hint).toMatch(/Roll those back first/);
  });
});
