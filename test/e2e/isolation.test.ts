/**
 * RLS as the only fence, seen from outside: another user's conversation, message, agent, state,
 * checkpoint or session — named in the path or referenced from a body — answers 404 on every endpoint,
 * and 100 concurrent jobs from 10 users each see only their own rows (the local database is one shared
 * session: nothing may leak between requests).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatApiError } from '../../client/index.ts';
import { axis, newUser, startTestStack, type TestStack, type TestUser } from './stack.ts';

let t: TestStack;
let alice: TestUser;
let bob: TestUser;
const a: Record<string, string> = {};

beforeAll(async () => {
  t = await startTestStack();
  alice = await newUser(t);
  bob = await newUser(t);
  const { session } = await alice.chat.createSession({ agent_id: alice.agentId, title: 'private' });
  a.session = session.id;
  a.message = (await alice.chat.sendMessage({ conversation_id: session.id, role: 'user', content: 'secret' })).message.id;
  a.memory = (await alice.chat.storeMemory({ agent_id: alice.agentId, memory_type: 'semantic', content: 'secret', embedding: axis(1) })).memory.id;
  await alice.chat.saveState({ agent_id: alice.agentId, state_type: 'persistent', state: { secret: true } });
  await alice.chat.saveState({ agent_id: alice.agentId, state_type: 'session', session_id: session.id, state: { secret: true } });
  a.checkpoint = (await alice.chat.checkpoint({ agent_id: alice.agentId, state_type: 'persistent' })).checkpoint.id;
  a.snapshot = (await alice.chat.snapshot(session.id, {})).snapshot.id;
});
afterAll(async () => {
  await t?.stop();
});

async function status(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (e) {
    if (e instanceof ChatApiError) return e.status;
    throw e;
  }
}

describe("another user's rows answer 404 on every endpoint", () => {
  const cases: Array<[string, () => Promise<unknown>]> = [
    ['GET /messages (their conversation)', () => bob.chat.listMessages({ conversation_id: a.session! })],
    ['POST /messages (into their conversation)', () => bob.chat.sendMessage({ conversation_id: a.session!, role: 'user', content: 'hi' })],
    ['POST /messages (replying to their message)', () => bob.chat.sendMessage({ role: 'user', content: 'hi', parent_message_id: a.message! })],
    ['POST /messages (with their agent)', () => bob.chat.sendMessage({ role: 'user', content: 'hi', agent_id: alice.agentId })],
    ['PATCH /messages/:id', () => bob.chat.editMessage(a.message!, { content: 'pwned' })],
    ['DELETE /messages/:id', () => bob.chat.deleteMessage(a.message!)],
    ['POST /memories', () => bob.chat.storeMemory({ agent_id: alice.agentId, memory_type: 'semantic', content: 'x' })],
    ['POST /memories/search', () => bob.chat.searchMemories({ agent_id: alice.agentId, embedding: axis(1) })],
    ['GET /agent-state', () => bob.chat.getState({ agent_id: alice.agentId, state_type: 'persistent' })],
    ['GET /agent-state (their session on my agent)', () => bob.chat.getState({ agent_id: bob.agentId, state_type: 'session', session_id: a.session! })],
    ['PUT /agent-state', () => bob.chat.saveState({ agent_id: alice.agentId, state_type: 'persistent', state: { pwned: true } })],
    ['PUT /agent-state (their session on my agent)', () => bob.chat.saveState({ agent_id: bob.agentId, state_type: 'session', session_id: a.session!, state: {} })],
    ['GET /agent-state/history', () => bob.chat.stateHistory({ agent_id: alice.agentId, state_type: 'persistent' })],
    ['POST /agent-state/checkpoints', () => bob.chat.checkpoint({ agent_id: alice.agentId, state_type: 'persistent' })],
    ['GET /agent-state/checkpoints', () => bob.chat.listCheckpoints({ agent_id: alice.agentId })],
    ['POST /agent-state/checkpoints/:id/restore', () => bob.chat.restore(a.checkpoint!)],
    ['POST /sessions (with their agent)', () => bob.chat.createSession({ agent_id: alice.agentId })],
    ['GET /sessions/:id', () => bob.chat.getSession(a.session!)],
    ['PATCH /sessions/:id', () => bob.chat.updateSession(a.session!, { title: 'pwned' })],
    ['POST /sessions/:id/snapshots', () => bob.chat.snapshot(a.session!, { agent_id: bob.agentId })],
    ['GET /sessions/:id/snapshots', () => bob.chat.call('GET', `sessions/${a.session}/snapshots`)],
    ['GET /agent-state/checkpoints (their session on my agent)', () => bob.chat.listCheckpoints({ agent_id: bob.agentId, session_id: a.session! })],
    ['POST /memories (their message as source_message_id)', () => bob.chat.storeMemory({ agent_id: bob.agentId, memory_type: 'semantic', content: 'x', source_message_id: a.message! })],
    ['GET /agents/:id', () => bob.chat.getAgent(alice.agentId)],
    ['PATCH /agents/:id', () => bob.chat.updateAgent(alice.agentId, { name: 'pwned', config: { evil: true } })],
    ['DELETE /agents/:id', () => bob.chat.deleteAgent(alice.agentId)],
  ];
  for (const [name, run] of cases) {
    it(name, async () => {
      expect(await status(run())).toBe(404);
    });
  }

  it("lists never include another user's rows, and nothing of Alice's changed", async () => {
    const { sessions } = await bob.chat.listSessions({ limit: 200 });
    expect(sessions.map((s) => s.id)).not.toContain(a.session);
    expect((await bob.chat.listAgents({ limit: 200 })).agents.map((x) => x.id)).toEqual([bob.agentId]);
    await expect(bob.chat.listAgents({ owner_id: alice.id })).rejects.toMatchObject({ status: 403 });
    expect((await alice.chat.getAgent(alice.agentId)).agent).toMatchObject({ name: 'assistant', config: {} });
    const [memories] = await t.admin.query<{ n: number }>(`select count(*)::int as n from public.agent_memories where agent_id = $1`, [alice.agentId]);
    expect(memories!.n).toBe(1);
    const mine = await alice.chat.listMessages({ conversation_id: a.session! });
    expect(mine.messages.map((m) => [m.id, m.version, m.deleted_at])).toEqual([[a.message, 1, null]]);
    expect((await alice.chat.getState({ agent_id: alice.agentId, state_type: 'persistent' })).state!.version).toBe(1);
    expect((await alice.chat.getSession(a.session!)).session.title).toBe('private');
    // Bob's own stream on the same state_type is his alone.
    const own = await bob.chat.saveState({ agent_id: bob.agentId, state_type: 'persistent', state: { mine: true }, expected_version: 0 });
    expect(own.state.version).toBe(1);
  });
});

describe('concurrency', () => {
  it('100 concurrent requests from 10 users: each sees only its own rows', async () => {
    const users = await Promise.all(Array.from({ length: 10 }, () => newUser(t)));
    const convs = await Promise.all(users.map((u) => u.chat.createSession({ agent_id: u.agentId }).then((r) => r.session.id)));
    type Check = () => void;
    const checks: Check[] = [];
    const jobs = users.flatMap((u, i) =>
      Array.from({ length: 10 }, (_, j) => async () => {
        const conversation_id = convs[i]!;
        switch (j % 5) {
          case 0:
          case 1: {
            const { message } = await u.chat.sendMessage({ conversation_id, role: 'user', content: `u${i} m${j}`, client_message_id: `m${j}` });
            checks.push(() => expect(message.user_id).toBe(u.id));
            break;
          }
          case 2: {
            const page = await u.chat.listMessages({ conversation_id, limit: 200 });
            checks.push(() => expect(page.messages.every((m) => m.user_id === u.id && m.conversation_id === conversation_id)).toBe(true));
            break;
          }
          case 3: {
            const [{ sessions }, { agents }] = await Promise.all([u.chat.listSessions({ limit: 200 }), u.chat.listAgents({ limit: 200 })]);
            checks.push(() => expect(sessions.map((s) => s.user_id)).toEqual(sessions.map(() => u.id)));
            checks.push(() => expect(agents.map((x) => x.owner_id)).toEqual([u.id]));
            break;
          }
          case 4: {
            const { state } = await u.chat.saveState({ agent_id: u.agentId, state_type: 'local', state: { j } });
            checks.push(() => expect(state.agent_id).toBe(u.agentId));
            break;
          }
        }
      }),
    );
    // shuffle so users interleave
    for (let k = jobs.length - 1; k > 0; k--) {
      const r = Math.floor(Math.random() * (k + 1));
      [jobs[k], jobs[r]] = [jobs[r]!, jobs[k]!];
    }
    expect(jobs).toHaveLength(100);
    const results = await Promise.allSettled(jobs.map((job) => job()));
    const failures = results.filter((r) => r.status === 'rejected');
    expect(failures).toEqual([]);
    for (const c of checks) c();

    for (const [i, u] of users.entries()) {
      const page = await u.chat.listMessages({ conversation_id: convs[i]!, limit: 200 });
      expect(page.messages).toHaveLength(4);
      expect(new Set(page.messages.map((m) => m.user_id))).toEqual(new Set([u.id]));
      const { sessions } = await u.chat.listSessions();
      expect(sessions.map((s) => s.id)).toEqual([convs[i]]);
      const history = await u.chat.stateHistory({ agent_id: u.agentId, state_type: 'local' });
      expect(history.states.map((s) => s.version)).toEqual([2, 1]);
    }
    // and no request left its role or claims behind on the shared session
    const [who] = await t.admin.query<{ role: string; claims: string | null }>(
      `select current_user as role, nullif(current_setting('request.jwt.claims', true), '') as claims`,
    );
    expect(who).toEqual({ role: 'postgres', claims: null });
  });
});
