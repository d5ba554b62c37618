/**
 * A migrated database image that tests and benchmarks clone instead of migrating again.
 * Built once per content of (shim + migrations + PGlite version), cached as a tarball under `.tmp/`.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openEmbedded, type EmbeddedDb } from '../pglite/engine.ts';
import { listMigrations, projectRoot } from '../../ops/migrations/runner.ts';
import { shimPath, migrateWithShim } from '../platform.ts';

const templatesDir = join(projectRoot, '.tmp', 'templates');

export async function templateKey(): Promise<string> {
  const h = createHash('sha256');
  const pkg = JSON.parse(await readFile(join(projectRoot, 'node_modules/@electric-sql/pglite/package.json'), 'utf8'));
  h.update(String(pkg.version));
  h.update(await readFile(shimPath));
  for (const f of await listMigrations()) {
    h.update(f.path);
    h.update(await readFile(f.path));
  }
  return h.digest('hex').slice(0, 16);
}

/** Path of the migrated template tarball, building it when missing. */
export async function ensureTemplate(): Promise<string> {
  const path = join(templatesDir, `${await templateKey()}.tar`);
  if (existsSync(path)) return path;
  await mkdir(templatesDir, { recursive: true });
  const db = await openEmbedded();
  try {
    await migrateWithShim(db);
    const blob = await db.pglite.dumpDataDir('none');
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, Buffer.from(await blob.arrayBuffer()));
    await rename(tmp, path);
  } finally {
    await db.close();
  }
  return path;
}

/** A fresh in-memory database with every migration applied, loaded from the template. */
export async function openMigrated(): Promise<EmbeddedDb> {
  const path = await ensureTemplate();
  const buf = await readFile(path);
  return openEmbedded({ loadDataDir: new Blob([buf]) });
}
