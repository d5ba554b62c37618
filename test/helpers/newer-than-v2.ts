/**
 * Migrations built on schema v2 that have only their own per-file rollback (the chat-client formats,
 * 20250814000000 and after): the whole-v2 rollback (and 20250810000000's) refuses while they are applied (AJC10)
 * and does not know their objects, so a test that rolls either back undoes these first, newest first — as an
 * operator would (`npm run db:rollback` per file). 20250810000000 (legacy privileges) is not one of them.
 */
import { readFile } from 'node:fs/promises';
import type { Db, Queryable } from '../../ops/db.ts';
import { appliedVersions, listRollbacks, rollback } from '../../ops/migrations/runner.ts';

/** The first version that is built on v2 and rolled back on its own. */
export const FIRST_AFTER_V2 = '20250814000000';

/** Rolls back, with the runner, every applied migration from FIRST_AFTER_V2 on, newest first. */
export async function rollbackNewerThanV2(db: Db): Promise<void> {
  const applied = [...(await appliedVersions(db)).keys()].filter((v) => v >= FIRST_AFTER_V2).sort().reverse();
  for (const version of applied) await rollback(db, { version });
}

/** The same with the rollback files run as plain SQL (no history table, or inside a caller's transaction). */
export async function runRollbacksNewerThanV2(db: Queryable & { exec(sql: string): Promise<unknown> }): Promise<void> {
  const files = (await listRollbacks()).filter((r) => r.version >= FIRST_AFTER_V2).reverse();
  for (const f of files) await db.exec(await readFile(f.path, 'utf8'));
}
