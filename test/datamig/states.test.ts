import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../../ops/db.ts';
import { rollback } from '../../ops/migrations/runner.ts';
import { openMigrated } from '../helpers/db.ts';
import { goodState, insertLegacy, insertState, seedLegacy } from './fixtures.ts';
import { rollbackNewerThanV2 } from '../helpers/newer-than-v2.ts';

let db: Db;
afterEach(async () => {
  await db?.close();
});

const one = async <T = Record<string, unknown>>(sql: string, params?: unknown[]) => (await db.query<T>(sql, params))[0]!;

describe('migrate_chat_states', () => {
  it('maps AgentState blobs to agent_states, working memories and (only when no chat_messages) history', async () => {
    db = await openMigrated();
    const s = await seedLegacy(db, 1);
    const [user, agent, convWithMessages] = [s.userIds[0]!, s.agentIds[0]!, s.conversationIds[0]!];
    const fresh = (await one<{ id: string }>(`select gen_random_uuid() as id`)).id;
    const invalid = (await one<{ id: string }>(`select gen_random_uuid() as id`)).id;
    const arrayBlob = (await one<{ id: string }>(`select gen_random_uuid() as id`)).id;
    const badRole = (await one<{ id: string }>(`select gen_random_uuid() as id`)).id;
    await insertState(db, fresh, user, agent, JSON.stringify(goodState));
    await insertState(db, convWithMessages, user, agent, JSON.stringify({ ...goodState, step_count: 9 }));
    await insertState(db, invalid, user, agent, '{"user_input": "unterminated');
    await insertState(db, arrayBlob, user, agent, '[1,2,3]');
    await insertState(db, badRole, user, agent, JSON.stringify({ conversation_history: [{ role: 'narrator', content: 'x' }] }));

    const r = await one(`select * from public.migrate_chat_states()`);
    expect(r).toEqual({ states: 2, memories: 8, history_messages: 3, quarantined: 3 });

    const st = await one<{ state: unknown; state_type: string; version: number; is_current: boolean }>(
      `select state, state_type, version, is_current from public.agent_states where session_id = $1`, [fresh]);
    expect(st).toEqual({
      state: { user_input: 'what is the weather?', focus: ['weather', 'paris'], step_count: 3, last_tool_result: { temp: 21 } },
      state_type: 'session', version: 1, is_current: true,
    });

    const mems = await db.query<{ content: string; importance: number; memory_type: string }>(
      `select content, importance, memory_type from public.agent_memories
        where metadata ->> 'conversation_id' = $1 order by (metadata ->> 'position')::int`, [fresh]);
    expect(mems).toEqual([
      { content: 'likes paris', importance: expect.closeTo(0.9, 5), memory_type: 'working' },
      { content: 'too relevant', importance: 1, memory_type: 'working' },
      { content: 'no score', importance: 0.5, memory_type: 'working' },
      { content: 'negative', importance: 0, memory_type: 'working' },
    ]);

    const hist = await db.query<{ role: string; text: string; source: string; created_at: Date; legacy_id: null }>(
      `select role, content ->> 'text' as text, metadata ->> 'source' as source, created_at, legacy_id
         from public.chat_messages_v2 where conversation_id = $1 order by created_at, client_message_id`, [fresh]);
    expect(hist.map((h) => [h.role, h.text, h.source, h.legacy_id])).toEqual([
      ['user', 'hi', 'chat_states', null],
      ['assistant', 'hello! 👋', 'chat_states', null],
      ['system', '', 'chat_states', null],
    ]);
    expect(hist[0]!.created_at.toISOString()).toBe('2024-02-01T10:00:00.000Z');
    expect(hist[2]!.created_at.toISOString()).toBe('2024-02-02T00:00:00.000Z'); // unparsable timestamp → state's updated_at
    // the conversation with chat_messages rows got no history copy
    expect(await one(`select count(*)::int as n from public.chat_messages_v2 where conversation_id = $1`, [convWithMessages])).toEqual({ n: 0 });

    const q = await db.query<{ source_id: string; reason: string }>(
      `select source_id, reason from chat_migration.quarantine where source_table = 'chat_states' order by reason`);
    expect(q).toEqual([
      { source_id: invalid, reason: 'content is not valid JSON' },
      { source_id: arrayBlob, reason: 'content is not a JSON object' },
      { source_id: badRole, reason: 'conversation_history[0] has unknown role: narrator' },
    ].sort((a, b) => a.reason.localeCompare(b.reason)));

    // re-run harmless
    expect(await one(`select * from public.migrate_chat_states()`)).toEqual({ states: 0, memories: 0, history_messages: 0, quarantined: 3 });
    expect(await one(`select count(*)::int as n from public.agent_states`)).toEqual({ n: 2 });
    expect(await one(`select count(*)::int as n from public.agent_memories`)).toEqual({ n: 8 });

    // fix a quarantined blob and retry
    await db.query(`update public.chat_states set content = '{"user_input":"fixed"}' where conversation_id = $1`, [invalid]);
    await db.query(`select * from public.retry_chat_migration_quarantine()`);
    expect(await one(`select state ->> 'user_input' as u from public.agent_states where session_id = $1`, [invalid])).toEqual({ u: 'fixed' });

    // the message backfill later does not collide with sessions created for states
    await db.query(`select public.migrate_chat_messages()`);
    const checks = await db.query<{ check_name: string; ok: boolean }>(`select check_name, ok from public.verify_chat_migration()`);
    expect(checks.find((c) => c.check_name === 'chat_states')).toEqual({ check_name: 'chat_states', ok: true });
    expect(checks.filter((c) => !c.ok)).toEqual([]);
  });

  it('history rows are not mirrored to legacy under dual_write and do not block the v2 rollback check', async () => {
    db = await openMigrated();
    const s = await seedLegacy(db, 1);
    await db.query(`select public.migrate_chat_messages()`);
    await db.query(`select public.set_chat_schema_mode('dual_write')`);
    const fresh = (await one<{ id: string }>(`select gen_random_uuid() as id`)).id;
    await insertState(db, fresh, s.userIds[0]!, s.agentIds[0]!, JSON.stringify(goodState));
    const before = await one<{ n: number }>(`select count(*)::int as n from public.chat_messages`);
    await db.query(`select * from public.migrate_chat_states()`);
    expect(await one(`select count(*)::int as n from public.chat_messages`)).toEqual(before);
    expect((await db.query(`select * from public.verify_chat_migration() where not ok`))).toEqual([]);
    // a legacy write after this still mirrors (the guard was reset)
    const id = await insertLegacy(db, { conversation_id: s.conversationIds[0]!, user_id: s.userIds[0]!, role: 'user', content: 'after' });
    expect(await one(`select count(*)::int as n from public.chat_messages_v2 where legacy_id = $1`, [id])).toEqual({ n: 1 });
    // and the v2 rollback accepts them (they came from chat_states, which keeps them)
    await rollbackNewerThanV2(db);
    await rollback(db, { version: '20250805074444' });
    expect(await one(`select to_regclass('public.chat_messages_v2') as t`)).toEqual({ t: null });
    expect(await one(`select count(*)::int as n from public.chat_messages`)).toEqual({ n: before.n + 1 });
  });
});
