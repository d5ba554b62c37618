/**
 * Which database a CLI command works on, and how the user said so.
 *
 * - `--database-url URL` (or `DATABASE_URL`): that server.
 * - Otherwise the embedded database in `--data-dir` (default `.data/db`). When a running local stack
 *   holds that directory (its lock says so, src/db/lock.ts), the command goes through the stack's Postgres
 *   port instead of opening the files a second time — with one line saying so. Any other live holder
 *   makes the open fail at once with a message naming it.
 */
import { openEmbedded, openPostgres, type Db } from '../db/engine.ts';
import { displayDir, lockHolder, type LockInfo } from '../db/lock.ts';
import { defaultDataDir, stringOpt, type Values } from './args.ts';

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

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

/** The URL a user can paste into a later command: the local stack's well-known password stays, others are elided. */
export function pasteableUrl(url: string): string {
  const m = /\/\/[^:/@]+:([^@]*)@/.exec(url);
  return m && m[1] !== '' && m[1] !== 'postgres' ? redactUrl(url) : url;
}

/** Quotes a word for a POSIX shell when it needs it. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `--database-url` / `--data-dir` as the user gave them, for the commands a CLI suggests next. */
export function targetArgs(values: Values): string[] {
  const out: string[] = [];
  const url = stringOpt(values, 'database-url');
  if (url) out.push('--database-url', shellQuote(pasteableUrl(url)));
  const dir = stringOpt(values, 'data-dir');
  if (dir) out.push('--data-dir', shellQuote(dir));
  return out;
}

/** `npm run <script>` with arguments after `--` when there are any. */
export function npmRun(script: string, args: string[]): string {
  return `npm run ${script}${args.length ? ` -- ${args.join(' ')}` : ''}`;
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
