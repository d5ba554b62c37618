/**
 * One step, many loops: migrate_with_progress, migrate_chat_messages, run_chat_migration and the TypeScript driver
 * all go through migrate_chat_messages_batch(), so a failing batch, the throttle, the default batch size and the
 * rows/s shown mean the same whoever runs the backfill.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../../ops/db.ts';
import { BatchFailedError, runMigration } from '../../ops/data-migration/driver.ts';
import { openMigrated } from '../helpers/db.ts';
import { invariantViolations, seedLegacy } from './fixtures.ts';

let db: Db;
afterEach(async () => {
  await db?.close();
});

const one = async <T>(sql: string, params?: unknown[]) => (await db.query<T>(sql, params))[0]!;

/** Every way of running the backfill, each as a DBA or the CLI would start it. */
const entryPoints: [string, (d: Db) => Promise<unknown>][] = [
  ['migrate_chat_messages_batch', (d) => d.query(`select public.migrate_chat_messages_batch(10)`)],
  ['migrate_with_progress', (d) => d.query(`select * from public.migrate_with_progress(10)`)],
  ['migrate_chat_messages', (d) => d.query(`select public.migrate_chat_messages()`)],
  ['run_chat_migration', (d) => d.query(`call public.run_chat_migration(10)`)],
  ['the driver (data:migrate)', (d) => runMigration(d, { batchSize: 10, skipStates: true })],
];

describe('one step for every loop', () => {
  for (const [name, run] of entryPoints) {
    it(`${name}: a failing batch marks the run failed, keeps the checkpoint, and resumes after the fix`, async () => {
      db = await openMigrated();
      const seeded = await seedLegacy(db, 2);
      await db.query(`select public.migrate_chat_messages_batch(10)`);
      const warnings: string[] = [];
      const off = db.onNotice((m) => {
        if (m.severity === 'WARNING') warnings.push(m.message);
      });
      // not even the row-by-row fallback can work without the quarantine table
      await db.query(`alter table chat_migration.quarantine rename to quarantine_gone`);
      const outcome = await run(db).then(() => null, (e: unknown) => e);
      off();
      await db.query(`alter table chat_migration.quarantine_gone rename to quarantine`);
      if (name === 'run_chat_migration') expect(outcome).toMatchObject({ message: expect.stringMatching(/chat migration stopped: .*quarantine/) });
      else if (name.startsWith('the driver')) expect(outcome).toBeInstanceOf(BatchFailedError);
      else expect(outcome).toBeNull(); // a function cannot keep the mark and raise: it warns and returns
      if (!name.startsWith('the driver')) expect(warnings.join('\n')).toMatch(/chat migration batch failed: .*quarantine/);
      const st = await one<{ status: string; last_error: string; cursor: string }>(
        `select status, last_error, cursor from public.chat_migration_status()`);
      expect(st.status).toBe('failed');
      expect(st.last_error).toMatch(/quarantine/);
      expect(Number(st.cursor)).toBe(seeded.ids[9]); // the failed batch rolled back whole
      expect(await one(`select last_sqlstate from chat_migration.runs`)).toEqual({ last_sqlstate: '42P01' });
      expect(await invariantViolations(db)).toEqual([]);
      await db.query(`call public.run_chat_migration(10)`);
      expect(await one(`select status, last_error from public.chat_migration_status()`)).toEqual({ status: 'completed', last_error: null });
      expect(await one(`select count(*)::int as n from public.chat_messages_v2`)).toEqual({ n: seeded.goodIds.length });
    });
  }

  it('one default batch size: migrate_chat_messages, repair and the driver take chat_migration.settings', async () => {
    db = await openMigrated();
    const seeded = await seedLegacy(db, 2); // 28 rows
    await db.query(`update chat_migration.settings set default_batch_size = 6, target_batch_ms = null`);
    expect(await one(`select public.migrate_chat_messages_batch(null) as n`)).toEqual({ n: 6 });
    await db.query(`select public.migrate_chat_messages()`);
    await db.query(`insert into public.chat_messages (conversation_id, user_id, role, content)
                    select conversation_id, user_id, 'user', 'later ' || g from public.chat_messages, generate_series(1, 9) g
                     where id = $1`, [seeded.goodIds[0]]);
    await runMigration(db, { skipStates: true });
    const sizes = await db.query<{ batch_size: number }>(`select distinct batch_size from chat_migration.batches`);
    expect(sizes).toEqual([{ batch_size: 6 }]);
    expect(await one(`select count(*)::int as n from chat_migration.batches where phase = 'backfill'`)).toEqual({ n: 5 + 2 });
    expect(await one(`select public.repair_chat_migration() as n`)).toEqual({ n: seeded.ids.length + 9 });
  });

  it('one throttle: the pause a batch asks for is n / rate - its own time, recorded on the batch, in rows/s and ETA', async () => {
    db = await openMigrated();
    await seedLegacy(db, 2);
    await db.query(`select public.migrate_chat_messages_batch(5)`);
    const r = await one<{ pause_seconds: number; batch_rows: number; batch_ms: string; rows_per_second: string; eta_seconds: string }>(
      `select * from chat_migration.batch_report(2)`);
    expect(r.batch_rows).toBe(5);
    expect(r.pause_seconds).toBeCloseTo(5 / 2 - Number(r.batch_ms) / 1000, 3);
    const b = await one<{ pause_ms: string; milliseconds: string }>(`select pause_ms, milliseconds from chat_migration.batches`);
    expect(Number(b.pause_ms)).toBeCloseTo(r.pause_seconds * 1000, 0);
    // rows/s counts the pause: 5 rows over 2.5 s = 2 rows/s; the ETA follows from the same rate
    expect(Number(r.rows_per_second)).toBeCloseTo(2, 1);
    const status = await one<{ rows_per_second: string; eta_seconds: string; remaining: string }>(
      `select rows_per_second, eta_seconds, remaining from public.chat_migration_status()`);
    expect(status.rows_per_second).toBe(r.rows_per_second);
    expect(Number(status.eta_seconds)).toBeCloseTo(Number(status.remaining) / Number(status.rows_per_second), 0);
    // without a rate, no pause
    await db.query(`select public.migrate_chat_messages_batch(5)`);
    expect(await one(`select pause_seconds from chat_migration.batch_report()`)).toEqual({ pause_seconds: 0 });
  });

  it('the driver reports what the ledger says after each batch', async () => {
    db = await openMigrated();
    const seeded = await seedLegacy(db, 2);
    const seen: { processed: number; batchNumber: number | null; total: number }[] = [];
    await runMigration(db, {
      batchSize: 8,
      skipStates: true,
      onBatch: (b) => void seen.push({ processed: b.report.processed, batchNumber: b.report.batchNumber, total: b.report.totalRows }),
    });
    expect(seen.map((s) => s.processed)).toEqual([8, 16, 24, 28]);
    expect(seen.map((s) => s.batchNumber)).toEqual([1, 2, 3, 4]);
    expect(new Set(seen.map((s) => s.total))).toEqual(new Set([seeded.ids.length]));
  });
});
