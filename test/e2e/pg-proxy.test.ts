/**
 * Why the local stack puts a session-lock proxy in front of pglite-socket: with several connections,
 * pglite-socket interleaves extended-protocol batches on PGlite's single session (one client's Bind lands
 * on another's unnamed statement: "portal does not exist", or worse, a `begin` that runs as `commit`).
 * Behind the proxy every batch and every transaction block runs whole.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/engine.ts';
import { openMigrated } from '../../src/db/template.ts';
import { serveSocket, type SocketHandle } from '../../src/db/socket.ts';
import { serveSessionProxy, type ProxyHandle } from '../../src/stack/pg-proxy.ts';
import { onNative } from '../helpers/db.ts';

// PGlite only: the proxy exists because PGlite is one session; with --database-url (the native lane)
// the stack has no proxy — every client gets a real session of its own.
describe.skipIf(onNative)('session-lock proxy in front of pglite-socket', () => {
  let db: Db;
  let sock: SocketHandle;
  let proxy: ProxyHandle;

  beforeAll(async () => {
    db = await openMigrated();
    sock = await serveSocket(db.pglite!);
    proxy = await serveSessionProxy({ upstreamPort: sock.port });
  });
  afterAll(async () => {
    await proxy?.stop();
    await sock?.stop();
    await db?.close();
  });

  it('keeps concurrent transactions on the one shared session apart', async () => {
    const clients = Array.from({ length: 8 }, () =>
      postgres(`postgres://postgres@127.0.0.1:${proxy.port}/postgres`, { max: 1, prepare: false, onnotice: () => {} }),
    );
    let wrong = 0;
    try {
      await Promise.all(
        clients.map(async (sql, i) => {
          for (let k = 0; k < 40; k++) {
            const r = await sql.begin(async (tx) => {
              await tx`select set_config('app.who', ${String(i)}, true), set_config('role', 'pg_read_all_data', true)`;
              const [row] = await tx`select current_setting('app.who', true) as who, current_user as role`;
              return row!;
            });
            if (r.who !== String(i) || r.role !== 'pg_read_all_data') wrong++;
          }
        }),
      );
    } finally {
      await Promise.all(clients.map((c) => c.end({ timeout: 1 })));
    }
    expect(wrong).toBe(0);
    // nothing transaction-local survives on the shared session
    const [after] = await db.query<{ who: string | null; role: string }>(`select nullif(current_setting('app.who', true), '') as who, current_user as role`);
    expect(after).toEqual({ who: null, role: 'postgres' });
  });

  it('serves psql-style simple queries and SSL negotiation', async () => {
    const sql = postgres(`postgres://postgres@127.0.0.1:${proxy.port}/postgres`, { max: 1, ssl: 'prefer', onnotice: () => {} });
    try {
      const rows = await sql.unsafe('select 1 as one; select 2 as two').simple();
      expect(rows.length).toBe(2);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });
});
