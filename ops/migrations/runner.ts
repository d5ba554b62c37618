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
  /** Where the migration files are read from (their `-- Depends :` header lines); default supabase/migrations. */
  migrationsDir?: string;
  log?: (line: string) => void;
}

/** Applied migrations that build on the version being rolled back: they must go first. Code AJC10, as in the docs. */
export class NewerMigrationsAppliedError extends MigrationError {
  override name = 'NewerMigrationsAppliedError';
  readonly code = 'AJC10';
  readonly hint: string;
  constructor(readonly version: string, readonly dependents: string[]) {
    super(`migrations newer than ${version} that build on it are still applied: ${dependents.join(', ')}`);
    this.hint =
      `Roll those back first, newest first (npm run db:rollback, repeated), or all of them and ${version} in that ` +
      `order: npm run db:rollback -- --to ${version}`;
  }
}

const DEPENDS_RE = /^--\s*Depends\s*:(.*)$/m;

/**
 * What each migration builds on: the versions named on its header's `-- Depends :` line, or — without one, the
 * rule — every earlier migration. Only a file that touches nothing of its predecessors but those it names says so
 * (20250810000000 names only the legacy baseline, so rolling v2 back leaves it applied).
 */
export async function migrationDependencies(dir = migrationsDir): Promise<Map<string, string[]>> {
  const files = await listMigrations(dir);
  const deps = new Map<string, string[]>();
  for (const [i, f] of files.entries()) {
    const header = (await readFile(f.path, 'utf8')).split(/\n(?!--)/, 1)[0]!;
    const line = DEPENDS_RE.exec(header)?.[1];
    deps.set(f.version, line ? [...line.matchAll(/\b\d{14}\b/g)].map((m) => m[0]) : files.slice(0, i).map((e) => e.version));
  }
  return deps;
}

/**
 * The applied versions that must be rolled back before `version`, newest first: every applied later version
 * that builds on it, directly or through another. A version the database has but this checkout does not know
 * counts as building on everything (nothing says otherwise).
 */
export async function dependentsOf(db: Queryable, version: string, dir = migrationsDir): Promise<string[]> {
  const deps = await migrationDependencies(dir);
  const applied = [...(await appliedVersions(db)).keys()];
  const memo = new Map<string, boolean>();
  const buildsOn = (v: string): boolean => {
    if (memo.has(v)) return memo.get(v)!;
    memo.set(v, false);
    const direct = deps.get(v);
    const r = direct === undefined ? true : direct.includes(version) || direct.some((d) => d > version && buildsOn(d));
    memo.set(v, r);
    return r;
  };
  return applied.filter((v) => v > version && buildsOn(v)).sort().reverse();
}

async function runRollbackFile(db: Db, file: MigrationFile, archive: boolean): Promise<void> {
  const script = await readFile(file.path, 'utf8');
  await db.transaction(async (tx) => {
    await tx.query(`select pg_advisory_xact_lock($1)`, [RUNNER_LOCK_KEY]);
    await tx.query(`select set_config('advanced_json_chat.archive', $1, true)`, [archive ? 'on' : 'off']);
    await tx.exec(script);
    const left = await tx.query(`select 1 from supabase_migrations.schema_migrations where version = $1`, [file.version]);
    if (left.length) throw new MigrationError(`Rollback ${basename(file.path)} ran but left its version row in schema_migrations.`);
  });
}

/**
 * Runs `supabase/rollbacks/<version>_<name>.down.sql` in one transaction; the default target is the newest
 * applied version. Each script undoes its own file only and deletes its own version row from
 * `supabase_migrations.schema_migrations`. Order is enforced here, once: while an applied later migration builds
 * on the target, it refuses with NewerMigrationsAppliedError (AJC10) and changes nothing — rollbackTo() rolls
 * those back first.
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
  const dependents = await dependentsOf(db, file.version, opts.migrationsDir);
  if (dependents.length) throw new NewerMigrationsAppliedError(file.version, dependents);
  await runRollbackFile(db, file, opts.archive === true);
  opts.log?.(`rolled back ${basename(file.path)}`);
  return file;
}

/**
 * `db:rollback -- --to VERSION`: rolls back every applied migration that builds on VERSION, newest first, then
 * VERSION itself — each file in its own transaction, so a refusal half-way (a rollback's own check, e.g. the data
 * migration's while v2 holds messages legacy lacks) leaves the database at the last file that succeeded, which
 * `db:migrate` can bring forward again. Checks before starting that every one of them has a rollback file.
 * Returns the files rolled back, in order.
 */
export async function rollbackTo(db: Db, version: string, opts: Omit<RollbackOptions, 'version'> = {}): Promise<MigrationFile[]> {
  const rollbacks = new Map((await listRollbacks(opts.dir)).map((r) => [r.version, r]));
  if (!(await appliedVersions(db)).has(version)) throw new MigrationError(`Version ${version} is not applied.`);
  const order = [...(await dependentsOf(db, version, opts.migrationsDir)), version];
  const missing = order.filter((v) => !rollbacks.has(v));
  if (missing.length) {
    throw new MigrationError(`No rollback file in supabase/rollbacks/ for ${missing.join(', ')}: nothing was rolled back.`);
  }
  const done: MigrationFile[] = [];
  for (const v of order) {
    const file = rollbacks.get(v)!;
    await runRollbackFile(db, file, opts.archive === true);
    opts.log?.(`rolled back ${basename(file.path)}`);
    done.push(file);
  }
  return done;
}
