/**
 * Every endpoint's happy path against a running stack (real Deno, real Postgres wire), through the typed
 * client, plus the behaviours the API promises: idempotent retries, gap-free pagination, optimistic
 * concurrency, similarity order, checkpoint round trips, the four 401s, CORS and the 1 MB cap.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatApiError, type ChatClient } from '../../src/client/index.ts';
import { signUserToken } from '../../src/stack/keys.ts';
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
    await expectApiError(alice.chat.searchMemories({ agent_id: alice.agentId, embedding: new Array(1536).fill(0) }), 422);
  });
});

describe('agent state', () => {
  it('saves versions, reads the current one, pages history, and answers 409 on a stale expected_version', async () => {
    const stream = { agent_id: alice.agentId, state_type: 'persistent' as const };
    await expectApiError(alice.chat.getState(stream), 404);
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
    expect((await alice.chat.getState(stream)).state.state).toEqual({ plan: ['a'], step: 1 });
    await expectApiError(alice.chat.restore(checkpoint.id, { expected_version: 1 }), 409, 'version_conflict');
    expect((await alice.chat.getState(stream)).state.version).toBe(3);
    const { checkpoints } = await alice.chat.listCheckpoints({ agent_id: alice.agentId, session_id: session.id });
    expect(checkpoints.length).toBeGreaterThanOrEqual(2); // ours + the 'recovery' one restore made
    await expectApiError(alice.chat.restore(crypto.randomUUID()), 404);
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

  it('answers unknown routes and functions with a JSON 404', async () => {
    expect((await raw(t, 'GET', 'messages/nope/deeper', { token: alice.token })).status).toBe(404);
    const fn = await raw(t, 'GET', 'no-such-function', { token: alice.token });
    expect(fn.status).toBe(404);
    expect(fn.json).toMatchObject({ error: { code: 'function_not_found' } });
  });
});
