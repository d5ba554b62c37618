/**
 * Migrated template databases on a real PostgreSQL server, and throwaway databases cloned from them — the
 * server twin of `template.ts` (which caches a PGlite tarball). The native test lane gives every test file
 * its own database this way (`create database … template …` copies the files; no migration runs again).
 *
 * - The template `ajc_tpl_<key>` is keyed on the content of the platform shim and the migrations; it is
 *   built under a temporary name and renamed when complete, under an advisory lock, so concurrent runs
 *   build it once and never clone a half-migrated one. It is marked `is_template` and refuses connections,
 *   so nothing can change it after the fact (and CREATE DATABASE never finds a session in it).
 * - Roles are cluster-wide: the shim creates them only when absent, so every database shares them.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import postgres from 'postgres';
import { openPostgres } from '../../ops/db.ts';
import { listMigrations } from '../../ops/migrations/runner.ts';
import { shimPath, migrateWithShim } from '../platform.ts';

export const TEMPLATE_PREFIX = 'ajc_tpl_';
/** Any number; serializes template builds across processes on one server. */
const TEMPLATE_LOCK_KEY = 727_274_002;

/** The URL of another database on the same server. */
export function databaseUrl(serverUrl: string, database: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

export async function serverTemplateKey(): Promise<string> {
  const h = createHash('sha256');
  h.update(await readFile(shimPath));
  for (const f of await listMigrations()) {
    h.update(f.path.slice(f.path.lastIndexOf('/')));
    h.update(await readFile(f.path));
  }
  return h.digest('hex').slice(0, 16);
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

function admin(serverUrl: string) {
  return postgres(serverUrl, { max: 1, onnotice: () => {}, idle_timeout: 5, connect_timeout: 15, connection: { application_name: 'ajc-template-admin' } });
}

/** Name of the migrated template on this server, building it when missing. */
export async function ensureServerTemplate(serverUrl: string, log: (line: string) => void = () => {}): Promise<string> {
  const name = `${TEMPLATE_PREFIX}${await serverTemplateKey()}`;
  const sql = admin(serverUrl);
  try {
    return await sql.begin(async (tx) => {
      // A transaction-scoped lock on a reserved connection: released even if this process dies.
      await tx`select pg_advisory_xact_lock(${TEMPLATE_LOCK_KEY})`;
      const [found] = await tx`select 1 from pg_database where datname = ${name}`;
      if (found) return name;
      // CREATE DATABASE cannot run inside a transaction: use a second connection for the DDL while this
      // one holds the lock.
      const ddl = admin(serverUrl);
      try {
        const building = `${name}_build`;
        await ddl.unsafe(`drop database if exists ${ident(building)} with (force)`);
        await ddl.unsafe(`create database ${ident(building)} template template0`);
        const db = await openPostgres(databaseUrl(serverUrl, building), { max: 1 });
        try {
          const r = await migrateWithShim(db);
          log(`built template ${name}: ${r.applied.length} migrations${r.shimApplied ? ' + platform shim' : ''}`);
        } finally {
          await db.close();
        }
        await ddl.unsafe(`alter database ${ident(building)} rename to ${ident(name)}`);
        await ddl.unsafe(`alter database ${ident(name)} with is_template true allow_connections false`);
        // Older templates (other migration contents) are dead weight now.
        const stale = await ddl<{ datname: string }[]>`
          select datname from pg_database where datname like ${`${TEMPLATE_PREFIX}%`} and datname <> ${name}`;
        for (const { datname } of stale) {
          await ddl.unsafe(`alter database ${ident(datname)} with is_template false`).catch(() => {});
          await ddl.unsafe(`drop database if exists ${ident(datname)}`).catch(() => {});
        }
      } finally {
        await ddl.end({ timeout: 5 });
      }
      return name;
    });
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export interface ScratchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** Creates database `name` from `template` (`template0` for an empty one); `drop()` removes it, sessions and all. */
export async function createScratchDatabase(serverUrl: string, name: string, template: string): Promise<ScratchDatabase> {
  const sql = admin(serverUrl);
  try {
    await sql.unsafe(`create database ${ident(name)} template ${ident(template)}`);
  } finally {
    await sql.end({ timeout: 5 });
  }
  return {
    name,
    url: databaseUrl(serverUrl, name),
    async drop() {
      const s = admin(serverUrl);
      try {
        await s.unsafe(`drop database if exists ${ident(name)} with (force)`);
      } finally {
        await s.end({ timeout: 5 });
      }
    },
  };
}

/** Drops every database whose name starts with `prefix` (leftovers of a run that was killed). */
export async function dropDatabases(serverUrl: string, prefix: string): Promise<string[]> {
  const sql = admin(serverUrl);
  try {
    const rows = await sql<{ datname: string }[]>`
      select datname from pg_database where starts_with(datname, ${prefix}) and not datistemplate`;
    for (const { datname } of rows) await sql.unsafe(`drop database if exists ${ident(datname)} with (force)`);
    return rows.map((r) => r.datname);
  } finally {
    await sql.end({ timeout: 5 });
  }
}
