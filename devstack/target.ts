/**
 * Which database a CLI command works on:
 *
 * - `--database-url URL` (or `DATABASE_URL`): that server.
 * - Otherwise the embedded database in `--data-dir` (default `.data/db`). When a running local stack
 *   holds that directory (its lock says so, ./pglite/lock.ts), the command goes through the stack's Postgres
 *   port instead of opening the files a second time — with one line saying so. Any other live holder
 *   makes the open fail at once with a message naming it.
 *
 * The scripts open the target here and hand the `Db` to ops/ (runner, driver, seeder), which never knows
 * whether it is embedded.
 */
import { openPostgres, type Db } from '../ops/db.ts';
import { redactUrl } from '../ops/cli/target.ts';
import { openEmbedded } from './pglite/engine.ts';
import { displayDir, lockHolder, type LockInfo } from './pglite/lock.ts';

/** Default embedded data directory shared by `npm start` and the db:* / data:* scripts. */
export const defaultDataDir = '.data/db';

export interface Target {
  db: Db;
  /** For messages: the redacted URL, or the data directory (and the stack serving it). */
  where: string;
  /** Set when the command reached the data directory through a running stack. */
  viaStack?: LockInfo;
}

export interface TargetOptions {
  url?: string | undefined;
  dataDir?: string | undefined;
  /** Connection pool size on a server. */
  max?: number;
  log?: (line: string) => void;
}

export async function openTarget(opts: TargetOptions): Promise<Target> {
  const max = opts.max ?? 1;
  const log = opts.log ?? ((l: string) => console.error(l));
  if (opts.url) return { db: await openPostgres(opts.url, { max }), where: redactUrl(opts.url) };
  const dataDir = opts.dataDir ?? defaultDataDir;
  let holder = await lockHolder(dataDir);
  if (holder?.stack && !holder.dbUrl) {
    // A stack that is still starting: its port opens within seconds.
    log(`${displayDir(dataDir)} belongs to ${holder.command} (pid ${holder.pid}), which is still starting: waiting for its database…`);
    for (let i = 0; i < 240 && holder?.stack && !holder.dbUrl; i++) {
      await new Promise((r) => setTimeout(r, 250));
      holder = await lockHolder(dataDir);
    }
  }
  if (holder?.dbUrl) {
    log(`${displayDir(dataDir)} is open in ${holder.command} (pid ${holder.pid}): using its database at ${holder.dbUrl}`);
    return { db: await openPostgres(holder.dbUrl, { max }), where: `${displayDir(dataDir)} through ${holder.command} (${holder.dbUrl})`, viaStack: holder };
  }
  // Nobody serves it: open the files (the lock refuses us if another process got there in the meantime).
  return { db: await openEmbedded({ dataDir }), where: `embedded database ${displayDir(dataDir)}` };
}
