/**
 * Two backfills started at once. Every entry point (migrate_chat_messages_batch, migrate_with_progress,
 * migrate_chat_messages, run_chat_migration, repair_chat_migration) takes the same transaction-scoped advisory
 * lock first: while one holds it, another refuses at once with SQLSTATE 55P03, a message that says why and a
 * HINT — it never waits behind the holder's row locks and never starts a second run. Guard: the
 * pg_try_advisory_xact_lock(chat_migration.lock_key()) at the top of the batch (and of repair).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Db, Queryable } from '../../ops/db.ts';
import { onNative, openMigrated } from '../helpers/db.ts';
import { budget, seedOwners, sessions, sleep, sqlState, verifyFailures } from './helpers.ts';

const busy = /another chat migration batch is running right now|a chat migration batch is running right now/;

// PGlite is a single session: a second backfill cannot even start while the first runs there.
describe.skipIf(!onNative)('two backfills at once', () => {
  let db: Db;
  afterEach(async () => {
    await db?.close();
  });

  it('while one batch holds the lock, every other entry point refuses at once with 55P03 and a hint', async () => {
    db = await openMigrated();
    await seedOwners(db, 2, 2, 500);
    const [holder, other] = await sessions(db, 2);
    // Without the advisory lock the other session would queue behind the holder's row locks: lock_timeout
    // turns that wait into an error with another message, so the test fails instead of hanging.
    await other!.query(`set lock_timeout = '3s'`);

    const refusals = await holder!.transaction(async (tx) => {
      // the very first batch: it creates the run inside this still-open transaction
      expect(await tx.query(`select public.migrate_chat_messages_batch(500) as n`)).toEqual([{ n: 500 }]);
      const out: Record<string, { code?: string; message: string; hint?: string }> = {};
      for (const [name, sql] of [
        ['batch', `select public.migrate_chat_messages_batch(500)`],
        ['progress', `select * from public.migrate_with_progress(500)`],
        ['everything', `select public.migrate_chat_messages()`],
        ['procedure', `call public.run_chat_migration(500)`],
        ['repair', `select public.repair_chat_migration(500)`],
      ] as const) {
        const e = await other!.query(sql).then(() => undefined, (err: unknown) => err as { code?: string; message: string; hint?: string });
        out[name] = e ? { code: sqlState(e), message: e.message, hint: e.hint } : { message: 'it ran' };
      }
      return out;
    });

    for (const [name, e] of Object.entries(refusals)) {
      expect(e, name).toMatchObject({ code: '55P03', message: expect.stringMatching(busy), hint: expect.stringMatching(/.+/) });
    }
    expect(refusals.procedure!.message).toMatch(/^chat migration stopped: another chat migration batch is running right now/);
    // the refused procedure did not mark the holder's run failed: that run is fine
    expect(await db.query(`select count(*)::int as runs, min(status) as status from chat_migration.runs`))
      .toEqual([{ runs: 1, status: 'running' }]);
  });

  it('four backfills started together copy every row exactly once, in one run, in batches that never overlap', async () => {
    db = await openMigrated();
    await seedOwners(db, 3, 2, 1000);
    const total = 6000;
    const all = await sessions(db, 4);
    const time = budget(25_000);
    const refused: string[] = [];
    const failures: string[] = [];

    const completed = async (q: Queryable) =>
      (await q.query<{ status: string }>(`select status from public.chat_migration_status()`))[0]!.status === 'completed';

    /** Runs `step` until the run has completed, counting refusals (55P03) and retrying them. */
    const loop = async (s: Db, name: string, step: () => Promise<unknown>) => {
      for (let i = 0; i < 2000 && !time.over(); i++) {
        try {
          await step();
        } catch (e) {
          if (sqlState(e) === '55P03' && busy.test((e as Error).message)) refused.push(name);
          else failures.push(`${name}: ${sqlState(e)} ${(e as Error).message}`);
          await sleep(2);
        }
        if (await completed(s)) return;
      }
    };

    const [a, b, c, d] = all as [Db, Db, Db, Db];
    await Promise.all([
      loop(a, 'procedure', () => a.query(`call public.run_chat_migration(200)`)),
      loop(b, 'progress', () => b.query(`select * from public.migrate_with_progress(200)`)),
      loop(c, 'batch c', () => c.query(`select public.migrate_chat_messages_batch(200)`)),
      loop(d, 'batch d', () => d.query(`select public.migrate_chat_messages_batch(200)`)),
    ]);

    expect(failures).toEqual([]);
    expect(await db.query(`select count(*)::int as runs, min(status) as status from chat_migration.runs`))
      .toEqual([{ runs: 1, status: 'completed' }]);
    // every legacy row copied by exactly one batch; backfill batches cover disjoint id ranges
    expect(await db.query(`select coalesce(sum(migrated + quarantined), 0)::int as n from chat_migration.batches`)).toEqual([{ n: total }]);
    expect(await db.query(
      `select count(*)::int as n from chat_migration.batches x join chat_migration.batches y on x.id < y.id
        where x.phase = 'backfill' and y.phase = 'backfill'
          and int8range(x.first_id, x.last_id, '[]') && int8range(y.first_id, y.last_id, '[]')`)).toEqual([{ n: 0 }]);
    expect(await db.query(
      `select count(*)::int as v2, count(distinct legacy_id)::int as distinct_legacy from public.chat_messages_v2`))
      .toEqual([{ v2: total, distinct_legacy: total }]);
    expect(await verifyFailures(db)).toEqual({});
    // Four loops over ~30 batches of the same run: they met each other's lock (a refusal is the only way the
    // lock shows; without it they would have collided on the rows instead).
    expect(refused.length).toBeGreaterThan(0);
  });
});
