/**
 * Every documented DBA entry point that loops over batches is online-safe: a writer that queues behind the
 * backfill's row locks waits at most for the batch in flight (plus, at a batch boundary, the next one), never
 * for the rest of the run. Guards: run_chat_migration and the CLI's driver commit after every batch;
 * migrate_with_progress (a function: one transaction per call) returns as soon as chat_migration.health() sees
 * a session waiting for its locks, or after call_budget_ms, and the next call resumes. Without them a writer
 * blocked on a row of the first batch waits for the whole run.
 *
 * How "one batch" is checked without timing the writer: each batch records when it finished (batches.at, the
 * server's clock) and in which transaction (batches.xact_id). A writer's UPDATE returns when the server began it
 * and when it got its row; the batches of the transaction that held the row (the one that took it) that
 * finished in between are the ones it waited for — at most 2: the one in flight when it queued, and the next if
 * it queued just after that one's health check. (Batches of later transactions that finish before a starved
 * writer is scheduled again do not hold its row, and do not count.) The writers aim at the rows just past the
 * last committed batch (the batch in flight holds them), and the ledger must show that some batch really had a
 * writer queued behind it (batch_report's pause_reason), so the check cannot pass vacuously.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../../ops/db.ts';
import { runMigration } from '../../ops/data-migration/driver.ts';
import { onNative, openMigrated } from '../helpers/db.ts';
import { seedOwners, sessions, sleep } from './helpers.ts';

type Loop = (s: Db) => Promise<void>;

const entryPoints: [string, Loop][] = [
  [
    'migrate_with_progress (called until it returns no rows, like \\watch)',
    async (s) => {
      for (let i = 0; i < 1000; i++) {
        const rows = await s.query(`select * from public.migrate_with_progress(100)`);
        if (rows.length === 0) return;
      }
    },
  ],
  ['run_chat_migration', async (s) => void (await s.query(`call public.run_chat_migration(100)`))],
  ['the CLI driver (data:migrate)', async (s) => void (await runMigration(s, { batchSize: 100, skipStates: true }))],
];

describe.skipIf(!onNative)('a writer waits at most about one batch, whichever DBA entry point runs', () => {
  let db: Db;
  afterEach(async () => {
    await db?.close();
  });

  for (const [name, loop] of entryPoints) {
    it(name, async () => {
      db = await openMigrated();
      await seedOwners(db, 2, 4, 500); // 4,000 legacy rows: 40 batches of 100
      // an explicit batch size (fixed: the count below is in batches), no health pause (it would only slow the test), and a
      // call budget no writer could hide behind: only the lock-waiter exit bounds migrate_with_progress here
      await db.exec(`update chat_migration.settings set health_pause_ms = 0, call_budget_ms = 600000`);
      const [backfill, writer] = await sessions(db, 2);
      await writer!.query(`set lock_timeout = '60s'`);

      let done = false;
      const running = loop(backfill!).finally(() => {
        done = true;
      });
      const spans: { from: string; to: string; id: number }[] = [];
      while (!done && spans.length < 200) {
        // the first row past the last committed batch: the batch in flight holds it (or is about to)
        const [t] = await writer!.query<{ id: number | null }>(
          `select min(m.id) as id from public.chat_messages m
            where m.id > coalesce((select (r.checkpoint ->> 'cursor')::bigint from chat_migration.runs r
                                    order by r.id desc limit 1), 0)`);
        if (t!.id === null) break;
        // from: when the server began the UPDATE (it queues at once if the row is locked); to: when it got the row
        const [w] = await writer!.query<{ from: string; to: string }>(
          `update public.chat_messages set content = content || '' where id = $1
           returning statement_timestamp()::text as from, clock_timestamp()::text as to`, [t!.id]);
        spans.push({ ...w!, id: t!.id });
        await sleep(5);
      }
      await running;

      expect(await db.query(`select status from public.chat_migration_status()`)).toEqual([{ status: 'completed' }]);
      expect(spans.length).toBeGreaterThan(0);
      // the writer really queued behind a batch at least once (chat_migration.health saw it)
      const [queued] = await db.query<{ n: number }>(
        `select count(*)::int as n from chat_migration.batches where pause_reason like '%waited for the batch''s locks'`);
      expect(queued!.n).toBeGreaterThan(0);
      // and never for more than the batch in flight and, at a boundary, the next one: of the transaction that
      // held its row (the one whose batch took that row), count the batches that finished while it waited
      const [worst] = await db.query<{ n: number }>(
        `select coalesce(max((select count(*) from chat_migration.batches b
                               where b.xact_id = h.xact_id
                                 and b.at > s.from_at::timestamptz and b.at < s.to_at::timestamptz)), 0)::int as n
           from jsonb_to_recordset($1::jsonb) as s (from_at text, to_at text, id bigint)
           join chat_migration.batches h on s.id between h.first_id and h.last_id`,
        [JSON.stringify(spans.map((s) => ({ from_at: s.from, to_at: s.to, id: s.id })))]);
      expect(worst!.n).toBeLessThanOrEqual(2);
    });
  }
});
