/**
 * The platform shim: what hosted Supabase already has and PGlite or a bare Postgres lacks — the API roles,
 * the `auth` schema with `auth.uid()` / `auth.jwt()`, and the default privileges (supabase/platform/shim.sql).
 * It is applied only when `auth.users` is absent, so on hosted Supabase (or the platform replica fixture)
 * it does nothing. The migration runner (ops/) knows nothing of it: `migrateWithShim` runs the shim, then
 * the runner — what `npm run db:migrate`, `npm start` and the test templates do.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Db, Queryable } from '../ops/db.ts';
import { migrate, projectRoot, type MigrateOptions, type MigrateResult } from '../ops/migrations/runner.ts';

export const shimPath = join(projectRoot, 'supabase', 'platform', 'shim.sql');

export async function hasPlatform(db: Queryable): Promise<boolean> {
  const rows = await db.query<{ present: boolean }>(`select to_regclass('auth.users') is not null as present`);
  return rows[0]?.present === true;
}

/** Applies the platform shim when the database has no `auth.users` (PGlite or a bare Postgres). */
export async function ensurePlatform(db: Db): Promise<boolean> {
  if (await hasPlatform(db)) return false;
  const sql = await readFile(shimPath, 'utf8');
  await db.transaction((tx) => tx.exec(sql));
  return true;
}

export interface ShimMigrateOptions extends MigrateOptions {
  /** Apply the platform shim when auth.users is absent (default true). */
  shim?: boolean;
}

/** The shim where the platform is missing, then every pending migration. */
export async function migrateWithShim(db: Db, opts: ShimMigrateOptions = {}): Promise<MigrateResult & { shimApplied: boolean }> {
  const shimApplied = opts.shim === false ? false : await ensurePlatform(db);
  if (shimApplied) opts.log?.('applied platform shim (auth schema, API roles, default privileges)');
  return { ...(await migrate(db, opts)), shimApplied };
}
