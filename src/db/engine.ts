/**
 * One small database interface over the two places our SQL runs:
 *  - embedded PGlite (PostgreSQL 18 in WASM) — tests, `npm start`, benchmarks;
 *  - any real Postgres / hosted Supabase through `DATABASE_URL` (postgres.js).
 *
 * Everything above this file (runner, data-migration driver, local stack) talks to `Db` only.
 */
import { PGlite, type Transaction as PGliteTx } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { pgtap } from '@electric-sql/pglite-pgtap';
import postgres from 'postgres';
import { mkdir } from 'node:fs/promises';

export interface Notice {
  severity: string;
  message: string;
  detail?: string;
  hint?: string;
}
export type NoticeListener = (n: Notice) => void;

/** What a query or a transaction body can do. */
export interface Queryable {
  /** One statement, optional $1.. parameters; returns the rows. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** A script of several statements, no parameters. */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /** Runs `fn` in one transaction; rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Subscribes to NOTICE/WARNING messages of every later statement; returns the unsubscribe. */
  onNotice(listener: NoticeListener): () => void;
  close(): Promise<void>;
  /** The PGlite instance behind an embedded Db (for the socket server and dumps); undefined on postgres. */
  readonly pglite?: PGlite;
  /** The connection URL of a server Db (so a caller can open more sessions on it); undefined on PGlite. */
  readonly url?: string;
}

/** Extensions registered every time a PGlite data directory is opened. */
export const pgliteExtensions = { vector, pgtap };

/** Settings every embedded session starts with (IVFFlat builds need ≥ 128MB). */
const pgliteStartupSql = `set maintenance_work_mem = '256MB';`;

export interface EmbeddedOptions {
  /** A directory to persist into; omit for an in-memory database. */
  dataDir?: string;
  /** A tarball from `dumpDataDir()` to start from (the migrated template). */
  loadDataDir?: Blob | File;
}

export async function openEmbedded(opts: EmbeddedOptions = {}): Promise<Db> {
  if (opts.dataDir) await mkdir(opts.dataDir, { recursive: true });
  const pg = await PGlite.create({
    ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
    ...(opts.loadDataDir ? { loadDataDir: opts.loadDataDir } : {}),
    extensions: pgliteExtensions,
  });
  return wrapPGlite(pg);
}

export async function wrapPGlite(pg: PGlite): Promise<Db> {
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
    onNotice(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    close: () => pg.close(),
  };
}

export interface ServerOptions {
  /** Pool size; the data-migration driver needs 1, the edge functions a few. */
  max?: number;
}

const parseInt8 = (x: string): number | bigint => {
  const n = BigInt(x);
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
};
const jsonText = (x: unknown) => JSON.stringify(x, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));

export async function openPostgres(url: string, opts: ServerOptions = {}): Promise<Db> {
  const listeners = new Set<NoticeListener>();
  const sql = postgres(url, {
    max: opts.max ?? 4,
    prepare: false,
    onnotice: (n) => {
      const notice: Notice = {
        severity: String(n.severity ?? 'NOTICE'),
        message: String(n.message ?? ''),
        ...(n.detail ? { detail: String(n.detail) } : {}),
        ...(n.hint ? { hint: String(n.hint) } : {}),
      };
      for (const l of listeners) l(notice);
    },
    // The same JavaScript values, both ways, as PGlite's own (de)serializers: int8 as a number while it is
    // safe (a BigInt beyond), and a string bound to a json/jsonb parameter taken as JSON text — postgres.js
    // would JSON-encode it again and store a JSON *string* instead of the object it spells.
    types: {
      bigint: { to: 20, from: [20], serialize: (x: unknown) => String(x), parse: parseInt8 },
      json: { to: 114, from: [114, 3802], serialize: (x: unknown) => (typeof x === 'string' ? x : jsonText(x)), parse: (x: string) => JSON.parse(x) },
    },
  });
  type Sql = typeof sql | postgres.TransactionSql;
  const over = (q: Sql): Queryable => ({
    async query<T>(text: string, params?: unknown[]) {
      const rows = await q.unsafe(text, (params ?? []) as postgres.ParameterOrJSON<never>[]);
      return rows as unknown as T[];
    },
    async exec(text: string) {
      await q.unsafe(text).simple();
    },
  });
  return {
    kind: 'postgres',
    url,
    ...over(sql),
    transaction: async <T>(fn: (tx: Queryable) => Promise<T>) =>
      (await sql.begin((tx) => fn(over(tx)))) as T,
    onNotice(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

/** `DATABASE_URL` (or an explicit url) → postgres.js; otherwise embedded PGlite at `dataDir` (or memory). */
export async function openDb(opts: { url?: string | undefined; dataDir?: string | undefined; max?: number } = {}): Promise<Db> {
  const url = opts.url ?? process.env.DATABASE_URL;
  if (url) return openPostgres(url, opts.max ? { max: opts.max } : {});
  return openEmbedded(opts.dataDir ? { dataDir: opts.dataDir } : {});
}
