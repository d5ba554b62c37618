/**
 * The chat-client SQL API (20250814000000): save_chat / append_chat_message / record_chat_turn / load_chat /
 * record_policy_event, called as the API roles the way the edge functions (and psql users) call them. What a client
 * saved comes back deep-equal; tool parts and OpenAI tool calls land in chat_tool_calls (updated in place), file
 * parts in chat_message_attachments; RLS stays the fence.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, Queryable } from '../../ops/db.ts';
import { as, openMigrated, type Actor } from '../helpers/db.ts';
import { createWorld, type World } from './fixtures.ts';

/** Awaits `p`, which must fail with this SQLSTATE (and a message matching `re`). */
async function fails(p: Promise<unknown>, code: string, re?: RegExp): Promise<void> {
  const e = await p.then(() => null, (err: unknown) => err as { code?: string; message: string; hint?: string });
  expect(e, `expected ${code}`).not.toBeNull();
  expect(e!.code, e!.message).toBe(code);
  if (re) expect(e!.message).toMatch(re);
  if (code.startsWith('AJ')) expect(e!.hint).toBeTruthy();
}

let db: Db;
let A: World;
let B: World;
const userA = (): Actor => ({ role: 'authenticated', sub: A.uid });
const userB = (): Actor => ({ role: 'authenticated', sub: B.uid });

beforeAll(async () => {
  db = await openMigrated();
  A = await createWorld(db);
  B = await createWorld(db);
});
afterAll(async () => {
  await db?.close();
});

type Json = unknown;
const save = (tx: Queryable, chat: string, messages: Json[], format = 'ui') =>
  tx.query<{ n: number }>(`select public.save_chat($1, $2::text::jsonb, $3) as n`, [chat, JSON.stringify(messages), format]).then((r) => r[0]!.n);
const load = (tx: Queryable, chat: string) =>
  tx.query<{ message: Json; format: string; message_id: string; metadata: Record<string, unknown> }>(`select * from public.load_chat($1)`, [chat]);
const toolRows = (chat: string) =>
  db.query<{ id: string; message_id: string; position: number; tool_call_id: string; tool_name: string; args: Json; result: Json; is_partial: boolean; state: string }>(
    `select t.* from public.chat_tool_calls t join public.chat_messages_v2 m on m.id = t.message_id
      where m.conversation_id = $1 order by m.created_at, t.message_id, t.position`,
    [chat],
  );

const uiChat = (): Json[] => [
  { id: 'u1', role: 'user', metadata: { createdAt: 1 }, parts: [{ type: 'text', text: 'Weather in Lisbon and Porto?' },
    { type: 'file', mediaType: 'image/png', url: 'data:image/png;base64,iVBORw0KGgo=', filename: 'map.png' }] },
  { id: 'a1', role: 'assistant', metadata: null, parts: [
    { type: 'step-start' },
    { type: 'reasoning', text: 'two cities', providerMetadata: { openai: { itemId: 'rs_1' } } },
    { type: 'tool-weather', toolCallId: 'call_1', state: 'input-available', input: { city: 'Lisbon' } },
    { type: 'dynamic-tool', toolName: 'mcp_search', toolCallId: 'call_2', state: 'output-error', input: { q: 'Porto' }, errorText: 'timeout' },
    { type: 'source-url', sourceId: 's1', url: 'https://example.test', title: 'Example' },
    { type: 'data-weather', id: 'd1', data: { temp: 21 } },
    { type: 'future-part-v7-9', anything: [1, { nested: true }] },
    { type: 'text', text: 'Checking…', state: 'streaming' },
  ] },
  { id: 'a2', role: 'assistant', parts: [] },
];

describe('save_chat / load_chat (UIMessage)', () => {
  it('gives back exactly what was saved, in order, with tool calls and files normalized', async () => {
    const chat = crypto.randomUUID();
    await as(db, userA(), async (tx) => {
      expect(await save(tx, chat, uiChat())).toBe(3);
      const rows = await load(tx, chat);
      expect(rows.map((r) => r.message)).toEqual(uiChat());
      expect(rows.map((r) => r.format)).toEqual(['ui', 'ui', 'ui']);
    });
    const tools = await toolRows(chat);
    expect(tools.map(({ tool_call_id, tool_name, args, result, is_partial, state, position }) => ({ tool_call_id, tool_name, args, result, is_partial, state, position }))).toEqual([
      { tool_call_id: 'call_1', tool_name: 'weather', args: { city: 'Lisbon' }, result: null, is_partial: true, state: 'input-available', position: 0 },
      { tool_call_id: 'call_2', tool_name: 'mcp_search', args: { q: 'Porto' }, result: 'timeout', is_partial: false, state: 'output-error', position: 1 },
    ]);
    const files = await db.query(
      `select a.position, a.type, a.name, a.storage_path, a.mime_type, a.size_bytes, a.metadata, m.client_message_id
         from public.chat_message_attachments a join public.chat_messages_v2 m on m.id = a.message_id where m.conversation_id = $1`,
      [chat],
    );
    expect(files).toHaveLength(1);
    expect(files[0]).toMatchObject({ position: 0, type: 'file', name: 'map.png', mime_type: 'image/png', size_bytes: 8, metadata: { part_index: 1 }, client_message_id: 'u1' });
    expect(String(files[0]!.storage_path)).toMatch(/^message:[0-9a-f-]{36}\/parts\/1$/);
    // the empty assistant message is stored as empty text (the CHECK wants a part) and still comes back with []
    const [empty] = await db.query<{ content: Json }>(`select content from public.chat_messages_v2 where conversation_id = $1 and client_message_id = 'a2'`, [chat]);
    expect(empty!.content).toEqual({ type: 'text', text: '' });
  });

  it('is idempotent, updates tool rows in place, and soft-deletes messages missing from a later save', async () => {
    const chat = crypto.randomUUID();
    await as(db, userA(), (tx) => save(tx, chat, uiChat()));
    const versions = () => db.query<{ client_message_id: string; version: number; deleted_at: string | null }>(
      `select client_message_id, version, deleted_at from public.chat_messages_v2 where conversation_id = $1 order by client_message_id`, [chat]);
    const before = await versions();
    const toolsBefore = await toolRows(chat);
    await as(db, userA(), (tx) => save(tx, chat, uiChat()));
    expect(await versions()).toEqual(before);
    expect(await toolRows(chat)).toEqual(toolsBefore);
    expect(await db.query(`select 1 from public.chat_message_revisions r join public.chat_messages_v2 m on m.id = r.message_id where m.conversation_id = $1`, [chat])).toEqual([]);

    // call_1 moves on to output-available: same row, new state and result; a2 is left out → soft-deleted
    const next = uiChat().slice(0, 2) as { parts: Record<string, unknown>[] }[];
    next[1]!.parts[2] = { type: 'tool-weather', toolCallId: 'call_1', state: 'output-available', input: { city: 'Lisbon' }, output: { c: 24 }, preliminary: false };
    await as(db, userA(), async (tx) => {
      await save(tx, chat, next);
      expect((await load(tx, chat)).map((r) => r.message)).toEqual(next);
    });
    const after = await toolRows(chat);
    const row1 = after.find((r) => r.tool_call_id === 'call_1')!;
    expect(row1.id).toBe(toolsBefore.find((r) => r.tool_call_id === 'call_1')!.id);
    expect(row1).toMatchObject({ state: 'output-available', result: { c: 24 }, is_partial: false });
    expect(after).toHaveLength(2);
    const v = await versions();
    expect(v.find((r) => r.client_message_id === 'a2')!.deleted_at).not.toBeNull();
    expect(v.find((r) => r.client_message_id === 'a1')!.version).toBe(2);

    // the deleted message comes back when a later save has it again, in its new place
    await as(db, userA(), async (tx) => {
      const again = [uiChat()[2], ...next];
      await save(tx, chat, again);
      expect((await load(tx, chat)).map((r) => r.message)).toEqual(again);
    });
  });

  it('append_chat_message appends or replaces one message', async () => {
    const chat = crypto.randomUUID();
    await as(db, userA(), async (tx) => {
      await save(tx, chat, uiChat().slice(0, 1));
      const m = { id: 'x9', role: 'assistant', parts: [{ type: 'tool-calc', toolCallId: 'c9', state: 'input-streaming', input: { a: 1 }, rawInput: '{"a":1' }] };
      const [first] = await tx.query<{ message: Json; created: boolean }>(`select * from public.append_chat_message($1, $2::text::jsonb)`, [chat, JSON.stringify(m)]);
      expect(first).toEqual({ message: m, created: true });
      const m2 = { ...m, parts: [{ type: 'tool-calc', toolCallId: 'c9', state: 'output-available', input: { a: 1 }, output: 2 }] };
      const [second] = await tx.query<{ message: Json; created: boolean }>(`select * from public.append_chat_message($1, $2::text::jsonb)`, [chat, JSON.stringify(m2)]);
      expect(second).toEqual({ message: m2, created: false });
      expect((await load(tx, chat)).map((r) => r.message)).toEqual([uiChat()[0], m2]);
    });
    const rows = await toolRows(chat);
    expect(rows.map((r) => [r.tool_call_id, r.state, r.result])).toEqual([['c9', 'output-available', 2]]);
  });

  it('refuses what it cannot store with AJC20 naming the index and path, and a role change with AJC21', async () => {
    const chat = crypto.randomUUID();
    const cases: [Json[], RegExp][] = [
      [[{ id: 'a', role: 'user', parts: [{ type: 'text', text: 'ok' }] }, { id: 'b', role: 'robot', parts: [] }], /^messages\.1\.role: must be one of system, user, assistant/],
      [[{ id: 'a', role: 'user', parts: [{ type: 'text', text: 'ok' }, { type: 'tool-x', state: 'input-available' }] }], /^messages\.0\.parts\.1\.toolCallId: must be a string/],
      [[{ id: 'a', role: 'user', parts: [{ text: 'no type' }] }], /^messages\.0\.parts\.0\.type: must be a non-empty string/],
      [[{ id: 'a', role: 'user', parts: [{ type: 'text', text: 1 }] }], /^messages\.0\.parts\.0\.text: must be a string/],
      [[{ id: 'a', role: 'user', parts: [] }, { id: 'a', role: 'user', parts: [] }], /^messages\.1\.id: is the id of an earlier message/],
      [[{ id: '', role: 'user', parts: [] }], /^messages\.0\.id: must be a string of 1 to 200 characters/],
    ];
    for (const [messages, re] of cases) {
      await fails(as(db, userA(), (tx) => save(tx, chat, messages)), 'AJC20', re);
    }
    await as(db, userA(), (tx) => save(tx, chat, [{ id: 'a', role: 'user', parts: [{ type: 'text', text: 'hi' }] }]));
    await fails(as(db, userA(), (tx) => save(tx, chat, [{ id: 'a', role: 'assistant', parts: [] }])), 'AJC21', /^messages\.0\.role: message a is already saved as a user message/);
  });

  it('another user cannot read, save into or append to the chat (AJC07)', async () => {
    const chat = crypto.randomUUID();
    await as(db, userA(), (tx) => save(tx, chat, uiChat()));
    await fails(as(db, userB(), (tx) => load(tx, chat)), 'AJC07');
    await fails(as(db, userB(), (tx) => save(tx, chat, uiChat())), 'AJC07');
    await fails(
      as(db, userB(), (tx) => tx.query(`select * from public.append_chat_message($1, $2::text::jsonb)`, [chat, JSON.stringify(uiChat()[0])])),
      'AJC07',
    );
    // and sees none of its rows
    const ids = (await db.query<{ id: string }>(`select id from public.chat_messages_v2 where conversation_id = $1`, [chat])).map((r) => r.id);
    const count = (tx: Queryable) => tx.query(
      `select (select count(*) from public.chat_client_messages where message_id = any ($1::uuid[]))::int as f,
              (select count(*) from public.chat_tool_calls where message_id = any ($1::uuid[]))::int as t,
              (select count(*) from public.chat_message_attachments where message_id = any ($1::uuid[]))::int as a`, [ids]);
    expect(await as(db, userA(), count)).toEqual([{ f: 3, t: 2, a: 1 }]);
    expect(await as(db, userB(), count)).toEqual([{ f: 0, t: 0, a: 0 }]);
  });
});

const openaiChat = (): Json[] => [
  { role: 'developer', content: 'Be brief.' },
  { role: 'system', content: [{ type: 'text', text: 'You plan trips.' }], name: 'planner' },
  { role: 'user', content: [{ type: 'text', text: 'Weather?' }, { type: 'image_url', image_url: { url: 'https://example.test/a.png', detail: 'low' } },
    { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } }, { type: 'file', file: { file_id: 'file-abc', filename: 'plan.pdf' } }] },
  { role: 'assistant', content: null, refusal: null, tool_calls: [
    { id: 'call_a', type: 'function', function: { name: 'weather', arguments: '{"city":"Lisbon"}' } },
    { id: 'call_b', type: 'function', function: { name: 'weather', arguments: '{ "city" : "Porto" ,"unit":"c"}' } },
  ] },
  { role: 'tool', tool_call_id: 'call_a', content: '{"c":24}' },
  { role: 'tool', tool_call_id: 'call_b', content: [{ type: 'text', text: 'not json' }] },
  { role: 'assistant', content: 'Sunny in both.', annotations: [] },
];

describe('OpenAI transcripts', () => {
  it('round-trip exactly, arguments byte for byte, parallel tool calls answered by tool messages', async () => {
    const chat = crypto.randomUUID();
    await as(db, userA(), async (tx) => {
      expect(await save(tx, chat, openaiChat(), 'openai')).toBe(7);
      const rows = await load(tx, chat);
      expect(rows.map((r) => r.message)).toEqual(openaiChat());
      expect(rows.every((r) => r.format === 'openai')).toBe(true);
      // again: nothing changes
      await save(tx, chat, openaiChat(), 'openai');
    });
    const roles = await db.query<{ role: string; client_message_id: string; version: number }>(
      `select m.role, m.client_message_id, m.version from public.chat_messages_v2 m join public.chat_client_messages f on f.message_id = m.id
        where m.conversation_id = $1 order by f.position`, [chat]);
    expect(roles.map((r) => r.role)).toEqual(['system', 'system', 'user', 'assistant', 'tool', 'tool', 'assistant']);
    expect(roles.map((r) => r.client_message_id)).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `openai:${i}`));
    expect(roles.every((r) => r.version === 1)).toBe(true);
    const tools = await toolRows(chat);
    expect(tools.map(({ tool_call_id, tool_name, args, result, is_partial, state }) => ({ tool_call_id, tool_name, args, result, is_partial, state }))).toEqual([
      { tool_call_id: 'call_a', tool_name: 'weather', args: { city: 'Lisbon' }, result: { c: 24 }, is_partial: false, state: 'output-available' },
      { tool_call_id: 'call_b', tool_name: 'weather', args: { city: 'Porto', unit: 'c' }, result: 'not json', is_partial: false, state: 'output-available' },
    ]);
    const files = await db.query<{ type: string; name: string; storage_path: string; mime_type: string | null; size_bytes: number | null }>(
      `select a.type, a.name, a.storage_path, a.mime_type, a.size_bytes from public.chat_message_attachments a
         join public.chat_messages_v2 m on m.id = a.message_id where m.conversation_id = $1 order by a.position`, [chat]);
    expect(files.map((f) => [f.type, f.name, f.mime_type, f.size_bytes])).toEqual([
      ['image_url', 'image', null, null], ['input_audio', 'audio.wav', 'audio/wav', 4], ['file', 'plan.pdf', null, null],
    ]);
    expect(files.map((f) => f.storage_path)).toEqual(['https://example.test/a.png', expect.stringMatching(/^message:.*\/parts\/2$/), 'openai-file:file-abc']);
  });

  it('record_chat_turn stores the new messages and the response with model, usage and finish reason', async () => {
    const chat = crypto.randomUUID();
    const sys = { role: 'system', content: 'Be brief.' };
    const u1 = { role: 'user', content: 'Weather in Lisbon?' };
    const a1 = { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Lisbon"}' } }] };
    const t1 = { role: 'tool', tool_call_id: 'call_1', content: '{"c":24}' };
    const a2 = { role: 'assistant', content: '24 °C.', refusal: null };
    const turn = (messages: Json[], message: Json, extra: Record<string, Json> = {}) =>
      as(db, userA(), (tx) => tx.query<{ client_message_id: string }>(`select * from public.record_chat_turn($1, $2::text::jsonb, $3::text::jsonb)`, [
        chat, JSON.stringify({ model: 'gpt-4o-mini', params: { temperature: 0.2 }, messages }), JSON.stringify({ message, usage: { prompt_tokens: 20, completion_tokens: 7, total_tokens: 27 }, finish_reason: 'tool_calls', ...extra }),
      ]));
    expect((await turn([sys, u1], a1)).map((r) => r.client_message_id)).toEqual(['openai:0', 'openai:1', 'openai:2']);
    expect(await toolRows(chat)).toMatchObject([{ tool_call_id: 'call_1', state: 'input-available', is_partial: true, result: null }]);
    // the next call repeats the history: only the tool message is new
    expect((await turn([sys, u1, a1, t1], a2, { finish_reason: 'stop', provider: 'openai' })).map((r) => r.client_message_id)).toEqual(['openai:3', 'openai:4']);
    const rows = await as(db, userA(), (tx) => load(tx, chat));
    expect(rows.map((r) => r.message)).toEqual([sys, u1, a1, t1, a2]);
    expect(rows[4]!.metadata).toEqual({ model: 'gpt-4o-mini', params: { temperature: 0.2 }, provider: 'openai', finish_reason: 'stop',
      usage: { prompt_tokens: 20, completion_tokens: 7, total_tokens: 27 }, tokens: 7 });
    expect(await toolRows(chat)).toMatchObject([{ tool_call_id: 'call_1', state: 'output-available', is_partial: false, result: { c: 24 } }]);
  });
});

describe('record_policy_event', () => {
  it('users record events on their own messages (recorded_by says so), never on others\', and cannot edit them', async () => {
    const chat = crypto.randomUUID();
    await as(db, userA(), (tx) => save(tx, chat, uiChat()));
    const [m] = await db.query<{ id: string }>(`select id from public.chat_messages_v2 where conversation_id = $1 and client_message_id = 'u1'`, [chat]);
    const ev = await as(db, userA(), (tx) => tx.query<Record<string, unknown>>(
      `select * from public.record_policy_event($1, 'toxicity_judge', 'judge', '{"threshold":0.8}', '{"score":0.1}')`, [m!.id]));
    expect(ev[0]).toMatchObject({ policy_name: 'toxicity_judge', event_type: 'judge', decision: null, policy_config: { threshold: 0.8 },
      metadata: { score: 0.1 }, original_message_id: m!.id, conversation_id: chat, user_id: A.uid, recorded_by: 'authenticated' });
    await fails(as(db, userB(), (tx) => tx.query(`select * from public.record_policy_event($1, 'x', 'block')`, [m!.id])), 'AJC14');
    await fails(as(db, userA(), (tx) => tx.query(`select * from public.record_policy_event($1, 'x', 'block', p_decision => 'maybe')`, [m!.id])), 'AJC04');
    await fails(as(db, userA(), (tx) => tx.query(`select * from public.record_policy_event($1, 'x', 'redaction', p_modified_message_id => $2)`, [m!.id, A.messageId])), 'AJC18');
    await fails(as(db, userA(), (tx) => tx.query(`update public.policy_events set reason = 'x' where id = $1`, [ev[0]!.id])), '42501');
    // B inserting straight into the table, on A's message, is refused by RLS
    await fails(as(db, userB(), (tx) => tx.query(
      `insert into public.policy_events (user_id, conversation_id, policy_name, event_type, original_message_id) values ($1, $2, 'x', 'block', $3)`,
      [B.uid, chat, m!.id])), '42501');
    const svc = await as(db, { role: 'service_role' }, (tx) => tx.query<{ recorded_by: string }>(
      `select * from public.record_policy_event($1, 'pii_filter', 'redaction', p_decision => 'modify')`, [m!.id]));
    expect(svc[0]!.recorded_by).toBe('service_role');
  });
});
