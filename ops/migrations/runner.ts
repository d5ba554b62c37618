/**
 * Migration runner — applies `supabase/migrations/*.sql` the way `supabase db push` / `migration up` does,
 * so a database migrated by us and one migrated by the Supabase CLI agree row for row in
 * `supabase_migrations.schema_migrations (version, statements, name)`.
 *
 * - one transaction per file, the version row inserted first (a concurrent runner fails on the key);
 * - a transaction-scoped advisory lock serializes runners on a real multi-session Postgres;
 * - refuses to run when the database holds versions this code does not know (database ahead of code).
 *
 * It assumes the Supabase platform (roles, `auth` schema) is there, as on hosted Supabase. On PGlite or a
 * bare Postgres the devstack applies its platform shim first (devstack/platform.ts `migrateWithShim`).
 */
import { readFile, readdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db, Queryable } from '../db.ts';
import { splitSql } from './sql-split.ts';

export const projectRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const migrationsDir = join(projectRoot, 'supabase', 'migrations');
export const rollbacksDir = join(projectRoot, 'supabase', 'rollbacks');
/** Local demo data: applied by `npm start` on a new database and by `npm run db:reset`, like `supabase db reset`. */
export const seedPath = join(projectRoot, 'supabase', 'seed.sql');

/** Any number; shared by every runner of this project so two never interleave. */
const RUNNER_LOCK_KEY = 727_274_001;

export interface MigrationFile {
  version: string;
  name: string;
  path: string;
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}
export class DatabaseAheadError extends MigrationError {
  override name = 'DatabaseAheadError';
  constructor(readonly unknownVersions: string[]) {
    super(
      `The database has migrations this code does not know: ${unknownVersions.join(', ')}. ` +
        'Update your checkout (git pull) or, if those versions were rolled back by hand, ' +
        'mark them reverted (supabase migration repair --status reverted <version>).',
    );
  }
}
export class MigrationFailedError extends MigrationError {
  override name = 'MigrationFailedError';
  constructor(readonly file: MigrationFile, override readonly cause: unknown) {
    super(`Migration ${file.version}_${file.name} failed and was rolled back: ${(cause as Error)?.message ?? cause}`);
  }
}

const FILE_RE = /^(\d{14})_(.+)\.sql$/;

export async function listMigrations(dir = migrationsDir): Promise<MigrationFile[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  return files.map((f) => {
    const m = FILE_RE.exec(f);
    if (!m) throw new MigrationError(`Migration file ${f} is not named YYYYMMDDHHMMSS_description.sql`);
    return { version: m[1]!, name: m[2]!, path: join(dir, f) };
  });
}

/** The table exactly as the Supabase CLI creates and extends it. */
const historyTableSql = `
  create schema if not exists supabase_migrations;
  create table if not exists supabase_migrations.schema_migrations (version text not null primary key);
  alter table supabase_migrations.schema_migrations add column if not exists statements text[];
  alter table supabase_migrations.schema_migrations add column if not exists name text;
`;

export async function appliedVersions(db: Queryable): Promise<Map<string, string | null>> {
  const exists = await db.query<{ present: boolean }>(
    `select to_regclass('supabase_migrations.schema_migrations') is not null as present`,
  );
  if (!exists[0]?.present) return new Map();
  const rows = await db.query<{ version: string; name: string | null }>(
    `select version, name from supabase_migrations.schema_migrations order by version`,
  );
  return new Map(rows.map((r) => [r.version, r.name]));
}

export interface MigrateResult {
  applied: MigrationFile[];
  skipped: number;
}

export interface MigrateOptions {
  dir?: string;
  /** Apply only files up to and including this version. */
  target?: string;
  log?: (line: string) => void;
}

export async function migrate(db: Db, opts: MigrateOptions = {}): Promise<MigrateResult> {
  const log = opts.log ?? (() => {});
  await db.exec(historyTableSql);
  const files = await listMigrations(opts.dir);
  const known = new Set(files.map((f) => f.version));
  const applied = await appliedVersions(db);
  const unknown = [...applied.keys()].filter((v) => !known.has(v));
  if (unknown.length) throw new DatabaseAheadError(unknown);

  const done: MigrationFile[] = [];
  for (const file of files) {
    if (opts.target && file.version > opts.target) break;
    if (applied.has(file.version)) continue;
    const script = await readFile(file.path, 'utf8');
    try {
      await db.transaction(async (tx) => {
        await tx.query(`select pg_advisory_xact_lock($1)`, [RUNNER_LOCK_KEY]);
        // Version row first: a second runner racing on the same file fails here, before any DDL.
        await tx.query(
          `insert into supabase_migrations.schema_migrations (version, name, statements) values ($1, $2, $3)`,
          [file.version, file.name, splitSql(script)],
        );
        await tx.exec(script);
      });
    } catch (err) {
      throw new MigrationFailedError(file, err);
    }
    log(`applied ${basename(file.path)}`);
    done.push(file);
  }
  return { applied: done, skipped: files.length - done.length };
}

/** Runs supabase/seed.sql in one transaction; false when the project has no seed file. */
export async function applySeed(db: Db, path = seedPath): Promise<boolean> {
  let sql: string;
  try {
    sql = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  await db.transaction((tx) => tx.exec(sql));
  return true;
}

export interface StatusRow {
  version: string;
  name: string;
  applied: boolean;
  /** true when the database has the version but the code does not. */
  unknown?: boolean;
}

export async function status(db: Db, dir = migrationsDir): Promise<StatusRow[]> {
  const files = await listMigrations(dir);
  const applied = await appliedVersions(db);
  const rows: StatusRow[] = files.map((f) => ({ version: f.version, name: f.name, applied: applied.has(f.version) }));
  for (const [version, name] of applied) {
    if (!files.some((f) => f.version === version)) rows.push({ version, name: name ?? '', applied: true, unknown: true });
  }
  return rows.sort((a, b) => a.version.localeCompare(b.version));
}

export async function listRollbacks(dir = rollbacksDir): Promise<MigrationFile[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.down.sql')).sort();
  return files.map((f) => {
    const m = /^(\d{14})_(.+)\.down\.sql$/.exec(f);
    if (!m) throw new MigrationError(`Rollback file ${f} is not named YYYYMMDDHHMMSS_description.down.sql`);
    return { version: m[1]!, name: m[2]!, path: join(dir, f) };
  });
}

export interface RollbackOptions {
  /** Roll back this version (default: the newest applied version that has a rollback file). */
  version?: string;
  /** Copy v2 data into an archive schema before dropping (sets `advanced_json_chat.archive = on`). */
  archive?: boolean;
  dir?: string;
  log?: (line: string) => void;
}

/**
 * Runs `supabase/rollbacks/<version>_<name>.down.sql` in one transaction. The script itself deletes its
 * version row from `supabase_migrations.schema_migrations` (and those of companion files it also undoes)
 * and raises when anything it owns is left; the default target is the newest applied version.
 */
export async function rollback(db: Db, opts: RollbackOptions = {}): Promise<MigrationFile> {
  const rollbacks = await listRollbacks(opts.dir);
  const applied = await appliedVersions(db);
  const candidates = rollbacks.filter((r) => applied.has(r.version));
  const file = opts.version
    ? candidates.find((r) => r.version === opts.version)
    : candidates[candidates.length - 1];
  if (!file) {
    throw new MigrationError(
      opts.version
        ? `Version ${opts.version} is not applied or has no rollback file in supabase/rollbacks/.`
        : 'No applied migration has a rollback file in supabase/rollbacks/.',
    );
  }
  const script = await readFile(file.path, 'utf8');
  await db.transaction(async (tx) => {
    await tx.query(`select pg_advisory_xact_lock($1)`, [RUNNER_LOCK_KEY]);
    await tx.query(`select set_config('advanced_json_chat.archive', $1, true)`, [opts.archive ? 'on' : 'off']);
    await tx.exec(script);
    const left = await tx.query(`select 1 from supabase_migrations.schema_migrations where version = $1`, [file.version]);
    if (left.length) throw new MigrationError(`Rollback ${basename(file.path)} ran but left its version row in schema_migrations.`);
  });
  opts.log?.(`rolled back ${basename(file.path)}`);
  return file;
}
