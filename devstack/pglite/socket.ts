/**
 * Serves an embedded PGlite database over the Postgres wire protocol (pglite-socket), so psql,
 * the Supabase CLI, postgres.js and Deno connect to it like to a server.
 *
 * PGlite has ONE session: every client shares it and queries run one at a time. Session state
 * (`set role`, GUCs) therefore leaks between clients — callers use `set local` inside transactions only.
 */
import { createServer } from 'node:net';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { PGlite } from '@electric-sql/pglite';

export interface SocketHandle {
  port: number;
  host: string;
  /** postgresql://postgres:postgres@host:port/postgres — the password is not checked. */
  url: string;
  stop(): Promise<void>;
}

/** Asks the OS for a free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function serveSocket(pg: PGlite, opts: { port?: number; host?: string; maxConnections?: number } = {}): Promise<SocketHandle> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? (await freePort());
  const server = new PGLiteSocketServer({ db: pg, host, port, maxConnections: opts.maxConnections ?? 100 });
  await server.start();
  return {
    host,
    port,
    url: `postgresql://postgres:postgres@${host}:${port}/postgres`,
    stop: () => server.stop(),
  };
}
