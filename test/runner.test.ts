import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, writeFile, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Db } from '../ops/db.ts';
import { openEmpty } from './helpers/db.ts';
import { DatabaseAheadError, MigrationFailedError, listMigrations, migrationsDir, status } from '../ops/migrations/runner.ts';
import { migrateWithShim } from '../devstack/platform.ts';
import { splitSql } from '../ops/migrations/sql-split.ts';

let db: Db | undefined;
afterEach(async () => {
  await db?.close();
  db = undefined;
});

describe('migration runner', () => {
  it('applies every migration once, records it like the Supabase CLI, and a second run does nothing', async () => {
    db = await openEmpty();
    const first = await migrateWithShim(db);
    const files = await listMigrations();
    expect(first.shimApplied).toBe(true);
    expect(first.applied.map((f) => f.version)).toEqual(files.map((f) => f.version));
    const rows = await db.query<{ version: string; name: string; n: number }>(
      `select version, name, cardinality(statements) as n from supabase_migrations.schema_migrations order by version`,
    );
    expect(rows.map((r) => [r.version, r.name])).toEqual(files.map((f) => [f.version, f.name]));
    for (const r of rows) expect(r.n).toBeGreaterThan(0);
    const second = await migrateWithShim(db);
    expect(second.applied).toEqual([]);
    expect(second.shimApplied).toBe(false);
    expect((await status(db)).every((s) => s.applied && !s.unknown)).toBe(true);
  });

  it('refuses when the database holds a version the code does not know', async () => {
    db = await openEmpty();
    await migrateWithShim(db);
    await db.query(`insert into supabase_migrations.schema_migrations (version, name) values ('29991231000000', 'from_the_future')`);
    await expect(migrateWithShim(db)).rejects.toBeInstanceOf(DatabaseAheadError);
    await expect(migrateWithShim(db)).rejects.toThrow(/29991231000000/);
  });

  it('rolls a failing file back whole, version row included', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ajc-mig-'));
    await cp(migrationsDir, dir, { recursive: true });
    await writeFile(join(dir, '29990101000000_broken.sql'), 'create table public.half_done (id int);\nselect 1/0;');
    db = await openEmpty();
    await expect(migrateWithShim(db, { dir })).rejects.toBeInstanceOf(MigrationFailedError);
    const left = await db.query(`select to_regclass('public.half_done') as t`);
    expect(left[0]).toEqual({ t: null });
    const v = await db.query(`select 1 from supabase_migrations.schema_migrations where version = '29990101000000'`);
    expect(v).toEqual([]);
  });
});

describe('splitSql', () => {
  it('splits on top-level semicolons only', () => {
    const parts = splitSql(`create function f() returns int language plpgsql as $$ begin return 1; end $$;
      -- a comment; with a semicolon
      insert into t values ('a;b', "x;y"); /* c; */ select $tag$;$tag$;`);
    expect(parts).toHaveLength(3);
    expect(parts[0]).toMatch(/^create function/);
    expect(parts[1]).toMatch(/insert into t values \('a;b', "x;y"\)$/);
  });
});
