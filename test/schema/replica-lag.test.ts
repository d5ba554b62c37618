/**
 * replica_lag() (20250805074452, with the other health functions): what the primary knows about its
 * standbys, for operators and for a backfill that slows down while replicas fall behind. How it behaves while a standby lags is asserted in
 * test/e2e/replica.test.ts, where WAL replay is paused (replay is cluster-wide: all pauses live there).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Db } from '../../ops/db.ts';
import { as, createUser, onNative, openMigrated, testReplicaUrl } from '../helpers/db.ts';

let db: Db;
beforeAll(async () => {
  db = await openMigrated();
});
afterAll(async () => {
  await db?.close();
});

it('is for operators: service_role and postgres execute it, anon and authenticated may not', async () => {
  const [p] = await db.query<Record<string, boolean>>(
    `select has_function_privilege('anon', 'public.replica_lag()', 'execute') as anon,
            has_function_privilege('authenticated', 'public.replica_lag()', 'execute') as authenticated,
            has_function_privilege('service_role', 'public.replica_lag()', 'execute') as service_role`,
  );
  expect(p).toEqual({ anon: false, authenticated: false, service_role: true });
  const uid = await createUser(db);
  await expect(as(db, { role: 'authenticated', sub: uid }, (tx) => tx.query(`select * from public.replica_lag()`))).rejects.toMatchObject({ code: '42501' });
  // security definer: the service role sees the numbers the owner sees (no null where the owner has one).
  const rows = await as(db, { role: 'service_role' }, (tx) => tx.query<Record<string, unknown>>(`select * from public.replica_lag()`));
  const owner = await db.query<Record<string, unknown>>(`select * from public.replica_lag()`);
  expect(rows.map((r) => r.replica)).toEqual(owner.map((r) => r.replica));
  for (const [i, r] of rows.entries()) {
    for (const k of Object.keys(r)) expect(r[k] === null, `${String(r.replica)}.${k}`).toBe(owner[i]![k] === null);
  }
});

it(onNative ? 'lists the streaming standby of the native lane, caught up or a few bytes behind, with its slot' : 'lists no standby where there is none (PGlite)', async () => {
  const rows = await db.query<Record<string, unknown>>(`select * from public.replica_lag()`);
  if (!onNative) {
    expect(rows).toEqual([]);
    return;
  }
  for (const r of rows) expect(['startup', 'catchup', 'streaming', 'backup', 'stopping', 'disconnected']).toContain(r.state);
  // `test:native --database-url` without --replica-url: a server that may or may not have standbys.
  if (!testReplicaUrl) return;
  const standby = rows.find((r) => r.replica === 'ajc_replica');
  expect(standby).toEqual({
    replica: 'ajc_replica',
    state: 'streaming',
    sync_state: 'async',
    sent_lag_bytes: expect.any(Number),
    replay_lag_bytes: expect.any(Number),
    replay_lag_seconds: expect.any(Number),
    slot_name: 'ajc_replica',
    slot_retained_bytes: expect.any(Number),
    wal_status: expect.stringMatching(/^(reserved|extended)$/),
  });
  for (const k of ['sent_lag_bytes', 'replay_lag_bytes', 'replay_lag_seconds', 'slot_retained_bytes']) expect(standby![k] as number, k).toBeGreaterThanOrEqual(0);
});
