/**
 * The real Supabase CLI (npm `supabase` 3.1.0) applies our supabase/ directory to an embedded database
 * served over pglite-socket (on the native lane: a database on the real server), and our runner applies it
 * to a second fresh one: both must end with the same
 * history rows (version, name, statements) and the same schema. No Docker, no network: every command
 * targets 127.0.0.1 with a temp HOME and telemetry off.
 *
 * Flag: CLI 3.x spells the database target `--remote=<url>`; `--db-url <url>` still works but prints
 * "--db-url is deprecated and will be removed in v4", so the test uses the new spelling.
 *
 * Both databases start with the platform shim only: the migrations reference auth.users, which hosted
 * Supabase provides and the CLI does not create (`migration up` applies migrations, nothing else).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Db } from '../ops/db.ts';
import { DatabaseAheadError, listMigrations, projectRoot } from '../ops/migrations/runner.ts';
import { ensurePlatform, migrateWithShim } from '../devstack/platform.ts';
import { openEmpty, serveDb } from './helpers/db.ts';
import { cliEnv, cliUnavailable, runSupabase } from '../devstack/supabase-cli.ts';
import { schemaFingerprint } from './helpers/schema-fingerprint.ts';

type HistoryRow = { version: string; name: string | null; statements: string[] | null };
const history = (db: Db) =>
  db.query<HistoryRow>(`select version, name, statements from supabase_migrations.schema_migrations order by version`);

let unavailable: string | null = null;
let viaCli: Db;
let viaRunner: Db;
let server: { url: string; stop(): Promise<void> };
let workdir: string;
let env: NodeJS.ProcessEnv;
let firstRun: { code: number; stdout: string; stderr: string };

/** A copy of supabase/ so the CLI's `.temp/` state never lands in the checkout. */
async function makeWorkdir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ajc-cli-work-'));
  await cp(join(projectRoot, 'supabase'), join(dir, 'supabase'), { recursive: true });
  return dir;
}
const up = (dir = workdir) => runSupabase(['migration', 'up', `--remote=${server.url}`, '--workdir', dir, '--yes'], { env });

beforeAll(async () => {
  unavailable = await cliUnavailable();
  if (unavailable) {
    console.log(`supabase-cli.test.ts skipped: ${unavailable}`);
    return;
  }
  env = { ...(await cliEnv()), PGSSLMODE: 'disable' };
  workdir = await makeWorkdir();
  viaCli = await openEmpty();
  await ensurePlatform(viaCli);
  server = await serveDb(viaCli);
  firstRun = await up();
  viaRunner = await openEmpty();
  await migrateWithShim(viaRunner);
});
afterAll(async () => {
  await server?.stop();
  await viaCli?.close();
  await viaRunner?.close();
});

describe('supabase migration up (real CLI) vs our runner', () => {
  it('the CLI applies every migration file', async (ctx) => {
    if (unavailable) return ctx.skip();
    expect(firstRun.code, `${firstRun.stdout}\n${firstRun.stderr}`).toBe(0);
    const files = await listMigrations();
    for (const f of files) expect(firstRun.stdout + firstRun.stderr).toContain(`${f.version}_${f.name}.sql`);
    expect((await history(viaCli)).map((r) => r.version)).toEqual(files.map((f) => f.version));
  });

  it('both record the same schema_migrations rows: version, name and statements', async (ctx) => {
    if (unavailable) return ctx.skip();
    const cli = await history(viaCli);
    const ours = await history(viaRunner);
    expect(ours.map((r) => [r.version, r.name])).toEqual(cli.map((r) => [r.version, r.name]));
    for (let i = 0; i < cli.length; i++) {
      expect(ours[i]!.statements, `statements of ${cli[i]!.version}`).toEqual(cli[i]!.statements);
    }
    const columns = async (db: Db) =>
      db.query(`select column_name, data_type, is_nullable from information_schema.columns
                 where table_schema = 'supabase_migrations' and table_name = 'schema_migrations' order by column_name`);
    expect(await columns(viaRunner)).toEqual(await columns(viaCli));
  });

  it('both produce the same schema (tables, RLS, policies, functions, indexes, triggers, grants)', async (ctx) => {
    if (unavailable) return ctx.skip();
    const schemas = ['public', 'chat_migration', 'supabase_migrations'];
    const cli = await schemaFingerprint(viaCli, schemas);
    const ours = await schemaFingerprint(viaRunner, schemas);
    expect(cli.relations.length).toBeGreaterThan(0);
    expect(cli.policies.length).toBeGreaterThan(0);
    expect(ours).toEqual(cli);
  });

  it('each tool sees the other’s database as up to date', async (ctx) => {
    if (unavailable) return ctx.skip();
    const again = await up();
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout + again.stderr).toMatch(/up to date/i);
    // The CLI on the database our runner migrated: nothing to apply either.
    const ourServer = await serveDb(viaRunner);
    try {
      const r = await runSupabase(['migration', 'up', `--remote=${ourServer.url}`, '--workdir', workdir, '--yes'], { env });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout + r.stderr).toMatch(/up to date/i);
    } finally {
      await ourServer.stop();
    }
    expect((await migrateWithShim(viaCli)).applied).toEqual([]);
    const list = await runSupabase(['migration', 'list', `--remote=${server.url}`, '--workdir', workdir], { env });
    expect(list.code, list.stderr).toBe(0);
    for (const f of await listMigrations()) {
      // "Local | Remote" columns both show the version.
      expect(list.stdout).toMatch(new RegExp(`${f.version}\`?\\s*\\|\\s*\`?${f.version}`));
    }
  });

  it('both roll back a failing file whole (no table, no version row)', async (ctx) => {
    if (unavailable) return ctx.skip();
    const dir = await makeWorkdir();
    await writeFile(join(dir, 'supabase', 'migrations', '29990101000000_broken.sql'), 'create table public.half_done (id int);\nselect 1/0;\n');
    const r = await up(dir);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/division by zero/);
    const left = await viaCli.query(
      `select to_regclass('public.half_done') as t,
              (select count(*)::int from supabase_migrations.schema_migrations where version = '29990101000000') as n`,
    );
    expect(left).toEqual([{ t: null, n: 0 }]);
  });

  it('supabase db push (how app developers deploy) lists, then applies the same rows and schema', async (ctx) => {
    if (unavailable) return ctx.skip();
    const db = await openEmpty();
    await ensurePlatform(db);
    const pushServer = await serveDb(db);
    try {
      const push = (...extra: string[]) =>
        runSupabase(['db', 'push', `--remote=${pushServer.url}`, '--workdir', workdir, '--yes', ...extra], { env });
      const dry = await push('--dry-run');
      expect(dry.code, dry.stderr).toBe(0);
      for (const f of await listMigrations()) expect(dry.stdout + dry.stderr).toContain(`${f.version}_${f.name}.sql`);
      expect(await db.query(`select to_regclass('supabase_migrations.schema_migrations') as t`)).toEqual([{ t: null }]);
      const r = await push();
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(await history(db)).toEqual(await history(viaRunner));
      const schemas = ['public', 'chat_migration', 'supabase_migrations'];
      expect(await schemaFingerprint(db, schemas)).toEqual(await schemaFingerprint(viaRunner, schemas));
      expect((await migrateWithShim(db)).applied).toEqual([]);
    } finally {
      await pushServer.stop();
      await db.close();
    }
  });

  it('both refuse a database that holds a version the files do not', async (ctx) => {
    if (unavailable) return ctx.skip();
    await viaCli.query(`insert into supabase_migrations.schema_migrations (version, name) values ('29991231000000', 'from_the_future')`);
    try {
      const r = await up();
      expect(r.code).not.toBe(0);
      expect(r.stdout + r.stderr).toMatch(/29991231000000/);
      await expect(migrateWithShim(viaCli)).rejects.toBeInstanceOf(DatabaseAheadError);
    } finally {
      await viaCli.query(`delete from supabase_migrations.schema_migrations where version = '29991231000000'`);
    }
  });
});
