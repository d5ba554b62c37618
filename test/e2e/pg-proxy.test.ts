/**
 * The session-lock proxy on the local stack's Postgres port (devstack/stack/pg-proxy.ts), with real clients:
 * - with several connections, pglite-socket interleaves extended-protocol batches on PGlite's single
 *   session (one client's Bind lands on another's unnamed statement: "portal does not exist", or worse, a
 *   `begin` that runs as `commit`); behind the proxy every batch and every transaction block runs whole;
 * - what a client leaves on the one shared session (role, claims, prepared statements, temp tables, an
 *   open transaction…) is gone before the next client runs;
 * - the password is checked (SCRAM-SHA-256, like `supabase start`).
 */
import { spawn } from 'node:child_process';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteStartupSql, pgliteOf } from '../../devstack/pglite/engine.ts';
import type { Db } from '../../ops/db.ts';
import { projectRoot } from '../../ops/migrations/runner.ts';
import { openMigrated } from '../../devstack/templates/pglite.ts';
import { serveSocket, type SocketHandle } from '../../devstack/pglite/socket.ts';
import { serveSessionProxy, type ProxyHandle } from '../../devstack/stack/pg-proxy.ts';
import { onNative } from '../helpers/db.ts';

let db: Db;
let sock: SocketHandle;
let proxy: ProxyHandle;
let url: string;

beforeAll(async () => {
  if (onNative) return;
  db = await openMigrated();
  sock = await serveSocket(pgliteOf(db)!);
  proxy = await serveSessionProxy({ upstreamPort: sock.port, sessionInitSql: pgliteStartupSql });
  url = `postgres://postgres:postgres@127.0.0.1:${proxy.port}/postgres`;
});
afterAll(async () => {
  await proxy?.stop();
  await sock?.stop();
  await db?.close();
});

const connectAs = (u = url, extra: postgres.Options<Record<string, never>> = {}) =>
  postgres(u, { max: 1, prepare: false, onnotice: () => {}, ...extra });

/** Everything a session can carry, as seen by a client. */
async function sessionState(sql: postgres.Sql) {
  const [row] = await sql.unsafe(`
    select current_user as "user", session_user as "session",
           nullif(current_setting('request.jwt.claims', true), '') as claims,
           nullif(current_setting('app.note', true), '') as note,
           current_setting('maintenance_work_mem') as mwm,
           (select count(*)::int from pg_prepared_statements) as prepared,
           (select count(*)::int from pg_cursors where is_holdable) as cursors,
           (select count(*)::int from pg_listening_channels()) as listening,
           to_regclass('pg_temp.left_behind') is not null as temp_table,
           (select count(*)::int from pg_locks where locktype = 'advisory') as advisory_locks,
           (select count(*)::int from public.agents where name = 'uncommitted') as uncommitted_rows`);
  return row;
}
const clean = {
  user: 'postgres',
  session: 'postgres',
  claims: null,
  note: null,
  mwm: '256MB',
  prepared: 0,
  cursors: 0,
  listening: 0,
  temp_table: false,
  advisory_locks: 0,
  uncommitted_rows: 0,
};

/** Dirties the shared session in every way a client can; leaves a transaction open when asked. */
const dirty = [
  `set role anon`,
  `select set_config('request.jwt.claims', '{"sub":"00000000-0000-4000-8000-00000000a11c","role":"authenticated"}', false)`,
  `set app.note = 'left behind'`,
  `set maintenance_work_mem = '1MB'`,
  `prepare left_behind_stmt as select 1`,
  `reset role`,
  `create temp table left_behind (x int)`,
  `set role anon`,
  `listen left_behind_channel`,
  `select pg_advisory_lock(42)`,
  `begin`,
  `declare left_behind_cursor cursor with hold for select 1`,
  `commit`,
];

// PGlite only: the proxy exists because PGlite is one session; with --database-url (the native lane)
// the stack has no proxy — every client gets a real session of its own.
describe.skipIf(onNative)('session-lock proxy', () => {
  it('keeps concurrent transactions on the one shared session apart', async () => {
    const clients = Array.from({ length: 8 }, () => connectAs());
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
    const sql = connectAs(url, { ssl: 'prefer' });
    try {
      const rows = await sql.unsafe('select 1 as one; select 2 as two').simple();
      expect(rows.length).toBe(2);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  it('gives the next client a clean session after one that set role, claims, settings, statements, temp tables and quit', async () => {
    const a = connectAs();
    for (const s of dirty) await a.unsafe(s);
    const [seen] = await a.unsafe(`select current_user as "user", (select count(*)::int from pg_prepared_statements) as prepared`);
    expect(seen).toEqual({ user: 'anon', prepared: 1 }); // the dirt is really there
    await a.end({ timeout: 1 }); // Terminate, as psql's \q sends

    const b = connectAs();
    try {
      expect(await sessionState(b)).toEqual(clean);
      // …and data:status-style calls work again (they need postgres, not anon)
      const [n] = await b`select count(*)::int as n from supabase_migrations.schema_migrations`;
      expect(n!.n).toBeGreaterThan(0);
    } finally {
      await b.end({ timeout: 1 });
    }
  });

  it('rolls back and resets after a client that vanished mid-transaction without a Terminate', async () => {
    // A real process that dirties the session, opens a transaction with a write, and dies (no Terminate).
    const script = `
      import postgres from 'postgres';
      const sql = postgres(process.argv[1], { max: 1, prepare: false, onnotice: () => {} });
      for (const s of ${JSON.stringify(dirty)}) await sql.unsafe(s);
      await sql.unsafe("reset role");
      await sql.unsafe("begin");
      await sql.unsafe("insert into public.agents (owner_id, name) select id, 'uncommitted' from auth.users limit 1");
      await sql.unsafe("insert into auth.users (id, email) values (gen_random_uuid(), 'ghost@example.test')");
      await sql.unsafe("set local role anon");
      console.log('in transaction');
      process.kill(process.pid, 'SIGKILL');`;
    await db.query(`insert into auth.users (id, email) values (gen_random_uuid(), 'owner@example.test')`);
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, url], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const signal = await new Promise((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
    expect(out).toContain('in transaction');
    expect(signal).toBe('SIGKILL');

    const b = connectAs();
    try {
      expect(await sessionState(b)).toEqual(clean);
      const [ghost] = await b`select count(*)::int as n from auth.users where email = 'ghost@example.test'`;
      expect(ghost!.n).toBe(0);
    } finally {
      await b.end({ timeout: 1 });
    }
  });

  it('a new client does not inherit the session of one still connected', async () => {
    const a = connectAs();
    const b = connectAs();
    try {
      await a.unsafe(`set role anon`);
      await a.unsafe(`select set_config('request.jwt.claims', '{"sub":"someone"}', false)`);
      const [s] = await b.unsafe(`select current_user as "user", nullif(current_setting('request.jwt.claims', true), '') as claims`);
      expect(s).toEqual({ user: 'postgres', claims: null });
    } finally {
      await Promise.all([a.end({ timeout: 1 }), b.end({ timeout: 1 })]);
    }
  });

  it('checks the password with SCRAM-SHA-256 and refuses a wrong one with 28P01', async () => {
    const port = proxy.port;
    for (const bad of [`postgres://postgres:wrong@127.0.0.1:${port}/postgres`, `postgres://postgres@127.0.0.1:${port}/postgres`, `postgres://bob:postgres@127.0.0.1:${port}/postgres`]) {
      const sql = connectAs(bad);
      try {
        await expect(sql`select 1`).rejects.toMatchObject({
          code: '28P01',
          message: expect.stringMatching(/^password authentication failed for user "(postgres|bob)"$/),
        });
      } finally {
        await sql.end({ timeout: 1 });
      }
    }
    // a refused login leaves nothing behind: the right password still gets in at once
    const ok = connectAs();
    try {
      const [r] = await ok`select current_user as u`;
      expect(r!.u).toBe('postgres');
    } finally {
      await ok.end({ timeout: 1 });
    }
  });
});
