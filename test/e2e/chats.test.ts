/**
 * The chat-client formats through the real local stack (Deno functions, Postgres wire, typed client): AI SDK
 * UIMessage chats with every part type round-trip deep-equal and pass the SDK's own `validateUIMessages`; OpenAI
 * transcripts with parallel tool calls round-trip deep-equal; tool calls and files are normalized (rows match the
 * parts, a state change updates the row); re-saves are idempotent; another user's chat is 404; a bad message is a
 * 422 naming its index and path; turns and policy events. A fast-check property closes it: random valid
 * UIMessages round-trip exactly.
 */
import { validateUIMessages, type UIMessage } from 'ai';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OpenAIChatMessage } from '../../client/index.ts';
import { expectApiError, newUser, raw, startTestStack, type TestStack, type TestUser } from './stack.ts';

let t: TestStack;
let alice: TestUser;
let bob: TestUser;

beforeAll(async () => {
  t = await startTestStack();
  alice = await newUser(t);
  bob = await newUser(t);
});
afterAll(async () => {
  await t?.stop();
});

const approval = (approved?: boolean) => ({ id: 'ap_1', ...(approved === undefined ? {} : { approved }), requestReason: 'sends mail' });

/** One message per part type the SDK knows, tool parts in every state. */
const everyPart = (): UIMessage[] => [
  { id: 'sys', role: 'system', parts: [{ type: 'text', text: 'Be brief.' }] },
  {
    id: 'u1', role: 'user', metadata: { createdAt: 1732600000000, tags: ['a'] },
    parts: [
      { type: 'text', text: 'Plan a trip 🚆', state: 'done' },
      { type: 'file', mediaType: 'image/png', url: 'data:image/png;base64,iVBORw0KGgo=', filename: 'map.png' },
      { type: 'file', mediaType: 'application/pdf', url: 'https://files.example.test/ticket.pdf' },
    ],
  },
  {
    id: 'a1', role: 'assistant', metadata: { model: 'gpt-x' },
    parts: [
      { type: 'step-start' },
      { type: 'reasoning', text: 'Two legs.', state: 'done', providerMetadata: { openai: { itemId: 'rs_1' } } },
      { type: 'source-url', sourceId: 's1', url: 'https://example.test/rail', title: 'Rail' },
      { type: 'source-document', sourceId: 's2', mediaType: 'application/pdf', title: 'Timetable', filename: 'tt.pdf' },
      { type: 'data-weather', id: 'w1', data: { city: 'Porto', temp: 21.5 } },
      { type: 'data-progress', data: [1, 2, 3] },
      { type: 'tool-search', toolCallId: 'c1', state: 'input-streaming', input: { q: 'Lis' } },
      { type: 'tool-search', toolCallId: 'c2', state: 'input-available', input: { q: 'Lisbon' } },
      { type: 'tool-sendMail', toolCallId: 'c3', state: 'approval-requested', input: { to: 'x@y.z' }, approval: approval() },
      { type: 'tool-sendMail', toolCallId: 'c4', state: 'approval-responded', input: { to: 'x@y.z' }, approval: approval(true) },
      { type: 'tool-weather', toolCallId: 'c5', state: 'output-available', input: { city: 'Porto' }, output: { temp: 21 }, preliminary: true },
      { type: 'tool-weather', toolCallId: 'c6', state: 'output-error', input: { city: '?' }, errorText: 'unknown city' },
      { type: 'tool-sendMail', toolCallId: 'c7', state: 'output-denied', input: { to: 'x@y.z' }, approval: { ...approval(false), reason: 'no' } },
      { type: 'dynamic-tool', toolName: 'mcp_lookup', toolCallId: 'c8', state: 'output-available', input: {}, output: 'ok' },
      { type: 'text', text: 'Here is the plan.', state: 'streaming', providerMetadata: { anthropic: { cache: true } } },
    ],
  } as UIMessage,
];

describe('AI SDK UIMessage chats', () => {
  it('every part type round-trips deep-equal, in order, and passes validateUIMessages', async () => {
    const chat = crypto.randomUUID();
    expect(await alice.chat.saveChat(chat, everyPart())).toEqual({ chat_id: chat, saved: 3 });
    const loaded = await alice.chat.loadChat(chat);
    expect(loaded).toEqual(everyPart());
    await expect(validateUIMessages({ messages: loaded })).resolves.toHaveLength(3);
  });

  it('keeps a part type this SDK does not know yet, and unknown fields', async () => {
    const chat = crypto.randomUUID();
    const later = [{ id: 'a', role: 'assistant', parts: [{ type: 'video-frame', at: 1.5, url: 'https://v.test/1' }, { type: 'text', text: 'x', futureField: { n: 1 } }] }];
    await alice.chat.saveChat(chat, later as UIMessage[]);
    expect(await alice.chat.loadChat(chat)).toEqual(later);
  });

  it('tool-call and file rows match the parts; a state change updates the row; re-saves are idempotent', async () => {
    const chat = crypto.randomUUID();
    await alice.chat.saveChat(chat, everyPart());
    const rows = () => t.admin.query<{ id: string; tool_call_id: string; tool_name: string; args: unknown; result: unknown; is_partial: boolean; state: string }>(
      `select t.id, t.tool_call_id, t.tool_name, t.args, t.result, t.is_partial, t.state from public.chat_tool_calls t
         join public.chat_messages_v2 m on m.id = t.message_id where m.conversation_id = $1 order by t.position`, [chat]);
    const before = await rows();
    const toolParts = (everyPart()[2]!.parts as Array<Record<string, unknown>>).filter((p) => String(p.type).startsWith('tool-') || p.type === 'dynamic-tool');
    expect(before.map(({ id: _, ...r }) => r)).toEqual(toolParts.map((p) => ({
      tool_call_id: p.toolCallId,
      tool_name: p.type === 'dynamic-tool' ? p.toolName : String(p.type).slice(5),
      args: p.input,
      result: p.state === 'output-available' ? p.output : p.state === 'output-error' ? p.errorText : null,
      is_partial: p.state === 'input-streaming' || p.state === 'input-available',
      state: p.state,
    })));
    const files = await t.admin.query(
      `select a.name, a.mime_type, a.storage_path from public.chat_message_attachments a join public.chat_messages_v2 m on m.id = a.message_id
        where m.conversation_id = $1 order by a.position`, [chat]);
    expect(files).toEqual([
      { name: 'map.png', mime_type: 'image/png', storage_path: expect.stringMatching(/^message:.*\/parts\/1$/) },
      { name: 'file', mime_type: 'application/pdf', storage_path: 'https://files.example.test/ticket.pdf' },
    ]);

    const versions = () => t.admin.query(`select client_message_id, version, deleted_at from public.chat_messages_v2 where conversation_id = $1 order by client_message_id`, [chat]);
    const v0 = await versions();
    await alice.chat.saveChat(chat, everyPart());
    expect(await versions()).toEqual(v0);
    expect(await rows()).toEqual(before);

    // c2 moves on to output-available through "send only the last message": the same row changes
    const next = everyPart()[2]!;
    (next.parts as Array<Record<string, unknown>>)[7] = { type: 'tool-search', toolCallId: 'c2', state: 'output-available', input: { q: 'Lisbon' }, output: ['r1'] };
    const r = await raw(t, 'POST', `chats/${chat}/messages`, { token: alice.token, body: JSON.stringify({ message: next }) });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ message: next });
    const after = await rows();
    const c2 = after.find((x) => x.tool_call_id === 'c2')!;
    expect(c2).toMatchObject({ id: before.find((x) => x.tool_call_id === 'c2')!.id, state: 'output-available', result: ['r1'], is_partial: false });
    expect(after).toHaveLength(before.length);

    // a message left out of a later save is soft-deleted; appending a new one puts it last (201)
    await alice.chat.saveChat(chat, everyPart().slice(1));
    const added: UIMessage = { id: 'u2', role: 'user', parts: [{ type: 'text', text: 'thanks' }] };
    const res = await raw(t, 'POST', `chats/${chat}/messages`, { token: alice.token, body: JSON.stringify({ message: added }) });
    expect(res.status).toBe(201);
    expect((await alice.chat.loadChat(chat)).map((m) => m.id)).toEqual(['u1', 'a1', 'u2']);
  });

  it("another user's chat is 404 for every chat endpoint", async () => {
    const chat = crypto.randomUUID();
    await alice.chat.saveChat(chat, everyPart().slice(0, 2));
    await expectApiError(bob.chat.loadChat(chat), 404, 'not_found');
    await expectApiError(bob.chat.exportOpenAI(chat), 404, 'not_found');
    await expectApiError(bob.chat.saveChat(chat, everyPart().slice(0, 1)), 404, 'not_found');
    await expectApiError(bob.chat.appendMessage(chat, { id: 'x', role: 'user', parts: [{ type: 'text', text: 'hi' }] }), 404, 'not_found');
    await expectApiError(bob.chat.recordTurn(chat, { request: { model: 'm', messages: [] }, response: { message: { role: 'assistant', content: 'x' } } }), 404, 'not_found');
    expect(await alice.chat.loadChat(chat)).toEqual(everyPart().slice(0, 2));
  });

  it('an invalid message is 422 naming its index and the path of the first problem, and nothing is saved', async () => {
    const chat = crypto.randomUUID();
    const bad = [everyPart()[0], { id: 'a', role: 'assistant', parts: [{ type: 'text', text: 'ok' }, { type: 'tool-x', state: 'input-available', input: {} }] }];
    const e = await expectApiError(alice.chat.saveChat(chat, bad as UIMessage[]), 422, 'validation_failed');
    expect(e.message).toMatch(/^messages\.1\.parts\.1\.toolCallId: /);
    const e2 = await expectApiError(alice.chat.saveChat(chat, [{ id: 'a', role: 'robot', parts: [] }] as unknown as UIMessage[]), 422);
    expect(e2.message).toMatch(/^messages\.0\.role: must be one of system, user, assistant/);
    const e3 = await expectApiError(alice.chat.appendMessage(chat, { id: 'a', role: 'user', parts: [{ type: 'file', url: 'x' }] } as unknown as UIMessage), 422);
    expect(e3.message).toMatch(/^message\.parts\.0\.mediaType: /);
    const dup = await expectApiError(alice.chat.saveChat(chat, [everyPart()[0]!, everyPart()[0]!]), 422);
    expect(dup.message).toMatch(/^messages\.1\.id: /);
    await expectApiError(alice.chat.loadChat(chat), 404);
  });
});

/** A chat-completions transcript: developer message, content parts, parallel tool calls, tool answers, a refusal. */
const transcript = (): OpenAIChatMessage[] => [
  { role: 'developer', content: 'Answer with tools.', name: 'policy' } as OpenAIChatMessage,
  { role: 'user', content: [
    { type: 'text', text: 'Weather in Lisbon and Porto?' },
    { type: 'image_url', image_url: { url: 'https://img.test/map.png', detail: 'low' } },
    { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
    { type: 'file', file: { file_id: 'file-abc', filename: 'notes.txt' } },
  ] },
  { role: 'assistant', content: null, tool_calls: [
    { id: 'call_a', type: 'function', function: { name: 'weather', arguments: '{"city": "Lisbon" ,"unit":"c"}' } },
    { id: 'call_b', type: 'function', function: { name: 'weather', arguments: '{"city":"Porto"}' } },
  ] } as OpenAIChatMessage,
  { role: 'tool', tool_call_id: 'call_b', content: '{"temp":19}' } as OpenAIChatMessage,
  { role: 'tool', tool_call_id: 'call_a', content: [{ type: 'text', text: 'not json' }] } as OpenAIChatMessage,
  { role: 'assistant', content: 'Lisbon 24°, Porto 19°.', refusal: null } as OpenAIChatMessage,
];

describe('OpenAI transcripts', () => {
  it('round-trip deep-equal with parallel tool calls; arguments byte for byte; tool rows answered', async () => {
    const chat = crypto.randomUUID();
    expect(await alice.chat.importOpenAI(chat, transcript())).toEqual({ chat_id: chat, saved: 6 });
    expect(await alice.chat.exportOpenAI(chat)).toEqual(transcript());
    const rows = await t.admin.query(
      `select t.tool_call_id, t.tool_name, t.args, t.result, t.state, t.is_partial from public.chat_tool_calls t
         join public.chat_messages_v2 m on m.id = t.message_id where m.conversation_id = $1 order by t.position`, [chat]);
    expect(rows).toEqual([
      { tool_call_id: 'call_a', tool_name: 'weather', args: { city: 'Lisbon', unit: 'c' }, result: 'not json', state: 'output-available', is_partial: false },
      { tool_call_id: 'call_b', tool_name: 'weather', args: { city: 'Porto' }, result: { temp: 19 }, state: 'output-available', is_partial: false },
    ]);
    // as UIMessages: tool messages fold into the tool parts they answer, and the SDK accepts the result
    const ui = await alice.chat.loadChat(chat);
    await expect(validateUIMessages({ messages: ui })).resolves.toHaveLength(4);
    expect(ui[2]!.parts).toEqual([
      { type: 'tool-weather', toolCallId: 'call_a', state: 'output-available', input: { city: 'Lisbon', unit: 'c' }, output: 'not json' },
      { type: 'tool-weather', toolCallId: 'call_b', state: 'output-available', input: { city: 'Porto' }, output: { temp: 19 } },
    ]);
  });

  it('a UIMessage chat exported as OpenAI messages', async () => {
    const chat = crypto.randomUUID();
    await alice.chat.saveChat(chat, everyPart().slice(0, 2));
    expect(await alice.chat.exportOpenAI(chat)).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: [
        { type: 'text', text: 'Plan a trip 🚆' },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
        { type: 'file', file: { file_data: 'https://files.example.test/ticket.pdf' } },
      ] },
    ]);
  });

  it('a turn stores the new request messages and the response with model, usage and finish reason', async () => {
    const chat = crypto.randomUUID();
    const first = transcript().slice(0, 2);
    const r1 = await alice.chat.recordTurn(chat, {
      request: { model: 'gpt-4.1', params: { temperature: 0.2, tools: [{ type: 'function', function: { name: 'weather' } }] }, messages: first },
      response: { message: transcript()[2]!, usage: { prompt_tokens: 50, completion_tokens: 12 }, finish_reason: 'tool_calls', provider: 'openai' },
    });
    expect(r1).toEqual({ chat_id: chat, saved: 3, message_ids: ['openai:0', 'openai:1', 'openai:2'] });
    // the next call resends the history: only what is new is stored
    const r2 = await alice.chat.recordTurn(chat, {
      request: { model: 'gpt-4.1', messages: transcript().slice(0, 5) },
      response: { message: transcript()[5]!, usage: { prompt_tokens: 80, completion_tokens: 9 }, finish_reason: 'stop' },
    });
    expect(r2.message_ids).toEqual(['openai:3', 'openai:4', 'openai:5']);
    expect(await alice.chat.exportOpenAI(chat)).toEqual(transcript());
    const [meta] = await t.admin.query<{ metadata: Record<string, unknown> }>(
      `select metadata from public.chat_messages_v2 where conversation_id = $1 and client_message_id = 'openai:2'`, [chat]);
    expect(meta!.metadata).toMatchObject({ model: 'gpt-4.1', provider: 'openai', finish_reason: 'tool_calls', usage: { completion_tokens: 12 }, params: { temperature: 0.2 } });
    const e = await expectApiError(alice.chat.recordTurn(chat, { request: { model: 'm', messages: [] }, response: { message: { role: 'user', content: 'x' } } }), 422);
    expect(e.message).toMatch(/^response\.message\.role: /);
  });
});

describe('policy events', () => {
  it('recorded on your own messages, listed newest first; others get 404', async () => {
    const chat = crypto.randomUUID();
    await alice.chat.saveChat(chat, everyPart());
    const judge = await alice.chat.recordPolicyEvent({ chat_id: chat, message_id: 'a1', policy_class: 'toxicity_judge', policy_config: { threshold: 0.8 }, event_type: 'judge', metadata: { score: 0.1 } });
    expect(judge.policy_event).toMatchObject({ policy_class: 'toxicity_judge', event_type: 'judge', decision: null, policy_config: { threshold: 0.8 }, conversation_id: chat, user_id: alice.id, recorded_by: 'authenticated' });
    const redaction = await alice.chat.recordPolicyEvent({
      message_id: judge.policy_event.message_id!, policy_class: 'pii_filter', event_type: 'redaction', decision: 'modify', reason: 'email', modified_message_id: judge.policy_event.message_id!,
    });
    const page = await alice.chat.listPolicyEvents({ conversation_id: chat });
    expect(page.policy_events.map((e) => e.id)).toEqual([redaction.policy_event.id, judge.policy_event.id]);
    expect(page.next_cursor).toBeNull();
    const one = await alice.chat.listPolicyEvents({ conversation_id: chat, limit: 1 });
    expect((await alice.chat.listPolicyEvents({ conversation_id: chat, before: one.next_cursor! })).policy_events.map((e) => e.id)).toEqual([judge.policy_event.id]);

    await expectApiError(bob.chat.listPolicyEvents({ conversation_id: chat }), 404, 'not_found');
    await expectApiError(bob.chat.recordPolicyEvent({ message_id: judge.policy_event.message_id!, policy_class: 'x', event_type: 'block' }), 404, 'not_found');
    await expectApiError(bob.chat.recordPolicyEvent({ chat_id: chat, message_id: 'a1', policy_class: 'x', event_type: 'block' }), 404, 'not_found');
    const e = await expectApiError(alice.chat.recordPolicyEvent({ message_id: 'a1', policy_class: 'x', event_type: 'block' }), 422);
    expect(e.message).toMatch(/^message_id: /);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Property: random valid UIMessages round-trip exactly and pass validateUIMessages.
// ---------------------------------------------------------------------------------------------------------

/** JSON as it travels: what JSON.stringify sends (-0 is 0, no NUL, which Postgres' jsonb refuses). */
const json = fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.parse(JSON.stringify(v).replace(/\\u0000/g, '')) as unknown);
const text = fc.string({ maxLength: 40 }).map((s) => s.replace(/\0/g, ''));
const meta = fc.dictionary(fc.constantFrom('openai', 'anthropic', 'google'), fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), json, { maxKeys: 2 }), { maxKeys: 2 });
const toolState = fc.oneof(
  fc.record({ state: fc.constant('input-streaming'), input: json }),
  fc.record({ state: fc.constant('input-available'), input: json }),
  fc.record({ state: fc.constant('output-available'), input: json, output: json, preliminary: fc.boolean() }, { requiredKeys: ['state', 'input', 'output'] }),
  fc.record({ state: fc.constant('output-error'), input: json, errorText: text }),
  fc.record({ state: fc.constant('approval-requested'), input: json, approval: fc.record({ id: text }) }),
  fc.record({ state: fc.constant('approval-responded'), input: json, approval: fc.record({ id: text, approved: fc.boolean() }) }),
  fc.record({ state: fc.constant('output-denied'), input: json, approval: fc.record({ id: text, approved: fc.constant(false) }) }),
);
const part = fc.oneof(
  fc.record({ type: fc.constant('text'), text, state: fc.constantFrom('streaming', 'done'), providerMetadata: meta }, { requiredKeys: ['type', 'text'] }),
  fc.record({ type: fc.constant('reasoning'), text, providerMetadata: meta }, { requiredKeys: ['type', 'text'] }),
  fc.record({ type: fc.constant('file'), mediaType: fc.constantFrom('image/png', 'text/plain'), url: fc.webUrl(), filename: text }, { requiredKeys: ['type', 'mediaType', 'url'] }),
  fc.record({ type: fc.constant('source-url'), sourceId: text, url: fc.webUrl(), title: text }, { requiredKeys: ['type', 'sourceId', 'url'] }),
  fc.record({ type: fc.constant('source-document'), sourceId: text, mediaType: fc.constant('application/pdf'), title: text }),
  fc.constant({ type: 'step-start' }),
  fc.record({ type: fc.constantFrom('data-a', 'data-chart'), id: text, data: json }, { requiredKeys: ['type', 'data'] }),
  fc.tuple(fc.constantFrom('tool-search', 'tool-x_1'), fc.uuid(), toolState).map(([type, toolCallId, s]) => ({ type, toolCallId, ...s })),
  fc.tuple(fc.uuid(), text, toolState).map(([toolCallId, toolName, s]) => ({ type: 'dynamic-tool', toolName, toolCallId, ...s })),
);
const messages = fc.uniqueArray(
  fc.record({ id: fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !s.includes('\0')), role: fc.constantFrom('system', 'user', 'assistant'), metadata: json, parts: fc.array(part, { minLength: 1, maxLength: 4 }) }, { requiredKeys: ['id', 'role', 'parts'] }),
  { selector: (m) => m.id, minLength: 1, maxLength: 4 },
);

describe('property', () => {
  it('random valid UIMessages round-trip exactly and pass validateUIMessages', async () => {
    await fc.assert(
      fc.asyncProperty(messages, async (ms) => {
        const sent = ms as unknown as UIMessage[];
        await validateUIMessages({ messages: sent }); // the generator makes only what the SDK accepts
        const chat = crypto.randomUUID();
        await alice.chat.saveChat(chat, sent);
        const back = await alice.chat.loadChat(chat);
        expect(back).toEqual(sent);
        await validateUIMessages({ messages: back });
      }),
      { numRuns: 30 },
    );
  }, 300_000);
});
