/**
 * Tenancy across the legacy → v2 boundary. The legacy policies check only user_id, so Bob, signed in and
 * going through them, can write rows that name Alice's conversation or Alice's agent:
 *   1. a chat_messages row with Alice's conversation_id (and a forged metadata.tokens of 1,000,000);
 *   2. a chat_messages row in his own conversation with agent_id = Alice's agent;
 *   3. a chat_states row on Alice's agent whose memory_context carries a prompt injection.
 * None of that may reach Alice in v2, by any path: the backfill (set-based, row by row, the sweep),
 * migrate_chat_states, the dual-write mirror (legacy inserts and updates), repair and retry. Such rows are
 * quarantined with a reason and stay in legacy; Alice's own rows keep migrating; verify and the integrity check
 * report them.
 */
import { describe, expect, it } from 'vitest';
import { dryRun } from '../../ops/data-migration/driver.ts';
import { as } from '../helpers/db.ts';
import { insertLegacy, invariantViolations } from './fixtures.ts';
import { AGENT, CONVERSATION, asAlice, asBob, backfill, db, expectAliceUntouched, injectIntoConversation, injectOntoAgent, injectState, one, openDb, openQuarantine, session, verifyRows, world } from './tenancy-world.ts';

describe('tenancy: the three attacks through the backfill', () => {
  it('are quarantined with their reasons and stay in legacy; Alice is untouched; verify counts them, clean', async () => {
    await openDb();
    const w = await world();
    const a1 = await injectIntoConversation(w);
    const a2 = await injectOntoAgent(w);
    const a3 = await injectState(w);
    // Alice keeps writing after Bob: her rows land in the same 1000-row batch as his
    w.aliceRows.push(await as(db, asAlice(w), (tx) => insertLegacy(tx, {
      conversation_id: w.aliceConv, user_id: w.alice, agent_id: w.aliceAgent, role: 'user', content: 'alice 3', metadata: { tokens: 5 },
    })));
    await backfill(1000);
    expect(await one(db, `select count(*)::int as n from chat_migration.batches`)).toEqual({ n: 1 });

    await expectAliceUntouched(w, 4);
    expect(await openQuarantine()).toEqual([
      { source_table: 'chat_messages', source_id: String(a1), reason: CONVERSATION },
      { source_table: 'chat_messages', source_id: String(a2), reason: AGENT },
      { source_table: 'chat_states', source_id: a3, reason: AGENT },
    ].sort((x, y) => (x.source_table + x.source_id).localeCompare(y.source_table + y.source_id)));
    // the legacy rows are still there, as Bob wrote them
    expect(await db.query(`select id::int from public.chat_messages where id in ($1, $2) order by id`, [a1, a2]))
      .toEqual([{ id: a1 }, { id: a2 }]);
    expect(await db.query(`select conversation_id from public.chat_states where conversation_id = $1`, [a3]))
      .toEqual([{ conversation_id: a3 }]);
    // no session was created for Bob's state-on-Alice's-agent conversation, no state, no memory
    expect(await session(a3)).toBeUndefined();
    // Bob's own conversation migrated normally, without the injected row
    expect(await session(w.bobConv)).toEqual({ user_id: w.bob, message_count: 2, token_count: 14 });
    expect(await invariantViolations(db)).toEqual([]);

    const v = await verifyRows();
    expect(v.filter((c) => !c.ok)).toEqual([]);
    const t = v.find((c) => c.check_name === 'tenancy')!;
    expect([Number(t.legacy_count), Number(t.v2_count), Number(t.mismatches), t.ok]).toEqual([3, 0, 0, true]);
    const integrity = await db.query<{ check_name: string }>(`select check_name from public.check_chat_schema_integrity() where not ok`);
    expect(integrity).toEqual([]);

    // Alice's agent reads its memories: nothing of Bob's
    const e = `[${new Array(1536).fill(0).map((_, i) => (i === 0 ? 1 : 0)).join(',')}]`;
    const seen = await as(db, asAlice(w), (tx) => tx.query(
      `select content from public.agent_memories where agent_id = $1 union all
       select content from public.match_agent_memories($1, $2::extensions.vector)`, [w.aliceAgent, e]));
    expect(seen).toEqual([]);
  });

  it('the CLI\'s dry run predicts the cross-tenant quarantine by reason', async () => {
    await openDb();
    const w = await world();
    await injectIntoConversation(w);
    await injectOntoAgent(w);
    const r = await dryRun(db, { batchSize: 100 });
    expect(r.wouldMigrate).toBe(w.aliceRows.length + w.bobRows.length);
    expect(r.wouldQuarantine).toEqual({ [CONVERSATION]: 1, [AGENT]: 1 });
    expect(r.sample).toMatchObject({ rows: 7, migrated: 5, quarantined: 2 });
  });

  it('batch size 1 and the end-of-keyset sweep: the owner\'s rows keep migrating around the injected ones', async () => {
    await openDb();
    const w = await world();
    // two ids inside Alice's range left free (rows written and deleted), for the late commits below
    const free: number[] = [];
    for (let i = 0; i < 2; i++) {
      free.push(await as(db, asAlice(w), (tx) => insertLegacy(tx, { conversation_id: w.aliceConv, user_id: w.alice, role: 'user', content: 'gone' })));
    }
    await db.query(`delete from public.chat_messages where id = any ($1::bigint[])`, [free]);
    const a1 = await injectIntoConversation(w);
    // keyset batches of one row until the cursor has passed every id
    for (;;) {
      await db.query(`select public.migrate_chat_messages_batch(1)`);
      expect(await invariantViolations(db)).toEqual([]);
      const st = await one<{ cursor: string; upper_bound: string }>(db, `select cursor, upper_bound from public.chat_migration_status()`);
      if (Number(st.cursor) >= Number(st.upper_bound)) break;
    }
    await expectAliceUntouched(w);
    // late commits behind the cursor, one of Bob's and one of Alice's: the sweep takes both in one batch
    const bobLate = await injectIntoConversation(w, { id: free[0]! });
    const aliceLate = await as(db, asAlice(w), async (tx) => Number((await one<{ id: string }>(tx,
      `insert into public.chat_messages (id, conversation_id, user_id, agent_id, role, content, metadata)
       values ($1, $2, $3, $4, 'user', 'alice late', '{"tokens": 5}') returning id`,
      [free[1]!, w.aliceConv, w.alice, w.aliceAgent])).id));
    for (;;) {
      const r = await one<{ n: number }>(db, `select public.migrate_chat_messages_batch(5) as n`);
      if (r.n === 0) break;
    }
    expect(await db.query(`select migrated, quarantined from chat_migration.batches where phase = 'sweep'`))
      .toEqual([{ migrated: 1, quarantined: 1 }]);
    expect(await one(db, `select deleted_at is null as live from public.chat_messages_v2 where legacy_id = $1`, [aliceLate]))
      .toEqual({ live: true });
    expect(await db.query(`select 1 from public.chat_messages_v2 where legacy_id in ($1, $2)`, [a1, bobLate])).toEqual([]);
    expect((await openQuarantine()).map((q) => [Number(q.source_id), q.reason]).sort())
      .toEqual([[a1, CONVERSATION], [bobLate, CONVERSATION]].sort());
    w.aliceRows.push(aliceLate);
    w.aliceRows.sort((x, y) => x - y);
    await expectAliceUntouched(w, 4);
    expect(await invariantViolations(db)).toEqual([]);
  });

  it('row-by-row fallback: a batch that raises still quarantines the cross-tenant rows with their reason', async () => {
    await openDb();
    const w = await world();
    const a1 = await injectIntoConversation(w);
    const a2 = await injectOntoAgent(w);
    // passes validation, breaks a v2 CHECK (size_bytes >= 0): the set-based statement raises, row by row follows
    const broken = await as(db, asAlice(w), (tx) => insertLegacy(tx, {
      conversation_id: w.aliceConv, user_id: w.alice, role: 'user', content: 'negative size',
      attachments: [{ name: 'n', storageId: 's', size: -5 }],
    }));
    await db.query(`select public.migrate_chat_messages()`);
    expect(await one(db, `select bool_or(row_by_row) as rbr from chat_migration.batches`)).toEqual({ rbr: true });
    await expectAliceUntouched(w);
    const q = await db.query<{ source_id: string; reason: string; sqlstate: string | null }>(
      `select source_id, reason, sqlstate from chat_migration.quarantine where resolved_at is null order by source_id::bigint`);
    expect(q.map((r) => [Number(r.source_id), r.reason])).toEqual([
      [a1, CONVERSATION], [a2, AGENT], [broken, expect.stringContaining('size_bytes')],
    ]);
    expect(q[2]!.sqlstate).toBe('23514');
  });
});

describe('tenancy: dual_write', () => {
  it('live legacy inserts of the attacks succeed in legacy, are quarantined, and never reach v2', async () => {
    await openDb();
    const w = await world();
    await backfill();
    await db.query(`select public.set_chat_schema_mode('dual_write')`);
    const a1 = await injectIntoConversation(w); // the legacy write itself succeeds: the app never breaks
    const a2 = await injectOntoAgent(w);
    const a3 = await injectState(w);
    expect(await db.query(`select id::int from public.chat_messages where id in ($1, $2) order by id`, [a1, a2]))
      .toEqual([{ id: a1 }, { id: a2 }]);
    await db.query(`select * from public.migrate_chat_states()`);
    await expectAliceUntouched(w);
    expect((await openQuarantine()).map((q) => q.reason).sort()).toEqual([AGENT, AGENT, CONVERSATION]);
    expect((await openQuarantine()).find((q) => q.source_table === 'chat_states')!.source_id).toBe(a3);
    expect((await verifyRows()).filter((c) => !c.ok)).toEqual([]);
  });

  it('Bob updating his own migrated row to point at Alice\'s conversation or agent: quarantined, mirror retired, back when fixed', async () => {
    await openDb();
    const w = await world();
    await backfill();
    await db.query(`select public.set_chat_schema_mode('dual_write')`);
    const [moved, reagented] = w.bobRows as [number, number];

    const updated = await as(db, asBob(w), (tx) => tx.query(
      `update public.chat_messages set conversation_id = $2, content = 'now in alice''s conversation' where id = $1 returning id`,
      [moved, w.aliceConv]));
    expect(updated).toHaveLength(1);
    await as(db, asBob(w), (tx) => tx.query(
      `update public.chat_messages set agent_id = $2, metadata = '{"tokens": 1000000}' where id = $1`, [reagented, w.aliceAgent]));

    await expectAliceUntouched(w);
    expect((await openQuarantine()).map((q) => [Number(q.source_id), q.reason]))
      .toEqual([[moved, CONVERSATION], [reagented, AGENT]]);
    // the earlier mirrors keep nothing Bob chose and are no longer live
    const mirrors = await db.query<{ legacy_id: string; conversation_id: string; agent_id: string; live: boolean; text: string }>(
      `select legacy_id::text, conversation_id, agent_id, deleted_at is null as live, content ->> 'text' as text
         from public.chat_messages_v2 where legacy_id in ($1, $2) order by legacy_id`, [moved, reagented]);
    expect(mirrors).toEqual([
      { legacy_id: String(moved), conversation_id: w.bobConv, agent_id: w.bobAgent, live: false, text: 'bob 0' },
      { legacy_id: String(reagented), conversation_id: w.bobConv, agent_id: w.bobAgent, live: false, text: 'bob 1' },
    ]);
    expect(await session(w.bobConv)).toMatchObject({ message_count: 0, token_count: 0 });
    // legacy keeps what Bob wrote
    expect(await one(db, `select conversation_id from public.chat_messages where id = $1`, [moved])).toEqual({ conversation_id: w.aliceConv });
    expect(await invariantViolations(db)).toEqual([]);
    expect((await verifyRows()).filter((c) => !c.ok)).toEqual([]);

    // retry keeps them quarantined (nothing changed)
    const retry = await one(db, `select * from public.retry_chat_migration_quarantine()`);
    expect(retry).toEqual({ retried: 2, resolved: 0, still_quarantined: 2 });
    await expectAliceUntouched(w);

    // a round trip through v2_only keeps the quarantined legacy rows (their retired mirrors are not v2 deletes)
    await db.query(`select public.set_chat_schema_mode('v2_only')`);
    await db.query(`select public.set_chat_schema_mode('dual_write')`);
    expect(await db.query(`select id::int from public.chat_messages where id in ($1, $2) order by id`, [moved, reagented]))
      .toEqual([{ id: moved }, { id: reagented }]);

    // Bob puts them back where they belong: the mirror follows and is live again, the entries resolve
    await as(db, asBob(w), (tx) => tx.query(`update public.chat_messages set conversation_id = $2 where id = $1`, [moved, w.bobConv]));
    await as(db, asBob(w), (tx) => tx.query(`update public.chat_messages set agent_id = $2 where id = $1`, [reagented, w.bobAgent]));
    expect(await openQuarantine()).toEqual([]);
    expect(await db.query(
      `select content ->> 'text' as text, deleted_at is null as live from public.chat_messages_v2 where legacy_id in ($1, $2) order by legacy_id`,
      [moved, reagented])).toEqual([{ text: "now in alice's conversation", live: true }, { text: 'bob 1', live: true }]);
    expect(await session(w.bobConv)).toMatchObject({ message_count: 2, token_count: 7 + 1_000_000 });
    expect((await verifyRows()).filter((c) => !c.ok)).toEqual([]);
  });
});
