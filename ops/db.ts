/**
 * One small database interface over the places our SQL runs, and its implementation for any real
 * Postgres / hosted Supabase (postgres.js, `DATABASE_URL`).
 *
 * Everything in ops/ (migration runner, data-migration driver, seeder) talks to `Db` only, so it runs the
 * same against a server and against the devstack's embedded PGlite (devstack/pglite/engine.ts), which
 * implements this interface too. Nothing here needs PGlite.
 */
import postgres from 'postgres';

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
  /** The connection URL of a server Db (so a caller can open more sessions on it); undefined on PGlite. */
  readonly url?: string;
  /**
   * Bulk load where the engine has a fast path (embedded PGlite): `copy <into> from …` with `text` in COPY
   * text format, in one transaction that first runs `setup` (e.g. `set local …`). Undefined elsewhere:
   * callers fall back to INSERT.
   */
  copyIn?(into: string, text: string, setup?: string[]): Promise<void>;
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
