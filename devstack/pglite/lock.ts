/**
 * One opener per embedded data directory.
 *
 * PGlite has no postmaster.pid: two processes that open the same directory both write its files, and the
 * result is lost rows or a directory that no longer opens ("Aborted()"). Every embedded opener
 * (`openEmbedded({ dataDir })`) therefore takes this lock first: a file `<dataDir>.lock` beside the
 * directory (so `--reset` can delete the directory while holding it), created atomically (written to a
 * temp file, then `link`ed into place — link fails when the name exists), holding who opened it:
 * pid, process start time, command, and the stack's database URL once it serves one.
 *
 * A lock whose process is gone (crash, SIGKILL, pid reused by another process) is stale and taken over.
 * It is released on close and on process exit.
 */
import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdir, realpath } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';

export interface LockInfo {
  pid: number;
  /** Process start time in clock ticks since boot (Linux), to tell a reused pid from the holder. */
  procStart?: number;
  /** What holds it, as a user would type it: `npm start`, `npm run seed:legacy`, `node scripts/x.ts`. */
  command: string;
  startedAt: string;
  /** Set by the local stack once its Postgres port accepts connections. */
  dbUrl?: string;
  apiUrl?: string;
  /** The holder is a local stack (it will serve dbUrl once started). */
  stack?: boolean;
  /** Unique per acquisition: tells our own lock from another one at the same path. */
  nonce?: string;
}

export interface DataDirLock {
  readonly dir: string;
  readonly path: string;
  readonly info: LockInfo;
  /** Rewrites the lock's details (e.g. the stack's database URL once it listens). */
  update(extra: Partial<Omit<LockInfo, 'pid' | 'procStart'>>): void;
  release(): void;
}

/** The data directory is open in another process (or already in this one). */
export class DataDirInUseError extends Error {
  override name = 'DataDirInUseError';
  readonly code = 'DATA_DIR_IN_USE';
  constructor(
    readonly dir: string,
    readonly holder: LockInfo,
    /** What to do instead (already part of the message). */
    readonly wayOut: string,
  ) {
    super(`${displayDir(dir)} is in use by ${holder.command} (pid ${holder.pid})${holder.pid === process.pid ? ' in this process' : ''}: ${wayOut}`);
  }
}

const held = new Map<string, { nonce: string }>();

/** `.data/db` for the default directory under the current working directory, otherwise the path. */
export function displayDir(dir: string): string {
  const rel = relative(process.cwd(), dir);
  return rel && !rel.startsWith('..') && !rel.startsWith('/') ? rel : dir;
}

export function lockPathFor(realDir: string): string {
  return join(dirname(realDir), `${basename(realDir)}.lock`);
}

/** Clock ticks since boot at which `pid` started (field 22 of /proc/<pid>/stat); undefined off Linux. */
export function procStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may contain spaces and parentheses: split after its closing paren
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const v = Number(rest[19]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** How this process would be described to a user: `npm start`, `npm run data:migrate`, or its argv. */
export function describeSelf(): string {
  const event = process.env.npm_lifecycle_event;
  const script = process.env.npm_lifecycle_script ?? '';
  const entry = process.argv[1] ? relative(process.cwd(), process.argv[1]) : '';
  // npm exports these to every descendant; only trust them when npm launched this very entry point.
  if (event && entry && script.includes(entry.replace(/\.[cm]?[jt]s$/, ''))) {
    return event === 'start' || event === 'test' ? `npm ${event}` : `npm run ${event}`;
  }
  const args = process.argv.slice(2).join(' ');
  const cmd = `${basename(process.argv0 || 'node')} ${entry}${args ? ` ${args}` : ''}`.trim();
  return cmd.length > 120 ? `${cmd.slice(0, 117)}…` : cmd;
}

/** True when the process that wrote `info` is still running (and is the same process, not a reused pid). */
export function holderAlive(info: LockInfo): boolean {
  if (info.pid === process.pid) return [...held.values()].some((h) => h.nonce === info.nonce);
  try {
    process.kill(info.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (info.procStart !== undefined) {
    const now = procStartTime(info.pid);
    if (now !== undefined && now !== info.procStart) return false;
  }
  return true;
}

function readInfo(path: string): LockInfo | null {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
    return typeof v.pid === 'number' ? v : null;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw e;
    return null; // unreadable or not ours: treated as stale
  }
}

/** The live holder of `dataDir`'s lock, or null when nobody (alive) holds it. */
export async function lockHolder(dataDir: string): Promise<LockInfo | null> {
  let real: string;
  try {
    real = await realpath(resolve(dataDir));
  } catch {
    real = resolve(dataDir);
  }
  try {
    const info = readInfo(lockPathFor(real));
    return info && holderAlive(info) ? info : null;
  } catch {
    return null;
  }
}

/** The way out, for the message of a refused opener. */
export function inUseHint(holder: LockInfo): string {
  if (holder.dbUrl) return `stop it, or pass --database-url ${holder.dbUrl}`;
  if (holder.stack) return 'it is a local stack still starting: wait for it, or stop it';
  return 'wait for it to finish, or stop it';
}

export async function acquireDataDirLock(dataDir: string, extra: Partial<Omit<LockInfo, 'pid' | 'procStart'>> = {}): Promise<DataDirLock> {
  const abs = resolve(dataDir);
  await mkdir(abs, { recursive: true });
  const dir = await realpath(abs);
  const path = lockPathFor(dir);
  const nonce = `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  let info: LockInfo = {
    pid: process.pid,
    ...(procStartTime(process.pid) !== undefined ? { procStart: procStartTime(process.pid)! } : {}),
    command: describeSelf(),
    startedAt: new Date().toISOString(),
    ...extra,
  };
  const write = (target: string, v: LockInfo) => writeFileSync(target, `${JSON.stringify({ ...v, nonce })}\n`, { mode: 0o644 });
  const tmp = `${path}.${nonce}.tmp`;

  if (held.has(path)) throw new DataDirInUseError(dir, info, 'a database may be opened once per process; close the first one');
  for (let attempt = 0; ; attempt++) {
    write(tmp, info);
    try {
      linkSync(tmp, path); // atomic: fails with EEXIST when a lock is already there
      unlinkSync(tmp);
      break;
    } catch (e) {
      unlinkSync(tmp);
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 5) throw e;
    }
    let current: LockInfo | null;
    try {
      current = readInfo(path);
    } catch {
      continue; // released between our link and our read: try again
    }
    if (current && holderAlive(current)) throw new DataDirInUseError(dir, current, inUseHint(current));
    // Stale: move it aside (atomic; of two processes taking over, one rename wins), then check that what
    // we moved is the stale lock we judged and not a fresh one linked in the meantime.
    const aside = `${path}.${nonce}.stale`;
    try {
      renameSync(path, aside);
    } catch {
      continue;
    }
    const moved = (() => {
      try {
        return readInfo(aside);
      } catch {
        return null;
      }
    })();
    if (moved && holderAlive(moved)) {
      try {
        linkSync(aside, path); // put the live lock back
      } catch {
        /* a third opener is already in place; it saw the live holder too and will refuse or retry */
      }
      unlinkSync(aside);
      throw new DataDirInUseError(dir, moved, inUseHint(moved));
    }
    unlinkSync(aside);
  }

  const onExit = () => releaseSync();
  const releaseSync = () => {
    if (!held.has(path)) return;
    held.delete(path);
    process.off('exit', onExit);
    try {
      const cur = JSON.parse(readFileSync(path, 'utf8')) as { nonce?: string };
      if (cur.nonce === nonce) unlinkSync(path);
    } catch {
      /* already gone */
    }
  };
  held.set(path, { nonce });
  process.on('exit', onExit);
  return {
    dir,
    path,
    get info() {
      return info;
    },
    update(more) {
      if (!held.has(path)) return;
      info = { ...info, ...more };
      const t = `${path}.${nonce}.tmp`;
      write(t, info);
      renameSync(t, path); // atomic replace: readers see the old or the new content, never half
    },
    release: releaseSync,
  };
}
