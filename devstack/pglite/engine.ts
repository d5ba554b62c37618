/**
 * The embedded database: PGlite (PostgreSQL 18 in WASM) with pgvector and pgTAP, behind the same `Db`
 * interface ops/ uses for real servers (ops/db.ts) — tests, `npm start`, benchmarks and the CLIs on
 * `.data/db` open it here. A data directory is locked first (./lock.ts): one process per directory.
 */
import { PGlite, type Transaction as PGliteTx } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { pgtap } from '@electric-sql/pglite-pgtap';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Db, Notice, NoticeListener, Queryable } from '../../ops/db.ts';
import { acquireDataDirLock, displayDir, type DataDirLock } from './lock.ts';

/** A `Db` on embedded PGlite; `pgliteOf(db)` finds the instance behind any `Db` that is one. */
export interface EmbeddedDb extends Db {
  readonly kind: 'pglite';
  /** The PGlite instance (for the socket server, dumps and COPY). */
  readonly pglite: PGlite;
}

/** The PGlite instance behind `db`, or undefined when `db` is a server connection. */
export function pgliteOf(db: Db): PGlite | undefined {
  return (db as Partial<EmbeddedDb>).pglite;
}

/** Extensions registered every time a PGlite data directory is opened. */
export const pgliteExtensions = { vector, pgtap };

/**
 * Settings every embedded session starts with (IVFFlat builds need ≥ 128MB). The local stack's proxy
 * runs it again after resetting the shared session between clients.
 */
export const pgliteStartupSql = `set maintenance_work_mem = '256MB';`;

export interface EmbeddedOptions {
  /** A directory to persist into; omit for an in-memory database. */
  dataDir?: string;
  /** A tarball from `dumpDataDir()` to start from (the migrated template). */
  loadDataDir?: Blob | File;
  /** Delete the data directory first (while holding its lock). */
  reset?: boolean;
  /**
   * The directory's lock, when the caller took it already (the local stack takes it before anything
   * else starts); otherwise `openEmbedded` takes it. Either way `close()` releases it.
   */
  lock?: DataDirLock;
}

/** The data directory exists but PGlite cannot open it. */
export class DataDirDamagedError extends Error {
  override name = 'DataDirDamagedError';
  readonly code = 'DATA_DIR_DAMAGED';
  /** How to recover (printed by the CLIs as `hint:`). */
  readonly hint: string;
  constructor(
    readonly dir: string,
    override readonly cause: unknown,
  ) {
    const shown = displayDir(dir);
    super(
      `the embedded database in ${shown} cannot be opened (${(cause as Error)?.message ?? String(cause)}): ` +
        'its files are damaged — typically by two processes writing it at once, or a copy taken while it was open',
    );
    this.hint =
      `start over with npm start -- --reset (or npm run db:reset), which DELETES everything in ${shown}` +
      (shown === '.data/db' ? '' : ` (add --data-dir ${shown})`) +
      '; to keep the damaged files, move the directory aside first';
  }
}

/**
 * Opens PGlite in memory, from a tarball, or on a data directory. A data directory is locked first
 * (devstack/pglite/lock.ts): a second opener — another script, test or `npm start` — is refused at once with a
 * `DataDirInUseError` naming the holder and the way out, before it can touch a file.
 */
export async function openEmbedded(opts: EmbeddedOptions = {}): Promise<EmbeddedDb> {
  if (!opts.dataDir) {
    const pg = await PGlite.create({
      ...(opts.loadDataDir ? { loadDataDir: opts.loadDataDir } : {}),
      extensions: pgliteExtensions,
    });
    return wrapPGlite(pg);
  }
  const lock = opts.lock ?? (await acquireDataDirLock(opts.dataDir));
  let pg: PGlite;
  try {
    if (opts.reset) await rm(lock.dir, { recursive: true, force: true });
    const existed = existsSync(join(lock.dir, 'PG_VERSION'));
    try {
      pg = await PGlite.create({
        dataDir: lock.dir,
        ...(opts.loadDataDir ? { loadDataDir: opts.loadDataDir } : {}),
        extensions: pgliteExtensions,
      });
    } catch (e) {
      throw existed ? new DataDirDamagedError(lock.dir, e) : e;
    }
  } catch (e) {
    lock.release();
    throw e;
  }
  const db = await wrapPGlite(pg);
  const close = db.close;
  return Object.assign(db, {
    close: async () => {
      try {
        await close();
      } finally {
        lock.release();
      }
    },
  });
}

export async function wrapPGlite(pg: PGlite): Promise<EmbeddedDb> {
  await pg.exec(pgliteStartupSql);
  const listeners = new Set<NoticeListener>();
  const onNotice = (n: { severity?: string; message?: string; detail?: string; hint?: string }) => {
    const notice: Notice = {
      severity: n.severity ?? 'NOTICE',
      message: n.message ?? '',
      ...(n.detail ? { detail: n.detail } : {}),
      ...(n.hint ? { hint: n.hint } : {}),
    };
    for (const l of listeners) l(notice);
  };
  const over = (q: PGlite | PGliteTx): Queryable => ({
    async query<T>(sql: string, params?: unknown[]) {
      const r = await q.query<T>(sql, params as unknown[] | undefined, { onNotice });
      return r.rows;
    },
    async exec(sql: string) {
      await q.exec(sql, { onNotice });
    },
  });
  const base = over(pg);
  return {
    kind: 'pglite',
    pglite: pg,
    ...base,
    transaction: (fn) => pg.transaction((tx) => fn(over(tx))),
    async copyIn(into, text, setup = []) {
      await pg.transaction(async (tx) => {
        for (const stmt of setup) await tx.query(stmt);
        await tx.query(`copy ${into} from '/dev/blob'`, [], { blob: new Blob([text]), onNotice });
      });
    },
    onNotice(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    close: () => pg.close(),
  };
}
