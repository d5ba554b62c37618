/**
 * The late-commit hazard of a keyset backfill. Session A inserts a legacy row: its id comes from the
 * identity sequence at once, but the row stays invisible until A commits. Meanwhile session B's backfill
 * passes that id (the keyset sees rows above it) — so the row is behind the cursor when it appears.
 *
 *  - dual_write: the mirror trigger copied the row into v2 inside A's own transaction, so it appears in
 *    both places at the same instant (guard: the legacy→v2 mirror trigger).
 *  - legacy mode, A commits before the keyset is exhausted: the end-of-keyset sweep finds it (guard: the
 *    sweep phase of migrate_chat_messages_batch).
 *  - legacy mode, A commits after the run completed: nothing copies it yet — verify reports it under
 *    legacy_rows_accounted, v2_only refuses, and the next backfill call starts a new run that sweeps it
 *    (documented in docs/data-migration-sql.md and docs/runbook.md).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Db, Queryable } from '../../ops/db.ts';
import { onNative, openMigrated } from '../helpers/db.ts';
import { heldTransaction, seedOwners, sessions, verifyFailures, type Owner } from './helpers.ts';

/** One batch at a time (own transaction each) until `stop` says so; bounded. */
async function batches(s: Queryable, size: number, stop: (st: Status) => boolean): Promise<Status> {
  for (let i = 0; i < 200; i++) {
    await s.query(`select public.migrate_chat_messages_batch($1)`, [size]);
    const st = await status(s);
    if (stop(st)) return st;
  }
  throw new Error('the backfill did not get there in 200 batches');
}
interface Status { status: string; phase: string; cursor: number; upper_bound: number }
const status = async (s: Queryable) =>
  (await s.query<Status>(`select status, phase, cursor::int, upper_bound::int from public.chat_migration_status()`))[0]!;

const inV2 = async (s: Queryable, id: number) =>
  (await s.query(`select 1 from public.chat_messages_v2 where legacy_id = $1`, [id])).length === 1;

// PGlite is a single session: a transaction cannot stay open while another session backfills (the
// sequential stand-in — a row inserted behind the cursor with an explicit id — is in test/datamig).
describe.skipIf(!onNative)('a legacy insert that commits after the backfill cursor passed its id', () => {
  let db: Db;
  afterEach(async () => {
    await db?.close();
  });

  /** 1,000 seeded rows, then A's open insert (id allocated, uncommitted), then 500 more committed rows above it. */
  async function setup(mode: 'legacy' | 'dual_write') {
    db = await openMigrated();
    const [owner] = (await seedOwners(db, 1, 2, 500)) as [Owner];
    if (mode === 'dual_write') await db.query(`select public.set_chat_schema_mode('dual_write')`);
    const [a, b] = (await sessions(db, 2)) as [Db, Db];
    // B never waits for A below; if it did (a regression), the test fails here instead of hanging
    await b.query(`set lock_timeout = '5s'`);
    const late = await heldTransaction(a);
    // its own conversation: A's uncommitted session row must not stand in the way of B's batches
    const [row] = await late.tx.query<{ id: number }>(
      `insert into public.chat_messages (conversation_id, user_id, agent_id, role, content)
       values (gen_random_uuid(), $1, $2, 'user', 'the late one') returning id`, [owner.userId, owner.agentId]);
    const lateId = Number(row!.id);
    await db.query(
      `insert into public.chat_messages (conversation_id, user_id, agent_id, role, content)
       select $1, $2, $3, 'assistant', 'after the late one #' || g from generate_series(1, 500) g`,
      [owner.conversationIds[0], owner.userId, owner.agentId]);
    return { a, b, late, lateId };
  }

  it('dual_write: it reaches v2 in its own transaction, whatever the cursor did meanwhile', async () => {
    const { b, late, lateId } = await setup('dual_write');
    const done = await batches(b, 200, (st) => st.status === 'completed');
    expect(done.upper_bound, 'the run\'s bound covers the late id').toBeGreaterThan(lateId);
    expect(await inV2(b, lateId), 'invisible until A commits').toBe(false);

    await late.commit();
    expect(await inV2(b, lateId)).toBe(true);
    expect(await b.query(`select public.migrate_chat_messages_batch(200) as n`), 'nothing left for a new run').toEqual([{ n: 0 }]);
    expect(await verifyFailures(b)).toEqual({});
  });

  it('legacy mode, committed before the keyset ends: the sweep at the end of the keyset copies it', async () => {
    const { b, late, lateId } = await setup('legacy');
    const passed = await batches(b, 200, (st) => st.cursor >= st.upper_bound);
    expect(passed).toMatchObject({ status: 'running', phase: 'backfill' });
    expect(passed.cursor).toBeGreaterThan(lateId);

    await late.commit();
    expect(await inV2(b, lateId), 'the keyset passed it while it was invisible').toBe(false);
    const done = await batches(b, 200, (st) => st.status === 'completed');
    expect(done.phase).toBe('done');
    expect(await inV2(b, lateId)).toBe(true);
    expect(await b.query(`select phase, first_id::int, last_id::int, migrated from chat_migration.batches where phase = 'sweep'`))
      .toEqual([{ phase: 'sweep', first_id: lateId, last_id: lateId, migrated: 1 }]);
    expect(await verifyFailures(b)).toEqual({});
  });

  it('legacy mode, committed after the run completed: verify reports it, v2_only refuses, the next run sweeps it', async () => {
    const { b, late, lateId } = await setup('legacy');
    await batches(b, 200, (st) => st.status === 'completed');
    await late.commit();

    expect(await inV2(b, lateId)).toBe(false);
    expect(await verifyFailures(b)).toMatchObject({ legacy_rows_accounted: 1 });
    await expect(b.query(`select public.set_chat_schema_mode('v2_only')`)).rejects.toMatchObject({
      code: '55000', message: expect.stringMatching(/verification is not clean: .*legacy_rows_accounted \(1 mismatches\)/),
    });

    // calling the backfill again starts a new run because a row is neither migrated nor quarantined
    await batches(b, 200, (st) => st.status === 'completed');
    expect(await b.query(`select count(*)::int as runs from chat_migration.runs`)).toEqual([{ runs: 2 }]);
    expect(await inV2(b, lateId)).toBe(true);
    expect(await verifyFailures(b)).toEqual({});
  });
});
