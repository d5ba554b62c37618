/**
 * The SQL write API (20250805074448): post_chat_message, create_/update_conversation_session,
 * create_context_snapshot and the view chat_messages_expanded, called as the API roles the way the edge
 * functions (and psql users) call them. RLS stays the fence: every call runs as the caller.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, Queryable } from '../../ops/db.ts';
import { as, openMigrated, type Actor } from '../helpers/db.ts';
import { attempt, createWorld, expectError, type World } from './fixtures.ts';

let db: Db;
let A: World;
let B: World;
const userA = (): Actor => ({ role: 'authenticated', sub: A.uid });
const userB = (): Actor => ({ role: 'authenticated', sub: B.uid });
const service: Actor = { role: 'service_role' };

beforeAll(async () => {
  db = await openMigrated();
  A = await createWorld(db);
  B = await createWorld(db);
});
afterAll(async () => {
  await db?.close();
});

interface Posted {
  message: Record<string, unknown> & { id: string; conversation_id: string; attachments: unknown[]; tool_calls: unknown[] };
  created: boolean;
}

const JSONB_ARGS = new Set(['p_content', 'p_metadata', 'p_attachments', 'p_tool_calls']);
const post = (tx: Queryable, args: Record<string, unknown>) => {
  const names = Object.keys(args);
  return tx
    .query<Posted>(
      `select * from public.post_chat_message(${names.map((n, i) => `${n} => $${i + 1}`).join(', ')})`,
      names.map((n) => (JSONB_ARGS.has(n) ? JSON.stringify(args[n]) : args[n])),
    )
    .then((r) => r[0]!);
};

describe('post_chat_message', () => {
  it('starts a conversation and stores the message with its attachments and tool calls in order', async () => {
    const r = await as(db, userA(), (tx) =>
      post(tx, {
        p_role: 'assistant',
        p_content: 'hello',
        p_title: 'New chat',
        p_metadata: { tokens: 2 },
        p_attachments: [
          { name: 'a.png', storage_path: 'up/a.png', mime_type: 'image/png', size_bytes: 10 },
          { name: 'b.txt', storage_path: 'up/b.txt', metadata: { k: 1 } },
        ],
        p_tool_calls: [
          { tool_call_id: 'c1', tool_name: 'search', args: { q: 'x' }, result: null },
          { tool_call_id: 'c2', tool_name: 'math', text_position: 3, is_partial: true },
        ],
      }),
    );
    expect(r.created).toBe(true);
    expect(r.message).toMatchObject({ role: 'assistant', content: { type: 'text', text: 'hello' }, user_id: A.uid, version: 1, metadata: { tokens: 2 } });
    expect(r.message).not.toHaveProperty('legacy_id');
    expect(r.message.attachments).toEqual([
      expect.objectContaining({ position: 0, name: 'a.png', storage_path: 'up/a.png', mime_type: 'image/png', size_bytes: 10, type: null, metadata: {} }),
      expect.objectContaining({ position: 1, name: 'b.txt', metadata: { k: 1 }, size_bytes: null }),
    ]);
    expect(r.message.tool_calls).toEqual([
      expect.objectContaining({ position: 0, tool_call_id: 'c1', args: { q: 'x' }, result: null, is_partial: false, text_position: null }),
      expect.objectContaining({ position: 1, tool_call_id: 'c2', args: null, text_position: 3, is_partial: true }),
    ]);
    const [s] = await db.query<{ user_id: string; title: string; message_count: number }>(
      `select user_id, title, message_count from public.conversation_sessions where id = $1`,
      [r.message.conversation_id],
    );
    expect(s).toEqual({ user_id: A.uid, title: 'New chat', message_count: 1 });
  });

  it('is idempotent on client_message_id: a retry returns the same message with created = false', async () => {
    const conversation = crypto.randomUUID();
    const args = { p_role: 'user', p_content: { type: 'text', text: 'once' }, p_conversation_id: conversation, p_client_message_id: 'k-1', p_attachments: [{ name: 'a', storage_path: 'p' }] };
    const first = await as(db, userA(), (tx) => post(tx, args));
    const again = await as(db, userA(), (tx) => post(tx, { ...args, p_content: 'different text is ignored' }));
    expect(first.created).toBe(true);
    expect(again).toEqual({ message: first.message, created: false });
    const [n] = await db.query<{ n: number }>(`select count(*)::int as n from public.chat_messages_v2 where conversation_id = $1`, [conversation]);
    expect(n!.n).toBe(1);
  });

  it("answers another user's conversation, agent or parent as not found, and writes nothing", async () => {
    const before = await db.query<{ n: number }>(`select count(*)::int as n from public.chat_messages_v2`);
    const conv = await expectError(db, userB(), (tx) => post(tx, { p_role: 'user', p_content: 'x', p_conversation_id: A.sessionId }));
    expect(conv.code).toBe('AJC07');
    expect(conv.hint).toMatch(/conversation you own/);
    const agent = await expectError(db, userB(), (tx) => post(tx, { p_role: 'user', p_content: 'x', p_agent_id: A.agentId }));
    expect(agent.code).toBe('AJC03');
    const parent = await expectError(db, userB(), (tx) => post(tx, { p_role: 'user', p_content: 'x', p_conversation_id: B.sessionId, p_parent_message_id: A.messageId }));
    expect(parent.code).toBe('AJC14');
    expect(await db.query(`select count(*)::int as n from public.chat_messages_v2`)).toEqual(before);
  });

  it('the service role names the owner of a new conversation, and writes into an existing one as its owner', async () => {
    const none = await expectError(db, service, (tx) => post(tx, { p_role: 'system', p_content: 'x' }));
    expect(none.code).toBe('AJC15');
    const fresh = await as(db, service, (tx) => post(tx, { p_role: 'system', p_content: 'x', p_user_id: B.uid }));
    expect(fresh.message.user_id).toBe(B.uid);
    const into = await as(db, service, (tx) => post(tx, { p_role: 'tool', p_content: 'y', p_conversation_id: A.sessionId, p_user_id: B.uid }));
    expect(into.message.user_id).toBe(A.uid);
    const forged = await expectError(db, userB(), (tx) => post(tx, { p_role: 'user', p_content: 'x', p_user_id: A.uid }));
    expect(forged.code).toBe('42501');
  });

  it('refuses bad content and non-array children with the schema check / AJC04, and rolls the conversation back', async () => {
    const conversation = crypto.randomUUID();
    const bad = await expectError(db, userA(), (tx) => post(tx, { p_role: 'user', p_content: { type: 'text' }, p_conversation_id: conversation }));
    expect(bad.code).toBe('23514');
    const arr = await expectError(db, userA(), (tx) => post(tx, { p_role: 'user', p_content: 'x', p_attachments: { name: 'a' } }));
    expect(arr.code).toBe('AJC04');
    expect(await db.query(`select 1 from public.conversation_sessions where id = $1`, [conversation])).toEqual([]);
  });

  it('reads back through chat_messages_expanded, which shows a user only their own messages', async () => {
    const r = await as(db, userA(), (tx) => post(tx, { p_role: 'user', p_content: 'mine', p_attachments: [{ name: 'a', storage_path: 'p' }] }));
    const mine = await as(db, userA(), (tx) => tx.query<{ message: unknown }>(`select message from public.chat_messages_expanded where id = $1`, [r.message.id]));
    expect(mine).toEqual([{ message: r.message }]);
    const theirs = await as(db, userB(), (tx) => tx.query(`select message from public.chat_messages_expanded where id = $1`, [r.message.id]));
    expect(theirs).toEqual([]);
    const anon = await attempt(db, { role: 'anon' }, `select count(*) from public.chat_messages_expanded`);
    expect(anon).toMatchObject({ ok: false, error: { code: '42501' } });
  });
});

describe('sessions and snapshots', () => {
  it('create_conversation_session: owner, a taken id (AJC17), the service role without an owner (AJC15)', async () => {
    const [s] = await as(db, userA(), (tx) =>
      tx.query<{ user_id: string; status: string; title: string }>(`select * from public.create_conversation_session(p_title => 'T', p_status => 'idle', p_agent_id => $1)`, [A.agentId]),
    );
    expect(s).toMatchObject({ user_id: A.uid, status: 'idle', title: 'T' });
    const taken = await expectError(db, userA(), (tx) => tx.query(`select * from public.create_conversation_session(p_id => $1)`, [B.sessionId]));
    expect(taken.code).toBe('AJC17');
    const noOwner = await expectError(db, service, (tx) => tx.query(`select * from public.create_conversation_session()`));
    expect(noOwner.code).toBe('AJC15');
    const [viaAgent] = await as(db, service, (tx) => tx.query<{ user_id: string }>(`select * from public.create_conversation_session(p_agent_id => $1)`, [B.agentId]));
    expect(viaAgent!.user_id).toBe(B.uid);
  });

  it('update_conversation_session changes only the keys given and checks them', async () => {
    const [s] = await as(db, userA(), (tx) =>
      tx.query<{ id: string; title: string | null; status: string; agent_id: string | null; metadata: unknown }>(
        `select * from public.update_conversation_session($1, '{"title": null, "status": "closed", "metadata": {"k": 1}}')`,
        [A.sessionId],
      ),
    );
    expect(s).toMatchObject({ id: A.sessionId, title: null, status: 'closed', agent_id: A.agentId, metadata: { k: 1 } });
    for (const [changes, code] of [
      ['{}', 'AJC04'],
      ['{"colour": "red"}', 'AJC04'],
      ['{"status": "sleeping"}', 'AJC04'],
      ['{"metadata": [1]}', 'AJC04'],
    ] as const) {
      expect((await expectError(db, userA(), (tx) => tx.query(`select * from public.update_conversation_session($1, $2::jsonb)`, [A.sessionId, changes]))).code, changes).toBe(code);
    }
    expect((await expectError(db, userB(), (tx) => tx.query(`select * from public.update_conversation_session($1, '{"title": "x"}')`, [A.sessionId]))).code).toBe('AJC07');
    expect(
      (await expectError(db, userA(), (tx) => tx.query(`select * from public.update_conversation_session($1, $2::jsonb)`, [A.sessionId, JSON.stringify({ agent_id: B.agentId })]))).code,
    ).toBe('AJC03');
  });

  it('create_context_snapshot: the window, tokens, metrics, and ids that do not belong (AJC18)', async () => {
    const [snap] = await as(db, userA(), (tx) =>
      tx.query<{ message_ids: string[]; token_count: number; build_metrics: Record<string, unknown>; user_id: string; agent_id: string }>(
        `select * from public.create_context_snapshot($1, p_memory_ids => array[$2::uuid], p_build_metrics => '{"source": "test"}')`,
        [A.sessionId, A.memoryId],
      ),
    );
    expect(snap!.message_ids).toContain(A.messageId);
    expect(snap).toMatchObject({ user_id: A.uid, agent_id: A.agentId, token_count: 2 });
    expect(snap!.build_metrics).toMatchObject({ source: 'test', message_count: snap!.message_ids.length });
    expect(typeof snap!.build_metrics.build_ms).toBe('number');
    const foreign = await expectError(db, userA(), (tx) => tx.query(`select * from public.create_context_snapshot($1, p_message_ids => array[$2::uuid])`, [A.sessionId, B.messageId]));
    expect(foreign.code).toBe('AJC18');
    const foreignMemory = await expectError(db, userA(), (tx) => tx.query(`select * from public.create_context_snapshot($1, p_memory_ids => array[$2::uuid])`, [A.sessionId, B.memoryId]));
    expect(foreignMemory.code).toBe('AJC18');
    const [bare] = await as(db, userA(), (tx) => tx.query<{ id: string }>(`select id from public.create_conversation_session()`));
    const noAgent = await expectError(db, userA(), (tx) => tx.query(`select * from public.create_context_snapshot($1)`, [bare!.id]));
    expect(noAgent.code).toBe('AJC19');
    expect((await expectError(db, userB(), (tx) => tx.query(`select * from public.create_context_snapshot($1)`, [A.sessionId]))).code).toBe('AJC07');
  });

  it('anon can execute none of the write API', async () => {
    for (const call of [
      `select * from public.post_chat_message('user', '"x"')`,
      `select * from public.create_conversation_session()`,
      `select * from public.update_conversation_session(gen_random_uuid(), '{"title": "x"}')`,
      `select * from public.create_context_snapshot(gen_random_uuid())`,
    ]) {
      expect(await attempt(db, { role: 'anon' }, call), call).toMatchObject({ ok: false, error: { code: '42501' } });
    }
  });
});
