/**
 * Every endpoint's happy path against a running stack (real Deno, real Postgres wire), through the typed
 * client, plus the behaviours the API promises: idempotent retries, gap-free pagination, optimistic
 * concurrency, similarity order, checkpoint round trips, normalisable embeddings, agents, sessions and the
 * four 401s. The transport (exact storage, CORS, size limits) is in http.test.ts, the README's client
 * section in readme.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatClient } from '../../client/index.ts';
import { signUserToken } from '../../devstack/stack/keys.ts';
import { ENDPOINTS } from '../../supabase/functions/_shared/contract.ts';
import { openApiDocument } from '../../supabase/functions/_shared/openapi.ts';
import { seen } from './contract-check.ts';
import { axis, clientWithToken, expectApiError, newUser, raw, startTestStack, type TestStack, type TestUser } from './stack.ts';

let t: TestStack;
let alice: TestUser;

beforeAll(async () => {
  t = await startTestStack();
  alice = await newUser(t);
});
afterAll(async () => {
  await t?.stop();
});

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
    const snapshots = await alice.chat.listSnapshots(session.id);
    expect(snapshots.snapshots.map((s) => s.id)).toEqual([narrowed.snapshot.id, snapshot.id]);
  });
});

describe('openapi', () => {
  it('serves the generated OpenAPI document at /functions/v1/openapi.json (and /openapi), without a token', async () => {
    const doc = openApiDocument();
    for (const path of ['openapi.json', 'openapi']) {
      const r = await raw(t, 'GET', path);
      expect(r.status, path).toBe(200);
      expect(r.json, path).toEqual(doc);
    }
    expect((await raw(t, 'POST', 'openapi.json', { body: '{}' })).status).toBe(405);
    expect(await alice.chat.openApi()).toEqual(doc);
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

describe('chats and policy events', () => {
  // Each answer once, for the contract check below; the behaviour is in chats.test.ts.
  it('save, load, append, replace, turn, policy events', async () => {
    const chat = crypto.randomUUID();
    const hi = { id: 'u1', role: 'user' as const, parts: [{ type: 'text' as const, text: 'hi' }] };
    expect(await alice.chat.saveChat(chat, [hi])).toEqual({ chat_id: chat, saved: 1 });
    expect(await alice.chat.loadChat(chat)).toEqual([hi]);
    const reply = { id: 'a1', role: 'assistant' as const, parts: [{ type: 'text' as const, text: 'hello' }] };
    const created = await raw(t, 'POST', `chats/${chat}/messages`, { token: alice.token, body: JSON.stringify({ message: reply }) });
    expect(created.status).toBe(201);
    const replaced = await raw(t, 'POST', `chats/${chat}/messages`, { token: alice.token, body: JSON.stringify({ message: { ...reply, parts: [{ type: 'text', text: 'hello!' }] } }) });
    expect(replaced.status).toBe(200);
    const turn = await alice.chat.recordTurn(chat, { request: { model: 'm', messages: [{ role: 'user', content: 'again' }] }, response: { message: { role: 'assistant', content: 'ok' } } });
    expect(turn.message_ids).toEqual(['openai:2', 'openai:3']);
    const { policy_event } = await alice.chat.recordPolicyEvent({ chat_id: chat, message_id: 'a1', policy_class: 'judge', event_type: 'judge' });
    expect((await alice.chat.listPolicyEvents({ conversation_id: chat })).policy_events).toEqual([policy_event]);
  });
});

describe('contract', () => {
  it('every success status of every endpoint was answered above, and fitted its response schema', () => {
    // contract-check.ts parses each answer; this proves the file reached every response schema.
    const declared = ENDPOINTS.flatMap((e) => Object.keys(e.responses).map((s) => `${e.operationId} ${s}`)).sort();
    expect([...seen].sort()).toEqual(declared);
  });
});
