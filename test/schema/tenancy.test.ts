/**
 * Tenancy on the v2 side: through the policies (as authenticated) a user cannot put anything into another
 * user's session or onto another user's agent — not a message, memory, state, snapshot or checkpoint, and not
 * a reference to another user's session or message from a row of their own. The RLS matrix (rls.test.ts)
 * covers writing into another user's rows; this file covers pointing one's own rows at another user's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../ops/db.ts';
import { openMigrated, type Actor } from '../helpers/db.ts';
import { attempt, createWorld, type World } from './fixtures.ts';

let db: Db;
let A: World;
let B: World;
const asB = (): Actor => ({ role: 'authenticated', sub: B.uid });

beforeAll(async () => {
  db = await openMigrated();
  A = await createWorld(db, 'a@example.test');
  B = await createWorld(db, 'b@example.test');
});
afterAll(async () => {
  await db?.close();
});

const text = `'{"type":"text","text":"x"}'`;

describe('tenancy through the v2 policies', () => {
  const refused: [string, string, () => unknown[]][] = [
    ['a message in A\'s session', `insert into public.chat_messages_v2 (conversation_id, user_id, role, content) values ($1, $2, 'user', ${text})`,
      () => [A.sessionId, B.uid]],
    ['a message in B\'s session on A\'s agent', `insert into public.chat_messages_v2 (conversation_id, user_id, agent_id, role, content) values ($1, $2, $3, 'user', ${text})`,
      () => [B.sessionId, B.uid, A.agentId]],
    ['B\'s session moved onto A\'s agent', `update public.conversation_sessions set agent_id = $2 where id = $1`, () => [B.sessionId, A.agentId]],
    ['a memory on A\'s agent', `insert into public.agent_memories (agent_id, user_id, memory_type, content) values ($1, $2, 'working', 'x')`,
      () => [A.agentId, B.uid]],
    ['a memory of B\'s sourced from A\'s message', `insert into public.agent_memories (agent_id, user_id, memory_type, content, source_message_id) values ($1, $2, 'working', 'x', $3)`,
      () => [B.agentId, B.uid, A.messageId]],
    ['B\'s memory re-pointed at A\'s message', `update public.agent_memories set source_message_id = $2 where id = $1`,
      () => [B.memoryId, A.messageId]],
    ['a state on A\'s agent', `insert into public.agent_states (agent_id, user_id, state_type, state) values ($1, $2, 'local', '{}')`,
      () => [A.agentId, B.uid]],
    ['a state of B\'s agent in A\'s session', `insert into public.agent_states (agent_id, user_id, session_id, state_type, state) values ($1, $2, $3, 'session', '{}')`,
      () => [B.agentId, B.uid, A.sessionId]],
    ['a snapshot on A\'s agent', `insert into public.context_snapshots (session_id, agent_id, user_id) values ($1, $2, $3)`,
      () => [B.sessionId, A.agentId, B.uid]],
    ['a snapshot of B\'s agent in A\'s session', `insert into public.context_snapshots (session_id, agent_id, user_id) values ($1, $2, $3)`,
      () => [A.sessionId, B.agentId, B.uid]],
    ['a checkpoint on A\'s agent', `insert into public.state_checkpoints (agent_id, user_id, state_id, checkpoint_type) values ($1, $2, $3, 'manual')`,
      () => [A.agentId, B.uid, A.stateId]],
    ['a checkpoint of B\'s state naming A\'s session', `insert into public.state_checkpoints (agent_id, user_id, session_id, state_id, checkpoint_type) values ($1, $2, $3, $4, 'manual')`,
      () => [B.agentId, B.uid, A.sessionId, B.stateId]],
    ['B\'s checkpoint re-pointed at A\'s session', `update public.state_checkpoints set session_id = $2 where id = $1`,
      () => [B.checkpointId, A.sessionId]],
  ];

  for (const [what, sql, params] of refused) {
    it(`refuses ${what}`, async () => {
      const r = await attempt(db, asB(), `${sql} returning 1`, params());
      expect(r.ok, JSON.stringify(r)).toBe(false);
      if (!r.ok) expect(['42501', 'AJC09']).toContain(r.error.code);
    });
  }

  it('accepts the same statements on B\'s own rows (the refusals above are about tenancy, nothing else)', async () => {
    const own: [string, unknown[]][] = [
      [`update public.agent_memories set source_message_id = $2 where id = $1 returning 1`, [B.memoryId, B.messageId]],
      [`update public.state_checkpoints set session_id = $2 where id = $1 returning 1`, [B.checkpointId, B.sessionId]],
      [`insert into public.state_checkpoints (agent_id, user_id, session_id, state_id, checkpoint_type) values ($1, $2, $3, $4, 'manual') returning 1`,
        [B.agentId, B.uid, B.sessionId, B.stateId]],
    ];
    for (const [sql, params] of own) {
      const r = await attempt(db, asB(), sql, params);
      expect(r, sql).toMatchObject({ ok: true, rows: [{}] });
    }
  });

  it('leaves the integrity check clean: nothing above committed', async () => {
    const rows = await db.query<{ check_name: string }>(`select check_name from public.check_chat_schema_integrity() where not ok`);
    expect(rows).toEqual([]);
  });
});
