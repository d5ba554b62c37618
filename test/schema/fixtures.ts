/**
 * Shared fixtures for the schema tests: a user with one row in every table (legacy and v2), created as
 * postgres the way the platform / data migration would, and helpers that run one statement as an API role
 * and always roll back, so a test can probe privileges without changing the database.
 */
import type { Db, Queryable } from '../../ops/db.ts';
import { as, createUser, type Actor } from '../helpers/db.ts';

export interface World {
  uid: string;
  agentId: string;
  legacyMessageId: string;
  legacyStateId: string;
  sessionId: string;
  messageId: string;
  revisionId: string;
  attachmentId: string;
  toolCallId: string;
  memoryId: string;
  stateId: string;
  snapshotId: string;
  checkpointId: string;
  policyEventId: string;
}

/** A 1536-dim vector literal: `weights` on the first dimensions, zeros elsewhere. */
export function vec(...weights: number[]): string {
  const v = new Array<number>(1536).fill(0);
  weights.forEach((w, i) => (v[i] = w));
  return `[${v.join(',')}]`;
}

async function one<T = Record<string, unknown>>(db: Queryable, sql: string, params: unknown[] = []): Promise<T> {
  const rows = await db.query<T>(sql, params);
  if (rows.length !== 1) throw new Error(`expected one row from ${sql}, got ${rows.length}`);
  return rows[0]!;
}

/** One user owning one row in every table. */
export async function createWorld(db: Db, email?: string): Promise<World> {
  const uid = await createUser(db, email);
  const id = async (sql: string, params: unknown[]) => String((await one<{ id: unknown }>(db, sql, params)).id);
  const agentId = await id(`insert into public.agents (owner_id, name) values ($1, 'agent') returning id`, [uid]);
  const conversation = (await one<{ id: string }>(db, `select gen_random_uuid() as id`)).id;
  const legacyMessageId = await id(
    `insert into public.chat_messages (conversation_id, user_id, agent_id, role, content) values ($1, $2, $3, 'user', 'hello') returning id`,
    [conversation, uid, agentId],
  );
  const legacyStateId = await id(
    `insert into public.chat_states (conversation_id, user_id, agent_id, content) values ($1, $2, $3, '{}') returning conversation_id as id`,
    [conversation, uid, agentId],
  );
  const sessionId = await id(
    `insert into public.conversation_sessions (id, user_id, agent_id, title) values ($1, $2, $3, 'first') returning id`,
    [conversation, uid, agentId],
  );
  const messageId = await id(
    `insert into public.chat_messages_v2 (conversation_id, user_id, agent_id, role, content, metadata)
     values ($1, $2, $3, 'user', '{"type":"text","text":"hello"}', '{"tokens": 2}') returning id`,
    [sessionId, uid, agentId],
  );
  await db.query(`update public.chat_messages_v2 set content = '{"type":"text","text":"hello!"}' where id = $1`, [messageId]);
  const revisionId = await id(`select id from public.chat_message_revisions where message_id = $1`, [messageId]);
  const attachmentId = await id(
    `insert into public.chat_message_attachments (message_id, position, type, name, storage_path, mime_type, size_bytes)
     values ($1, 0, 'file', 'a.txt', 'bucket/a.txt', 'text/plain', 3) returning id`,
    [messageId],
  );
  const toolCallId = await id(
    `insert into public.chat_tool_calls (message_id, position, tool_call_id, tool_name, args)
     values ($1, 0, 'call_1', 'search', '{"q":"x"}') returning id`,
    [messageId],
  );
  const memoryId = await id(
    `insert into public.agent_memories (agent_id, user_id, memory_type, content, embedding)
     values ($1, $2, 'semantic', 'likes tea', $3::extensions.vector) returning id`,
    [agentId, uid, vec(1)],
  );
  const stateId = await id(
    `insert into public.agent_states (agent_id, user_id, session_id, state_type, state)
     values ($1, $2, $3, 'session', '{"step": 1}') returning id`,
    [agentId, uid, sessionId],
  );
  const snapshotId = await id(
    `insert into public.context_snapshots (session_id, agent_id, user_id, message_ids, memory_ids, token_count)
     values ($1, $2, $3, array[$4::uuid], array[$5::uuid], 10) returning id`,
    [sessionId, agentId, uid, messageId, memoryId],
  );
  const checkpointId = await id(
    `insert into public.state_checkpoints (agent_id, user_id, state_id, snapshot_id, checkpoint_type)
     values ($1, $2, $3, $4, 'manual') returning id`,
    [agentId, uid, stateId, snapshotId],
  );
  // the message as a chat client saved it (chat_client_messages, 20250814000000)
  await db.query(`insert into public.chat_client_messages (message_id, position, format) values ($1, 0, 'ui')`, [messageId]);
  const policyEventId = await id(
    `insert into public.policy_events (user_id, conversation_id, policy_name, decision, original_message_id)
     values ($1, $2, 'pii', 'flag', $3) returning id`,
    [uid, sessionId, messageId],
  );
  return {
    uid, agentId, legacyMessageId, legacyStateId, sessionId, messageId, revisionId, attachmentId, toolCallId,
    memoryId, stateId, snapshotId, checkpointId, policyEventId,
  };
}

export type Attempt = { ok: true; rows: Record<string, unknown>[] } | { ok: false; error: { code?: string; message: string; hint?: string } };

class Rollback extends Error {
  constructor(readonly rows: Record<string, unknown>[]) {
    super('rollback');
  }
}

/** Runs one statement as `actor` in a transaction that is always rolled back. */
export async function attempt(db: Db, actor: Actor, sql: string, params: unknown[] = []): Promise<Attempt> {
  try {
    await as(db, actor, async (tx) => {
      throw new Rollback(await tx.query(sql, params));
    });
    throw new Error('unreachable');
  } catch (e) {
    if (e instanceof Rollback) return { ok: true, rows: e.rows };
    const err = e as { code?: string; message: string; hint?: string };
    return { ok: false, error: { ...(err.code ? { code: err.code } : {}), message: err.message, ...(err.hint ? { hint: err.hint } : {}) } };
  }
}

/** Runs `fn` as `actor` and returns its error (code, message, hint); fails the test when it succeeds. */
export async function expectError(
  db: Db,
  actor: Actor,
  fn: (tx: Queryable) => Promise<unknown>,
): Promise<{ code?: string; message: string; hint?: string }> {
  try {
    await as(db, actor, fn);
  } catch (e) {
    return e as { code?: string; message: string; hint?: string };
  }
  throw new Error('expected an error, the statement succeeded');
}
