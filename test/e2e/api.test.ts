/**
 * Every endpoint's happy path against a running stack (real Deno, real Postgres wire), through the typed
 * client, plus the behaviours the API promises: idempotent retries, gap-free pagination, optimistic
 * concurrency, similarity order, checkpoint round trips, the four 401s, CORS and the 1 MB cap; agents;
 * exact storage (numbers, surrogates, `__proto__`, real dates); normalisable embeddings; JSON 431s; and
 * the README's client section run as written against this stack.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatApiError, type ChatClient } from '../../client/index.ts';
import { projectRoot } from '../../ops/migrations/runner.ts';
import { signUserToken } from '../../devstack/stack/keys.ts';
import { axis, clientWithToken, newUser, raw, startTestStack, type TestStack, type TestUser } from './stack.ts';

let t: TestStack;
let alice: TestUser;

beforeAll(async () => {
  t = await startTestStack();
  alice = await newUser(t);
});
afterAll(async () => {
  await t?.stop();
});

async function expectApiError(p: Promise<unknown>, status: number, code?: string) {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ChatApiError);
  expect((e as ChatApiError).status).toBe(status);
  if (code) expect((e as ChatApiError).code).toBe(code);
  return e as ChatApiError;
}

describe('messages', () => {
  it('send, list, edit (version + 1), delete (soft)', async () => {
    const { message } = await alice.chat.sendMessage({
      role: 'user',
      content: 'hello',
      metadata: { tokens: 2 },
      attachments: [{ name: 'a.png', storage_path: 'uploads/a.png', mime_type: 'image/png', size_bytes: 10 }],
      tool_calls: [{ tool_call_id: 'call_1', tool_name: 'search', args: { q: 'x' } }],
    });
    expect(message.content).toEqual({ type: 'text', text: 'hello' });
    expect(message.version).toBe(1);
    expect(message.attachments.map((a) => a.storage_path)).toEqual(['uploads/a.png']);
    expect(message.tool_calls[0]).toMatchObject({ tool_call_id: 'call_1', tool_name: 'search', args: { q: 'x' }, is_partial: false });
    const page = await alice.chat.listMessages({ conversation_id: message.conversation_id });
    expect(page.messages.map((m) => m.id)).toEqual([message.id]);
    expect(page.next_cursor).toBeNull();

    const edited = await alice.chat.editMessage(message.id, { content: { type: 'parts', parts: [{ type: 'text', text: 'hello!' }] } });
    expect(edited.message.version).toBe(2);
    expect(edited.message.content).toEqual({ type: 'parts', parts: [{ type: 'text', text: 'hello!' }] });

    await alice.chat.deleteMessage(message.id);
    expect((await alice.chat.listMessages({ conversation_id: message.conversation_id })).messages).toEqual([]);
    await expectApiError(alice.chat.editMessage(message.id, { content: 'again' }), 404);
  });

  it('starts a conversation under a client-chosen id, and threads replies', async () => {
    const conversation_id = crypto.randomUUID();
    const first = await alice.chat.sendMessage({ conversation_id, role: 'user', content: 'q', title: 'Chat' });
    expect(first.message.conversation_id).toBe(conversation_id);
    const reply = await alice.chat.sendMessage({ conversation_id, role: 'assistant', content: 'a', parent_message_id: first.message.id });
    expect(reply.message.parent_message_id).toBe(first.message.id);
    const { session } = await alice.chat.getSession(conversation_id);
    expect(session).toMatchObject({ title: 'Chat', message_count: 2 });
  });

  it('a retry with the same client_message_id returns the same message', async () => {
    const conversation_id = crypto.randomUUID();
    const req = { conversation_id, role: 'user' as const, content: 'once', client_message_id: 'client-42' };
    const a = await alice.chat.sendMessage(req);
    const b = await alice.chat.sendMessage(req);
    const c = await raw(t, 'POST', 'messages', { token: alice.token, body: JSON.stringify(req) });
    expect([200, 201]).toContain(c.status);
    expect(b.message.id).toBe(a.message.id);
    expect((c.json as { message: { id: string } }).message.id).toBe(a.message.id);
    const page = await alice.chat.listMessages({ conversation_id });
    expect(page.messages).toHaveLength(1);
    // concurrent retries collapse too
    const many = await Promise.all(
      Array.from({ length: 8 }, () => alice.chat.sendMessage({ ...req, client_message_id: 'client-43' })),
    );
    expect(new Set(many.map((m) => m.message.id)).size).toBe(1);
  });

  it('paginates newest first with no gap and no repeat', async () => {
    const conversation_id = crypto.randomUUID();
    const sent: string[] = [];
    for (let i = 0; i < 23; i++) {
      sent.push((await alice.chat.sendMessage({ conversation_id, role: i % 2 ? 'assistant' : 'user', content: `m${i}` })).message.id);
    }
    const seen: string[] = [];
    let before: string | undefined;
    let pages = 0;
    for (;;) {
      const page = await alice.chat.listMessages({ conversation_id, limit: 5, ...(before ? { before } : {}) });
      seen.push(...page.messages.map((m) => m.id));
      pages++;
      if (!page.next_cursor) break;
      before = page.next_cursor;
    }
    expect(pages).toBe(5);
    expect(seen).toEqual([...sent].reverse());
    expect(new Set(seen).size).toBe(23);
  });

  it('rejects cursors it did not hand out and limits outside 1..200', async () => {
    const conversation_id = (await alice.chat.sendMessage({ role: 'user', content: 'x' })).message.conversation_id;
    await expectApiError(alice.chat.listMessages({ conversation_id, before: 'not-a-cursor!' }), 400, 'invalid_cursor');
    await expectApiError(alice.chat.listMessages({ conversation_id, before: Buffer.from('["x","y"]').toString('base64url') }), 400, 'invalid_cursor');
    await expectApiError(alice.chat.listMessages({ conversation_id, limit: 0 }), 400, 'invalid_query');
    await expectApiError(alice.chat.listMessages({ conversation_id, limit: 201 }), 400, 'invalid_query');
    expect((await alice.chat.listMessages({ conversation_id, limit: 200 })).messages).toHaveLength(1);
  });
});

describe('memories', () => {
  it('stores memories and searches them most similar first', async () => {
    const agent_id = alice.agentId;
    const near = await alice.chat.storeMemory({ agent_id, memory_type: 'semantic', content: 'near', embedding: axis(7, 0.1), importance: 0.9 });
    const mid = await alice.chat.storeMemory({ agent_id, memory_type: 'episodic', content: 'mid', embedding: axis(7, 1.5) });
    const far = await alice.chat.storeMemory({ agent_id, memory_type: 'semantic', content: 'far', embedding: axis(300) });
    await alice.chat.storeMemory({ agent_id, memory_type: 'working', content: 'no embedding' });
    expect(near.memory).toMatchObject({ content: 'near', memory_type: 'semantic', has_embedding: true });
    expect(near.memory.importance).toBeCloseTo(0.9);

    const { matches } = await alice.chat.searchMemories({ agent_id, embedding: axis(7) });
    expect(matches.map((m) => m.id)).toEqual([near.memory.id, mid.memory.id, far.memory.id]);
    for (let i = 1; i < matches.length; i++) expect(matches[i - 1]!.similarity).toBeGreaterThanOrEqual(matches[i]!.similarity);
    expect(matches[0]!.similarity).toBeGreaterThan(0.99);

    const filtered = await alice.chat.searchMemories({ agent_id, embedding: axis(7), memory_types: ['semantic'], match_count: 1 });
    expect(filtered.matches.map((m) => m.id)).toEqual([near.memory.id]);
    const important = await alice.chat.searchMemories({ agent_id, embedding: axis(300), min_importance: 0.8 });
    expect(important.matches.map((m) => m.id)).toEqual([near.memory.id]);
  });

  it('rejects embeddings of the wrong size with 422', async () => {
    await expectApiError(alice.chat.storeMemory({ agent_id: alice.agentId, memory_type: 'semantic', content: 'x', embedding: [1, 2, 3] }), 422);
  });

  it('refuses vectors that cannot be normalised, on store and on search alike, so similarity is never null', async () => {
    const { agent } = await alice.chat.createAgent({ name: 'vectors' });
    const agent_id = agent.id;
    const only = await alice.chat.storeMemory({ agent_id, memory_type: 'semantic', content: 'unrelated', embedding: axis(5) });
    // zero, and 1536 × 1e-40 (non-zero, but its float4 sum of squares underflows: it used to score 1.0)
    for (const bad of [new Array(1536).fill(0), new Array(1536).fill(1e-40)]) {
      const stored = await expectApiError(alice.chat.storeMemory({ agent_id, memory_type: 'semantic', content: 'x', embedding: bad }), 422, 'validation_failed');
      expect(stored.message).toMatch(/^embedding: cannot be normalised/);
      const searched = await expectApiError(alice.chat.searchMemories({ agent_id, embedding: bad }), 422, 'validation_failed');
      expect(searched.message).toMatch(/^embedding: cannot be normalised/);
    }
    // the smallest accepted norm (2^-63) searches normally
    const { matches } = await alice.chat.searchMemories({ agent_id, embedding: axis(5).map((x) => x * 2 ** -63) });
    expect(matches).toEqual([expect.objectContaining({ id: only.memory.id, similarity: expect.closeTo(1, 5) })]);
    const raw1 = await raw(t, 'POST', 'memories/search', { token: alice.token, body: JSON.stringify({ agent_id, embedding: axis(9) }) });
    expect(raw1.status).toBe(200);
    expect((raw1.json as { matches: Array<{ similarity: unknown }> }).matches.every((m) => typeof m.similarity === 'number')).toBe(true);
  });
});

describe('agent state', () => {
  it('saves versions, reads the current one, pages history, and answers 409 on a stale expected_version', async () => {
    const stream = { agent_id: alice.agentId, state_type: 'persistent' as const };
    // an agent you own with nothing saved yet: 200 and state null (get-or-create), not a 404
    expect(await alice.chat.getState(stream)).toEqual({ state: null });
    expect(await alice.chat.getState({ agent_id: alice.agentId })).toEqual({ state: null });
    const v1 = await alice.chat.saveState({ ...stream, state: { step: 1 }, expected_version: 0 });
    expect(v1.state).toMatchObject({ version: 1, is_current: true, state: { step: 1 } });
    expect(v1.state.state_hash).toMatch(/^[0-9a-f]{64}$/);
    const v2 = await alice.chat.saveState({ ...stream, state: { step: 2 }, expected_version: 1 });
    expect(v2.state.version).toBe(2);
    const stale = await expectApiError(alice.chat.saveState({ ...stream, state: { step: 'lost' }, expected_version: 1 }), 409, 'version_conflict');
    expect(stale.message).toMatch(/stale|version/i);
    const v3 = await alice.chat.saveState({ ...stream, state: { step: 3 } });
    expect(v3.state.version).toBe(3);
    expect((await alice.chat.getState(stream)).state).toMatchObject({ version: 3, state: { step: 3 } });
    // without state_type: the agent's most recently saved current state
    await alice.chat.saveState({ agent_id: alice.agentId, state_type: 'local', state: { latest: true } });
    expect((await alice.chat.getState({ agent_id: alice.agentId })).state).toMatchObject({ state_type: 'local', state: { latest: true } });

    const h1 = await alice.chat.stateHistory({ ...stream, limit: 2 });
    expect(h1.states.map((s) => s.version)).toEqual([3, 2]);
    const h2 = await alice.chat.stateHistory({ ...stream, limit: 2, before: h1.next_cursor! });
    expect(h2.states.map((s) => s.version)).toEqual([1]);
    expect(h2.next_cursor).toBeNull();
  });

  it('checkpoints and restores (round trip), session-scoped streams included', async () => {
    const { session } = await alice.chat.createSession({ agent_id: alice.agentId, title: 'cp' });
    const stream = { agent_id: alice.agentId, state_type: 'session' as const, session_id: session.id };
    await alice.chat.saveState({ ...stream, state: { plan: ['a'], step: 1 } });
    const { checkpoint } = await alice.chat.checkpoint({ ...stream, label: 'before b' });
    expect(checkpoint).toMatchObject({ checkpoint_type: 'manual', label: 'before b', session_id: session.id });
    const changed = await alice.chat.saveState({ ...stream, state: { plan: ['a', 'b'], step: 2 } });
    expect(changed.state.version).toBe(2);

    const restored = await alice.chat.restore(checkpoint.id);
    expect(restored.state).toMatchObject({ version: 3, is_current: true, state: { plan: ['a'], step: 1 } });
    expect(restored.restored_from).toEqual({ checkpoint_id: checkpoint.id, version: 1 });
    expect((await alice.chat.getState(stream)).state!.state).toEqual({ plan: ['a'], step: 1 });
    await expectApiError(alice.chat.restore(checkpoint.id, { expected_version: 1 }), 409, 'version_conflict');
    expect((await alice.chat.getState(stream)).state!.version).toBe(3);
    const { checkpoints } = await alice.chat.listCheckpoints({ agent_id: alice.agentId, session_id: session.id });
    expect(checkpoints.length).toBeGreaterThanOrEqual(2); // ours + the 'recovery' one restore made
    await expectApiError(alice.chat.restore(crypto.randomUUID()), 404);
  });
});

describe('agents', () => {
  it('creates, lists (newest first, paged), reads, updates and deletes an agent', async () => {
    const u = await newUser(t);
    const { agent } = await u.chat.createAgent({ name: 'Trip planner', config: { model: 'gpt-4o-mini' } });
    expect(agent).toMatchObject({ name: 'Trip planner', owner_id: u.id, config: { model: 'gpt-4o-mini' } });
    const second = (await u.chat.createAgent({ name: 'second' })).agent;
    expect(second.config).toEqual({});
    const first = await u.chat.listAgents({ limit: 2 });
    expect(first.agents.map((a) => a.id)).toEqual([second.id, agent.id]);
    const rest = await u.chat.listAgents({ limit: 2, before: first.next_cursor! });
    expect(rest).toEqual({ agents: [expect.objectContaining({ id: u.agentId })], next_cursor: null });
    expect((await u.chat.getAgent(agent.id)).agent).toEqual(agent);

    const renamed = await u.chat.updateAgent(agent.id, { name: 'Travel planner' });
    expect(renamed.agent).toMatchObject({ name: 'Travel planner', config: { model: 'gpt-4o-mini' } });
    const reconfigured = await u.chat.updateAgent(agent.id, { config: { model: 'o3' } });
    expect(reconfigured.agent).toMatchObject({ name: 'Travel planner', config: { model: 'o3' } });
    await expectApiError(u.chat.updateAgent(agent.id, {}), 422, 'validation_failed');
    await expectApiError(u.chat.createAgent({ name: '  ' }), 422, 'validation_failed');
    await expectApiError(u.chat.createAgent({ name: 'x', owner_id: alice.id }), 403, 'forbidden');

    // the agent carries memories, state, checkpoints and a session; deleting it removes the agent's
    // rows and keeps the conversation (agent_id set to null)
    await u.chat.storeMemory({ agent_id: agent.id, memory_type: 'semantic', content: 'likes trains', embedding: axis(2) });
    await u.chat.saveState({ agent_id: agent.id, state_type: 'persistent', state: { a: 1 } });
    await u.chat.checkpoint({ agent_id: agent.id, state_type: 'persistent' });
    const { session } = await u.chat.createSession({ agent_id: agent.id });
    await u.chat.sendMessage({ conversation_id: session.id, agent_id: agent.id, role: 'user', content: 'hi' });
    await u.chat.deleteAgent(agent.id);
    await expectApiError(u.chat.getAgent(agent.id), 404, 'not_found');
    await expectApiError(u.chat.deleteAgent(agent.id), 404, 'not_found');
    await expectApiError(u.chat.getState({ agent_id: agent.id, state_type: 'persistent' }), 404);
    expect((await u.chat.getSession(session.id)).session).toMatchObject({ agent_id: null, message_count: 1 });
    const [left] = await t.admin.query<{ n: number }>(
      `select (select count(*) from public.agent_memories where agent_id = $1) + (select count(*) from public.agent_states where agent_id = $1)
            + (select count(*) from public.state_checkpoints where agent_id = $1) as n`,
      [agent.id],
    );
    expect(Number(left!.n)).toBe(0);
    expect((await u.chat.listAgents()).agents.map((a) => a.id)).toEqual([second.id, u.agentId]);
  });

  it('lets the service role create an agent for a user, and list by owner', async () => {
    const service = clientWithToken(t, t.stack.serviceRoleKey);
    const u = await newUser(t);
    const { agent } = await service.createAgent({ name: 'provisioned', owner_id: u.id });
    expect(agent.owner_id).toBe(u.id);
    expect((await u.chat.getAgent(agent.id)).agent.name).toBe('provisioned');
    const { agents } = await service.listAgents({ owner_id: u.id });
    expect(agents.map((a) => a.id).sort()).toEqual([agent.id, u.agentId].sort());
    await expectApiError(service.createAgent({ name: 'nobody' }), 422, 'user_required');
    await expectApiError(service.createAgent({ name: 'ghost', owner_id: crypto.randomUUID() }), 422, 'invalid_reference');
  });
});

describe('exact storage', () => {
  const post = (path: string, body: string) => raw(t, 'POST', path, { token: alice.token, body });

  it('keeps __proto__ as an ordinary key in every JSON object it stores', async () => {
    const r = await post('messages', '{"role":"user","content":{"type":"parts","parts":[{"type":"text","text":"x","__proto__":{"p":1}}]},"metadata":{"__proto__":{"polluted":true},"a":1}}');
    expect(r.status).toBe(201);
    expect(r.text).toContain('"metadata":{"a":1,"__proto__":{"polluted":true}}');
    const message = (r.json as { message: { id: string; conversation_id: string; metadata: object; content: { parts: object[] } } }).message;
    expect(Object.keys(message.metadata)).toEqual(['a', '__proto__']);
    expect(Object.keys(message.content.parts[0]!)).toContain('__proto__');
    const a = await post('agents', '{"name":"proto","config":{"__proto__":{"x":1}}}');
    expect(a.status).toBe(201);
    expect(a.text).toContain('"config":{"__proto__":{"x":1}}');
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
  });

  it('refuses numbers a double cannot hold, naming the path, instead of storing them changed', async () => {
    for (const [value, path] of [
      ['1e400', 'metadata.n'],
      ['-1e400', 'metadata.n'],
      ['1e-400', 'metadata.n'],
      ['123456789012345678901234567890', 'metadata.n'],
      ['9007199254740993', 'metadata.n'],
    ] as const) {
      const r = await post('messages', `{"role":"user","content":"x","metadata":{"n":${value}}}`);
      expect(r.status, value).toBe(422);
      expect(r.json).toMatchObject({ error: { code: 'validation_failed', message: expect.stringMatching(new RegExp(`^${path.replace('.', '\\.')}: the number`)) } });
    }
    const deep = await raw(t, 'PUT', 'agent-state', { token: alice.token, body: `{"agent_id":"${alice.agentId}","state_type":"local","state":{"list":[1,2,{"big":1e999}]}}` });
    expect(deep.json).toMatchObject({ error: { message: expect.stringMatching(/^state\.list\.2\.big: /) } });
    // what a double holds exactly is stored exactly, whatever its spelling
    const ok = await post('messages', '{"role":"user","content":"x","metadata":{"a":1.0,"b":1e2,"c":0.1,"d":-0,"e":9007199254740991,"f":1.7976931348623157e308,"g":5e-324}}');
    expect(ok.status).toBe(201);
    expect((ok.json as { message: { metadata: object } }).message.metadata).toEqual({ a: 1, b: 100, c: 0.1, d: 0, e: 9007199254740991, f: 1.7976931348623157e308, g: 5e-324 });
  });

  it('refuses unpaired surrogates and NUL in every text field and key, naming the path', async () => {
    const cases: Array<[string, string, string]> = [
      ['messages', '{"role":"user","content":"ok","title":"bad \\ud800 title"}', 'title'],
      ['messages', '{"role":"user","content":"bad \\udc00"}', 'content'],
      ['messages', '{"role":"user","content":"ok","metadata":{"k\\ud800":1}}', 'metadata.k\ud800'],
      ['messages', '{"role":"user","content":"ok","attachments":[{"name":"a\\u0000b","storage_path":"p"}]}', 'attachments.0.name'],
      ['sessions', '{"title":"\\ud83d"}', 'title'],
      ['agents', '{"name":"\\udfff"}', 'name'],
    ];
    for (const [path, body, where] of cases) {
      const r = await post(path, body);
      expect(r.status, body).toBe(422);
      const message = (r.json as { error: { code: string; message: string } }).error.message;
      expect(message.startsWith(`${where}: `), `${body} → ${message}`).toBe(true);
      expect(message).toMatch(/surrogate|NUL/);
    }
    // a well-formed pair (an emoji written as two escapes) is fine
    const emoji = await post('sessions', '{"title":"\\ud83d\\ude00"}');
    expect(emoji.status).toBe(201);
    expect((emoji.json as { session: { title: string } }).session.title).toBe('😀');
  });

  it('answers a cursor with an impossible date with 400 invalid_cursor, not a database error', async () => {
    const conversation_id = (await alice.chat.sendMessage({ role: 'user', content: 'x' })).message.conversation_id;
    for (const at of ['2025-13-01T00:00:00+00:00', '2025-02-30T00:00:00+00:00', '2025-01-01T24:00:00+00:00', '2025-99-99 99:99:99+00']) {
      const before = Buffer.from(JSON.stringify([at, crypto.randomUUID()])).toString('base64url');
      const e = await expectApiError(alice.chat.listMessages({ conversation_id, before }), 400, 'invalid_cursor');
      expect(e.message).toMatch(/cursor/);
      await expectApiError(alice.chat.listSessions({ before }), 400, 'invalid_cursor');
      await expectApiError(alice.chat.listAgents({ before }), 400, 'invalid_cursor');
    }
    // a leap day is a real date
    const leap = Buffer.from(JSON.stringify(['2024-02-29T00:00:00+00:00', crypto.randomUUID()])).toString('base64url');
    expect((await alice.chat.listMessages({ conversation_id, before: leap })).messages).toEqual([]);
    await expectApiError(alice.chat.storeMemory({ agent_id: alice.agentId, memory_type: 'semantic', content: 'x', expires_at: '2030-02-30T00:00:00Z' }), 422, 'validation_failed');
  });
});

describe('sessions', () => {
  it('creates, updates and snapshots a session', async () => {
    const { session } = await alice.chat.createSession({ agent_id: alice.agentId, title: 'Trip', session_state: { mood: 'ok' } });
    expect(session).toMatchObject({ title: 'Trip', status: 'active', message_count: 0, user_id: alice.id });
    const m1 = await alice.chat.sendMessage({ conversation_id: session.id, role: 'user', content: 'plan a trip', metadata: { tokens: 3 } });
    const m2 = await alice.chat.sendMessage({ conversation_id: session.id, role: 'assistant', content: 'sure', metadata: { tokens: 1 } });
    const upd = await alice.chat.updateSession(session.id, { status: 'idle', title: 'Trip to Lisbon' });
    expect(upd.session).toMatchObject({ status: 'idle', title: 'Trip to Lisbon', message_count: 2 });

    const mem = await alice.chat.storeMemory({ agent_id: alice.agentId, memory_type: 'working', content: 'likes trains' });
    const { snapshot } = await alice.chat.snapshot(session.id, { memory_ids: [mem.memory.id], context: { system: 'be brief' }, token_budget: 4000 });
    expect(snapshot.message_ids).toEqual([m1.message.id, m2.message.id]);
    expect(snapshot).toMatchObject({ session_id: session.id, agent_id: alice.agentId, token_count: 4, token_budget: 4000, memory_ids: [mem.memory.id] });
    const narrowed = await alice.chat.snapshot(session.id, { window: 1 });
    expect(narrowed.snapshot.message_ids).toEqual([m2.message.id]);
    await expectApiError(alice.chat.snapshot(session.id, { message_ids: [crypto.randomUUID()] }), 422);
    await expectApiError(alice.chat.createSession({ id: session.id }), 409);
    const listed = await alice.chat.listSessions({ limit: 200 });
    expect(listed.sessions.map((s) => s.id)).toContain(session.id);
  });
});

describe('auth', () => {
  const paths: Array<[string, string]> = [
    ['GET', 'messages?conversation_id=00000000-0000-4000-8000-000000000000'],
    ['POST', 'memories/search'],
    ['GET', 'agent-state?agent_id=00000000-0000-4000-8000-000000000000&state_type=local'],
    ['POST', 'sessions'],
  ];

  it('answers 401 to a missing, garbage, forged or expired token', async () => {
    const forged = await signUserToken(alice.id, { secret: 'not-the-project-secret-but-long-enough-to-sign' });
    const expired = await signUserToken(alice.id, { secret: t.stack.jwtSecret, expiresIn: -60 });
    for (const [method, path] of paths) {
      for (const token of [undefined, 'garbage', 'a.b.c', forged, expired]) {
        const r = await raw(t, method, path, { ...(token ? { token } : {}), body: method === 'GET' ? null : '{}' });
        expect(r.status, `${method} ${path} with ${token?.slice(0, 12)}`).toBe(401);
        expect(r.json).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
      }
    }
    const e = await expectApiError(clientWithToken(t, expired).listSessions(), 401, 'jwt_expired');
    expect(e.message).toMatch(/expired/);
    await expectApiError(clientWithToken(t, t.stack.anonKey).listSessions(), 401, 'user_required');
  });

  it('lets the service role through (RLS bypassed)', async () => {
    const service: ChatClient = clientWithToken(t, t.stack.serviceRoleKey);
    const { session } = await service.createSession({ user_id: alice.id, title: 'made by the server' });
    expect(session.user_id).toBe(alice.id);
    expect((await alice.chat.getSession(session.id)).session.title).toBe('made by the server');
  });
});

describe('http', () => {
  it('answers CORS preflight', async () => {
    const res = await fetch(`${t.stack.functionsUrl}/messages`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    await res.text();
  });

  it('answers 413 for a body over 1 MB, declared or streamed', async () => {
    const big = JSON.stringify({ role: 'user', content: 'x'.repeat(1024 * 1024) });
    const declared = await raw(t, 'POST', 'messages', { token: alice.token, body: big });
    expect(declared.status).toBe(413);
    expect(declared.json).toMatchObject({ error: { code: 'payload_too_large' } });
    // chunked: no Content-Length, so only counting the bytes read can catch it
    const chunks = new ReadableStream<Uint8Array>({
      start(c) {
        const piece = new TextEncoder().encode('x'.repeat(64 * 1024));
        c.enqueue(new TextEncoder().encode('{"role":"user","content":"'));
        for (let i = 0; i < 20; i++) c.enqueue(piece);
        c.enqueue(new TextEncoder().encode('"}'));
        c.close();
      },
    });
    const res = await fetch(`${t.stack.functionsUrl}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
      body: chunks,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: 'payload_too_large' } });
  });

  it('answers oversized headers and URLs with a JSON 431, not an empty body', async () => {
    const { request } = await import('node:http');
    const send = (path: string, headers: Record<string, string>) =>
      new Promise<{ status: number; type: string | undefined; body: string }>((resolve, reject) => {
        const req = request(`${t.stack.apiUrl}${path}`, { method: 'GET', headers }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
        });
        req.on('error', reject);
        req.end();
      });
    for (const r of [
      await send('/functions/v1/sessions', { authorization: `Bearer ${'a'.repeat(20 * 1024)}` }),
      await send(`/functions/v1/sessions?x=${'a'.repeat(100 * 1024)}`, { authorization: `Bearer ${alice.token}` }),
    ]) {
      expect(r.status).toBe(431);
      expect(r.type).toBe('application/json');
      expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'headers_too_large', message: expect.stringMatching(/16 KB/) } });
    }
  });

  it('answers unknown routes and functions with a JSON 404', async () => {
    expect((await raw(t, 'GET', 'messages/nope/deeper', { token: alice.token })).status).toBe(404);
    const fn = await raw(t, 'GET', 'no-such-function', { token: alice.token });
    expect(fn.status).toBe(404);
    expect(fn.json).toMatchObject({ error: { code: 'function_not_found' } });
  });
});

describe('README: "Call it from your chat client"', () => {
  const run = promisify(execFile);

  /** The fenced blocks of one README section, in order. */
  async function readmeBlocks(section: string): Promise<Array<{ lang: string; code: string }>> {
    const readme = await readFile(join(projectRoot, 'README.md'), 'utf8');
    const start = readme.indexOf(`## ${section}`);
    expect(start).toBeGreaterThan(-1);
    const end = readme.indexOf('\n## ', start + 3);
    const body = readme.slice(start, end === -1 ? undefined : end);
    return [...body.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, code: m[2]! }));
  }

  it('runs top to bottom on a fresh seeded stack: curl, then the client by package name on Node 20 (and through tsc)', async () => {
    // `npm start` on a new database applies the seed; the README's default user (Alice) comes from it
    await t.admin.exec(await readFile(join(projectRoot, 'supabase', 'seed.sql'), 'utf8'));
    const blocks = await readmeBlocks('Call it from your chat client');
    const sh = blocks.find((b) => b.lang === 'sh')!;
    const ts = blocks.find((b) => b.lang === 'ts')!;
    const local = (code: string) => code.replaceAll('http://127.0.0.1:54321', t.stack.apiUrl);

    // 1. the curl block, as written: every response newline-terminated, any HTTP error fails the script
    //    (meanwhile the package builds, as its `prepare` script does on install)
    const curlWrapper = `curl() { command curl --fail-with-body -w '\\n' "$@"; }\n`;
    const [shOut] = await Promise.all([
      run('bash', ['-euo', 'pipefail', '-c', curlWrapper + local(sh.code)], { cwd: projectRoot, timeout: 60_000 }),
      run('npm', ['run', '-s', 'build:client'], { cwd: projectRoot, timeout: 120_000 }),
    ]);
    const answers = shOut.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(answers).toEqual([{ message: expect.objectContaining({ content: { type: 'text', text: 'Hello from curl' }, user_id: '00000000-0000-4000-8000-00000000a11c' }) }, { state: null }]);

    // 2. the TypeScript block, unchanged, as a consumer of the package: `advanced-json-chat/client`
    //    resolved through node_modules and the package's `exports`, run by plain Node 20
    const app = await mkdtemp(join(tmpdir(), 'ajc-readme-'));
    try {
      await mkdir(join(app, 'node_modules', '@supabase'), { recursive: true });
      await symlink(projectRoot, join(app, 'node_modules', 'advanced-json-chat'));
      for (const dep of ['@supabase/supabase-js', 'ws', '@types']) await symlink(join(projectRoot, 'node_modules', dep), join(app, 'node_modules', dep));
      await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'readme-app', private: true, type: 'module' }));
      await writeFile(join(app, 'example.mjs'), ts.code);
      // TypeScript users get the package's published types: the same block type-checks by package name
      await writeFile(join(app, 'example.ts'), ts.code);
      await writeFile(
        join(app, 'tsconfig.json'),
        JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }, files: ['example.ts'] }),
      );
      const token = await signUserToken('00000000-0000-4000-8000-00000000a11c', { secret: t.stack.jwtSecret }); // what `npm run -s dev:token` prints
      const env = { ...process.env, SUPABASE_URL: t.stack.apiUrl, SUPABASE_ANON_KEY: t.stack.anonKey, TOKEN: token };
      expect(process.versions.node.split('.')[0]).toBe('20');
      const [node, tsc] = await Promise.all([
        run(process.execPath, ['example.mjs'], { cwd: app, env, timeout: 60_000 }),
        run(process.execPath, [join(projectRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], { cwd: app }).catch((e: { stdout: string }) => ({ stdout: `FAILED ${e.stdout}` })),
      ]);
      expect(node.stdout.trim()).toBe('1 null Prefers trains');
      expect(tsc.stdout).toBe('');
    } finally {
      await rm(app, { recursive: true, force: true });
    }
    // Alice now has the agents both blocks created, next to the seed's
    const { agents } = await clientWithToken(t, await signUserToken('00000000-0000-4000-8000-00000000a11c', { secret: t.stack.jwtSecret })).listAgents();
    expect(agents.map((a) => a.name)).toEqual(['Trip planner', 'Trip planner', 'Research helper']);
  }, 180_000);
});
