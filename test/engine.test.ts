/**
 * The two Db adapters hand callers the same JavaScript values and accept the same parameters: embedded
 * PGlite and postgres.js (what every CLI uses with DATABASE_URL, and the native test lane). On the PGlite
 * lane postgres.js reaches the same database over pglite-socket; on the native lane it is the server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEmbedded } from '../devstack/pglite/engine.ts';
import { openPostgres, type Db } from '../ops/db.ts';
import { onNative, openEmpty, openMigrated, openSession, serveDb } from './helpers/db.ts';

let embedded: Db;
let wire: Db;
let target: Db;
let served: { url: string; stop(): Promise<void> };

beforeAll(async () => {
  embedded = await openEmbedded();
  target = await openEmpty();
  served = await serveDb(target);
  wire = target.url ? target : await openPostgres(served.url, { max: 1 });
});
afterAll(async () => {
  if (wire !== target) await wire?.close();
  await served?.stop();
  await target?.close();
  await embedded?.close();
});

const probe = `select $1::jsonb as obj, $2::json as arr, $3::jsonb as str, $4::jsonb as from_object,
                     42::int8 as small, 9007199254740993::int8 as big, 1.5::numeric as num, 7::int4 as int,
                     true as yes, '2025-01-02T03:04:05Z'::timestamptz as at, null::text as nothing`;
const params = ['{"a":[1,2,{"b":null}]}', '[1,"x"]', '"just a string"', { k: 'v', n: 1 }];

it('a JSON string bound to a json/jsonb parameter is stored as the JSON it spells, on both adapters', async () => {
  const viaWire = (await wire.query<Record<string, unknown>>(probe, params))[0]!;
  expect(viaWire.obj).toEqual({ a: [1, 2, { b: null }] });
  expect(viaWire.arr).toEqual([1, 'x']);
  expect(viaWire.str).toBe('just a string');
  expect(viaWire.from_object).toEqual({ k: 'v', n: 1 });
  const [kind] = await wire.query<{ t: string }>(`select jsonb_typeof($1::jsonb) as t`, ['{"a":1}']);
  expect(kind!.t).toBe('object');
});

it('returns the same values as embedded PGlite (int8 a number while safe, BigInt beyond, numeric as text)', async () => {
  const viaWire = (await wire.query<Record<string, unknown>>(probe, params))[0]!;
  const viaPglite = (await embedded.query<Record<string, unknown>>(probe, params))[0]!;
  expect(viaWire).toEqual(viaPglite);
  expect(viaWire.small).toBe(42);
  expect(viaWire.big).toBe(9007199254740993n);
  expect(viaWire.num).toBe('1.5');
  expect(viaWire.at).toEqual(new Date('2025-01-02T03:04:05Z'));
});

describe('openSession: more real sessions on a test’s own database', () => {
  // Native lane only: PGlite is one session, so there is no second one to open (it says so).
  it.skipIf(!onNative)('gives separate backends that really block each other, and closes with the database', async () => {
    const db = await openMigrated();
    try {
      const [a, b] = [await openSession(db), await openSession(db)];
      const pid = async (s: Db) => (await s.query<{ pid: number }>(`select pg_backend_pid() as pid`))[0]!.pid;
      expect(new Set([await pid(db), await pid(a), await pid(b)]).size).toBe(3);
      const [dbName] = await db.query<{ d: string }>(`select current_database() as d`);
      expect(await a.query(`select current_database() as d`)).toEqual([dbName]);
      await a.transaction(async (tx) => {
        await tx.query(`select pg_advisory_xact_lock(42)`);
        await expect(b.query(`select pg_advisory_xact_lock(42), 1 from (select set_config('lock_timeout', '200ms', true)) s`)).rejects.toMatchObject({
          code: '55P03',
        });
      });
      expect(await b.query(`select pg_try_advisory_lock(42) as got`)).toEqual([{ got: true }]);
    } finally {
      await db.close();
    }
  });

  it.skipIf(onNative)('on PGlite, says that there is only one session', async () => {
    const db = await openMigrated();
    try {
      await expect(openSession(db)).rejects.toThrow(/PGlite is a single session/);
    } finally {
      await db.close();
    }
  });
});
