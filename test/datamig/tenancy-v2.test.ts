/**
 * Tenancy across the legacy → v2 boundary (see tenancy.test.ts for the three attacks), after the backfill:
 * repair and retry keep cross-tenant rows quarantined, v2 sessions and policies refuse to carry them, and
 * verify and the integrity check report every case.
 */
import { describe, expect, it } from 'vitest';
import { as } from '../helpers/db.ts';
import { goodState, insertLegacy } from './fixtures.ts';
import { AGENT, CONVERSATION, INJECTION, asAlice, asBob, backfill, db, expectAliceUntouched, injectIntoConversation, injectOntoAgent, injectState, one, openDb, openQuarantine, session, uuid, verifyRows, world } from './tenancy-world.ts';

describe('tenancy: repair and retry', () => {
  it('a retried or repaired cross-tenant row stays quarantined; a state on Alice\'s conversation too', async () => {
    await openDb();
    const w = await world();
    const a1 = await injectIntoConversation(w);
    const a2 = await injectOntoAgent(w);
    // Bob's state names Alice's conversation (she has none there yet) with his own agent
    const a3 = await injectState(w, w.aliceConv, w.bobAgent);
    await backfill();
    const retry = await one(db, `select * from public.retry_chat_migration_quarantine()`);
    expect(retry).toEqual({ retried: 3, resolved: 0, still_quarantined: 3 });
    await db.query(`select public.repair_chat_migration(2)`);
    await expectAliceUntouched(w);
    expect(await db.query(`select 1 from public.agent_states where session_id = $1`, [w.aliceConv])).toEqual([]);
    const q = await db.query<{ source_id: string; reason: string; attempts: number }>(
      `select source_id, reason, attempts from chat_migration.quarantine where resolved_at is null order by source_table, source_id`);
    expect(q).toEqual([
      ...[{ source_id: String(a1), reason: CONVERSATION }, { source_id: String(a2), reason: AGENT }]
        .sort((x, y) => x.source_id.localeCompare(y.source_id)).map((r) => ({ ...r, attempts: 3 })),
      { source_id: a3, reason: CONVERSATION, attempts: 2 },
    ]);
  });

  it('an injected message never holds back the owner\'s chat_states history once the owner has a session', async () => {
    await openDb();
    const w = await world();
    // Alice: a conversation that exists only in chat_states, whose v2 session she opened herself
    const conv = await uuid();
    await as(db, asAlice(w), (tx) => tx.query(
      `insert into public.chat_states (conversation_id, user_id, agent_id, content) values ($1, $2, $3, $4)`,
      [conv, w.alice, w.aliceAgent, JSON.stringify(goodState)]));
    await as(db, asAlice(w), (tx) => tx.query(`insert into public.conversation_sessions (id, user_id) values ($1, $2)`, [conv, w.alice]));
    const injected = await as(db, asBob(w), (tx) => insertLegacy(tx, { conversation_id: conv, user_id: w.bob, role: 'user', content: 'me too' }));
    await backfill();
    expect((await openQuarantine()).map((q) => [q.source_id, q.reason])).toEqual([[String(injected), CONVERSATION]]);
    const history = await db.query<{ text: string; user_id: string }>(
      `select content ->> 'text' as text, user_id from public.chat_messages_v2 where conversation_id = $1 order by created_at, client_message_id`,
      [conv]);
    expect(history.map((h) => h.text)).toEqual(['hi', 'hello! 👋', '']);
    expect(new Set(history.map((h) => h.user_id))).toEqual(new Set([w.alice]));
    expect(await one(db, `select count(*)::int as n from public.agent_memories where agent_id = $1`, [w.aliceAgent])).toEqual({ n: 4 });
  });
});

describe('tenancy: the v2 side', () => {
  it('a v2 session cannot take the id of another user\'s legacy conversation; its owner can', async () => {
    await openDb();
    const w = await world();
    const stateOnly = await uuid();
    await as(db, asAlice(w), (tx) => tx.query(
      `insert into public.chat_states (conversation_id, user_id, agent_id, content) values ($1, $2, $3, '{}')`,
      [stateOnly, w.alice, w.aliceAgent]));
    for (const id of [w.aliceConv, stateOnly]) {
      const err = await as(db, asBob(w), (tx) => tx.query(
        `insert into public.conversation_sessions (id, user_id) values ($1, $2)`, [id, w.bob])).then(() => null, (e: { code?: string; message: string }) => e);
      expect(err).toMatchObject({ code: '42501', message: `conversation ${id} belongs to another user` });
    }
    // as service_role, for Bob, the same
    await expect(as(db, { role: 'service_role' }, (tx) => tx.query(
      `insert into public.conversation_sessions (id, user_id) values ($1, $2)`, [w.aliceConv, w.bob]))).rejects.toMatchObject({ code: '42501' });
    // Alice may open hers; a fresh id is anyone's
    await as(db, asAlice(w), (tx) => tx.query(`insert into public.conversation_sessions (id, user_id) values ($1, $2)`, [w.aliceConv, w.alice]));
    await as(db, asBob(w), (tx) => tx.query(`insert into public.conversation_sessions (user_id) values ($1)`, [w.bob]));
    // and then the backfill puts her legacy rows in it
    await backfill();
    await expectAliceUntouched(w);
  });

  it('through v2 RLS Bob cannot write into Alice\'s session or onto Alice\'s agent, so the v2→legacy mirror cannot carry it', async () => {
    await openDb();
    const w = await world();
    await backfill();
    await db.query(`select public.set_chat_schema_mode('dual_write')`);
    const bobSession = w.bobConv;
    const attempts: [string, unknown[]][] = [
      [`insert into public.chat_messages_v2 (conversation_id, user_id, role, content) values ($1, $2, 'user', '{"type":"text","text":"x"}')`,
        [w.aliceConv, w.bob]],
      [`insert into public.chat_messages_v2 (conversation_id, user_id, agent_id, role, content) values ($1, $2, $3, 'user', '{"type":"text","text":"x"}')`,
        [bobSession, w.bob, w.aliceAgent]],
      [`insert into public.agent_memories (agent_id, user_id, memory_type, content) values ($1, $2, 'working', $3)`,
        [w.aliceAgent, w.bob, INJECTION]],
      [`insert into public.agent_states (agent_id, user_id, state_type, state) values ($1, $2, 'shared', '{}')`, [w.aliceAgent, w.bob]],
      [`insert into public.context_snapshots (session_id, agent_id, user_id) values ($1, $2, $3)`, [bobSession, w.aliceAgent, w.bob]],
      [`insert into public.context_snapshots (session_id, agent_id, user_id) values ($1, $2, $3)`, [w.aliceConv, w.bobAgent, w.bob]],
    ];
    for (const [sql, params] of attempts) {
      const err = await as(db, asBob(w), (tx) => tx.query(sql, params)).then(() => null, (e: { code?: string }) => e);
      expect(err, sql).toMatchObject({ code: '42501' });
    }
    await expectAliceUntouched(w);
    expect(await db.query(`select 1 from public.chat_messages where user_id = $1 and (conversation_id = $2 or agent_id = $3)`,
      [w.bob, w.aliceConv, w.aliceAgent])).toEqual([]);
  });
});

describe('tenancy: verify and the integrity check report every case', () => {
  it('each kind of cross-tenant v2 row fails verify\'s tenancy check and its own integrity check', async () => {
    await openDb();
    const w = await world();
    await backfill();
    expect((await verifyRows()).filter((c) => !c.ok)).toEqual([]);
    const aliceMessage = (await one<{ id: string }>(db, `select id from public.chat_messages_v2 where conversation_id = $1 limit 1`, [w.aliceConv])).id;
    const bobState = async (session: string | null) => (await one<{ id: string }>(db,
      `insert into public.agent_states (agent_id, user_id, session_id, state_type, state) values ($1, $2, $3, 'local', '{}') returning id`,
      [w.bobAgent, w.bob, session])).id;
    // Each written as postgres, the way a buggy job or a service_role script could (RLS would refuse it).
    const cases: [string, () => Promise<unknown>][] = [
      ['message_user_matches_session', () => db.query(
        `insert into public.chat_messages_v2 (conversation_id, user_id, role, content) values ($1, $2, 'user', '{"type":"text","text":"x"}')`,
        [w.aliceConv, w.bob])],
      ['message_agent_owned_by_user', () => db.query(
        `insert into public.chat_messages_v2 (conversation_id, user_id, agent_id, role, content) values ($1, $2, $3, 'user', '{"type":"text","text":"x"}')`,
        [w.bobConv, w.bob, w.aliceAgent])],
      ['session_agent_owned_by_user', () => db.query(`update public.conversation_sessions set agent_id = $2 where id = $1`, [w.bobConv, w.aliceAgent])],
      ['memory_agent_owned_by_user', () => db.query(
        `insert into public.agent_memories (agent_id, user_id, memory_type, content) values ($1, $2, 'working', $3)`, [w.aliceAgent, w.bob, INJECTION])],
      ['memory_source_owned_by_agent_owner', () => db.query(
        `insert into public.agent_memories (agent_id, user_id, memory_type, content, source_message_id) values ($1, $2, 'working', 'x', $3)`,
        [w.bobAgent, w.bob, aliceMessage])],
      ['state_agent_owned_by_user', () => db.query(
        `insert into public.agent_states (agent_id, user_id, state_type, state) values ($1, $2, 'shared', '{}')`, [w.aliceAgent, w.bob])],
      ['state_session_owned_by_agent_owner', () => bobState(w.aliceConv)],
      ['snapshot_owned_by_agent_owner', () => db.query(
        `insert into public.context_snapshots (session_id, agent_id, user_id) values ($1, $2, $3)`, [w.aliceConv, w.bobAgent, w.bob])],
      ['checkpoint_owned_by_agent_owner', async () => db.query(
        `insert into public.state_checkpoints (agent_id, user_id, session_id, state_id, checkpoint_type) values ($1, $2, $3, $4, 'manual')`,
        [w.bobAgent, w.bob, w.aliceConv, await bobState(null)])],
    ];
    for (const [check, write] of cases) {
      await db.query('begin');
      try {
        await write();
        const integrity = await db.query<{ check_name: string; problem_count: string }>(
          `select check_name, problem_count from public.check_chat_schema_integrity() where not ok and check_name <> 'session_metrics_match'`);
        expect(integrity.map((r) => r.check_name), check).toEqual([check]);
        const t = (await verifyRows()).find((c) => c.check_name === 'tenancy')!;
        expect(t, check).toMatchObject({ ok: false });
        expect(Number(t.mismatches), check).toBeGreaterThanOrEqual(1);
      } finally {
        await db.query('rollback');
      }
    }
    expect((await verifyRows()).filter((c) => !c.ok)).toEqual([]);
  });
});
