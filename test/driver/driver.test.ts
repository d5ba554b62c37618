/** The migration driver in-process: dual-write capture, pause/resume, quarantine retry, dry run, throttle, errors. */
import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../../ops/db.ts';
import {
  dryRun,
  explain,
  getStatus,
  listQuarantine,
  MigrationLockedError,
  pause,
  resume,
  retryQuarantine,
  runMigration,
  SchemaNotMigratedError,
  setMode,
  verify,
} from '../../ops/data-migration/driver.ts';
import { seedLegacy } from '../../ops/seed/legacy.ts';
import { openMigrated } from '../helpers/db.ts';
import { ledgerInvariant } from './helpers.ts';

let db: Db | undefined;
afterEach(async () => {
  await db?.close();
  db = undefined;
});

async function seeded(messages = 150, dirtyRate = 0.1) {
  db = await openMigrated();
  const r = await seedLegacy(db, { conversations: 6, messages, dirtyRate, seed: 5 });
  return { db, r };
}

describe('migration driver', () => {
  it('captures writes made between batches in dual_write mode (insert, update, delete)', async () => {
    const { db } = await seeded(140, 0.05);
    await setMode(db, 'dual_write');
    const any = (await db.query<{ conversation_id: string; user_id: string; agent_id: string | null }>(
      `select conversation_id, user_id, agent_id from public.chat_messages order by id limit 1`,
    ))[0]!;
    const inserted: number[] = [];
    const r = await runMigration(db, {
      batchSize: 20,
      onBatch: async (b) => {
        if (b.batch === 2) {
          // The app keeps writing: a new message, an edit of an already-migrated row, a delete.
          const ins = await db.query<{ id: number }>(
            `insert into public.chat_messages (conversation_id, user_id, agent_id, role, content, tool_calls)
             values ($1, $2, $3, 'human', 'written during the backfill ✍️',
                     '[{"toolCallId":"c1","toolName":"web_search","args":"{\\"q\\":1}"}]') returning id`,
            [any.conversation_id, any.user_id, any.agent_id],
          );
          inserted.push(Number(ins[0]!.id));
          await db.query(`update public.chat_messages set content = 'edited during the backfill' where id = (
                            select min(legacy_id) from public.chat_messages_v2)`);
          await db.query(`delete from public.chat_messages where id = (select max(legacy_id) from public.chat_messages_v2)`);
        }
        if (b.batch === 4) {
          // …and a write to a row the keyset has not reached yet.
          await db.query(`update public.chat_messages set content = 'edited ahead of the cursor' where id = (select max(id) - 1 from public.chat_messages)`);
        }
      },
    });
    expect(r.reason).toBe('done');
    const v2 = await db.query<{ text: string; role: string }>(
      `select content ->> 'text' as text, role from public.chat_messages_v2 where legacy_id = $1`,
      [inserted[0]],
    );
    expect(v2).toEqual([{ text: 'written during the backfill ✍️', role: 'user' }]);
    const edits = await db.query<{ n: number }>(
      `select count(*)::int as n from public.chat_messages_v2 where content ->> 'text' in ('edited during the backfill', 'edited ahead of the cursor')`,
    );
    expect(edits[0]!.n).toBe(2);
    const inv = await ledgerInvariant(db);
    expect(inv).toMatchObject({ gaps: 0, duplicate_v2: 0, both: 0 });
    expect(inv.migrated + inv.quarantined).toBe(inv.legacy);
    const ver = await verify(db);
    expect(ver.rows.filter((x) => !x.ok)).toEqual([]);
  });

  it('honours a pause set from psql between batches, refuses to run while paused, continues after resume', async () => {
    const { db, r: seed } = await seeded(120);
    const r1 = await runMigration(db, {
      batchSize: 10,
      onBatch: async (b) => {
        if (b.batch === 2) await db.query(`select public.pause_chat_migration()`); // as a DBA would in psql
      },
    });
    expect(r1.reason).toBe('paused');
    expect(r1.batches).toBeLessThanOrEqual(3);
    expect((await getStatus(db)).status).toBe('paused');
    const r2 = await runMigration(db, { batchSize: 10 });
    expect(r2).toMatchObject({ reason: 'paused', batches: 0 });
    await resume(db);
    const r3 = await runMigration(db, { batchSize: 10 });
    expect(r3.reason).toBe('done');
    const inv = await ledgerInvariant(db);
    expect(inv.migrated).toBe(seed.expectedMigrated);
    expect(inv.quarantined).toBe(seed.expectedQuarantine.messages);
    // pause() itself (data:pause) on a finished run is a harmless no-op.
    await pause(db);
  });

  it('retries quarantined rows after they are fixed', async () => {
    const { db, r: seed } = await seeded(150, 0.25);
    await runMigration(db, { batchSize: 50 });
    const q = await listQuarantine(db, 1000);
    expect(q.length).toBe(seed.expectedQuarantine.messages + seed.expectedQuarantine.states);
    const unknown = q.find((x) => x.source_table === 'chat_messages' && String(x.reason).startsWith('unknown role'));
    expect(unknown).toBeDefined();
    await db.query(`update public.chat_messages set role = 'assistant' where id = $1`, [Number(unknown!.source_id)]);
    const retried = await retryQuarantine(db);
    expect(retried[0]).toMatchObject({ resolved: 1, still_quarantined: q.length - 1 });
    const v2 = await db.query(`select role from public.chat_messages_v2 where legacy_id = $1`, [Number(unknown!.source_id)]);
    expect(v2).toEqual([{ role: 'assistant' }]);
    expect((await listQuarantine(db, 1000)).length).toBe(q.length - 1);
    expect((await verify(db)).ok).toBe(true);
  });

  it('dry run reports what would happen and writes nothing', async () => {
    const { db, r: seed } = await seeded(120, 0.2);
    const snapshot = () =>
      db.query(`select (select count(*)::int from public.chat_messages_v2) as v2, (select count(*)::int from chat_migration.runs) as runs,
                       (select count(*)::int from chat_migration.quarantine) as q, (select count(*)::int from chat_migration.batches) as b`);
    const before = await snapshot();
    const r = await dryRun(db, { batchSize: 40 });
    expect(await snapshot()).toEqual(before);
    expect(r.wouldMigrate).toBe(seed.expectedMigrated);
    expect(Object.values(r.wouldQuarantine).reduce((a, b) => a + b, 0)).toBe(seed.expectedQuarantine.messages);
    expect(r.sample).toMatchObject({ rows: 40 });
    expect(r.sample!.migrated! + r.sample!.quarantined!).toBe(40);
    expect(r.chatStates.invalidJson).toBe(seed.expectedQuarantine.states);
  });

  it('throttles to --rate rows/s by sleeping between batches', async () => {
    const { db } = await seeded(60, 0);
    const sleeps: number[] = [];
    const r = await runMigration(db, { batchSize: 10, rate: 5, maxBatches: 3, sleep: async (ms) => void sleeps.push(ms) });
    expect(r.reason).toBe('max-batches');
    expect(sleeps.length).toBe(3);
    // 30 rows at 5 rows/s must take 6 s in total; the sleeps fill what the batches did not use.
    expect(sleeps.reduce((a, b) => a + b, 0)).toBeGreaterThan(6000 - r.ms - 50);
  });

  it('says what to do when the API is missing or another run holds the lock', async () => {
    db = await openMigrated();
    await db.exec(`drop function public.migrate_chat_messages_batch(integer) cascade`);
    await expect(runMigration(db)).rejects.toBeInstanceOf(SchemaNotMigratedError);
    await expect(runMigration(db)).rejects.toMatchObject({ hint: expect.stringMatching(/npm run db:migrate/) });
    const locked = explain(Object.assign(new Error('another chat migration batch is running right now'), { code: '55P03' }));
    expect(locked).toBeInstanceOf(MigrationLockedError);
    expect((locked as MigrationLockedError).hint).toMatch(/pg_stat_activity/);
  });
});
