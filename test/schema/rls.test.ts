/**
 * Row level security: every table in public has RLS, and an exhaustive matrix
 *   {anon, user A, user B, service_role} × every table (legacy and v2) × {select, insert, update, delete}
 * shows zero leaks: B never reads, writes into or changes A's rows, anon reaches nothing, service_role
 * reaches everything, and A can do to its own rows exactly what the design allows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../ops/db.ts';
import { openMigrated, type Actor } from '../helpers/db.ts';
import { attempt, createWorld, type World } from './fixtures.ts';

type Op = 'select' | 'insert' | 'update' | 'delete';

interface TableCase {
  table: string;
  key: string;
  rowId: (w: World) => string;
  /** Insert a new row under `parent`'s ids, owned by user `uid`. */
  insert: (parent: World, uid: string) => [string, unknown[]];
  /** B inserting under A's parent rows but as itself must fail too (false where no parent is involved). */
  crossParent: boolean;
  /** A no-op-looking update that still needs the UPDATE privilege and policy. */
  update: string;
  /** What the owner may do to its own rows. */
  own: Op[];
  /** What service_role may do (all four unless the design forbids it for everyone). */
  service?: Op[];
}

const rand = `gen_random_uuid()`;
const cases: TableCase[] = [
  {
    table: 'agents', key: 'id', rowId: (w) => w.agentId, crossParent: false,
    insert: (_p, uid) => [`insert into public.agents (owner_id, name) values ($1, 'x') returning id`, [uid]],
    update: `update public.agents set name = name where id = $1 returning id`,
    own: ['select', 'insert', 'update', 'delete'],
  },
  {
    table: 'chat_messages', key: 'id', rowId: (w) => w.legacyMessageId, crossParent: false,
    insert: (p, uid) => [
      `insert into public.chat_messages (conversation_id, user_id, agent_id, role, content) values (${rand}, $1, $2, 'user', 'x') returning id`,
      [uid, p.agentId],
    ],
    update: `update public.chat_messages set content = content where id = $1 returning id`,
    own: ['select', 'insert', 'update', 'delete'],
  },
  {
    table: 'chat_states', key: 'conversation_id', rowId: (w) => w.legacyStateId, crossParent: false,
    insert: (p, uid) => [
      `insert into public.chat_states (conversation_id, user_id, agent_id, content) values (${rand}, $1, $2, '{}') returning conversation_id`,
      [uid, p.agentId],
    ],
    update: `update public.chat_states set content = content where conversation_id = $1 returning conversation_id`,
    own: ['select', 'insert', 'update', 'delete'],
  },
  {
    table: 'conversation_sessions', key: 'id', rowId: (w) => w.sessionId, crossParent: true,
    insert: (p, uid) => [`insert into public.conversation_sessions (user_id, agent_id) values ($1, $2) returning id`, [uid, p.agentId]],
    update: `update public.conversation_sessions set title = title where id = $1 returning id`,
    own: ['select', 'insert', 'update', 'delete'],
  },
  {
    table: 'chat_messages_v2', key: 'id', rowId: (w) => w.messageId, crossParent: true,
    insert: (p, uid) => [
      `insert into public.chat_messages_v2 (conversation_id, user_id, role, content) values ($1, $2, 'user', '{"type":"text","text":"x"}') returning id`,
      [p.sessionId, uid],
    ],
    update: `update public.chat_messages_v2 set metadata = metadata where id = $1 returning id`,
    own: ['select', 'insert', 'update', 'delete'],
  },
  {
    table: 'chat_message_revisions', key: 'id', rowId: (w) => w.revisionId, crossParent: false,
    insert: (p) => [
      `insert into public.chat_message_revisions (message_id, version, content) values ($1, 99, '{"type":"text","text":"x"}') returning id`,
      [p.messageId],
    ],
    update: `update public.chat_message_revisions set content = content where id = $1 returning id`,
    own: ['select'],
  },
  {
    table: 'chat_message_attachments', key: 'id', rowId: (w) => w.attachmentId, crossParent: false,
    insert: (p) => [
      `insert into public.chat_message_attachments (message_id, position, name, storage_path) values ($1, 99, 'b', 'x/b') returning id`,
      [p.messageId],
    ],
    update: `update public.chat_message_attachments set name = name where id = $1 returning id`,
    own: ['select', 'insert', 'update', 'delete'],
  },
  {
    table: 'chat_tool_calls', key: 'id', rowId: (w) => w.toolCallId, crossParent: false,
    insert: (p) => [
      `insert into public.chat_tool_calls (message_id, position, tool_call_id, tool_name) values ($1, 99, 'c', 't') returning id`,
      [p.messageId],
    ],
    update: `update public.chat_tool_calls set tool_name = tool_name where id = $1 returning id`,
    own: ['select', 'insert', 'update', 'delete'],
  },
  {
    table: 'agent_memories', key: 'id', rowId: (w) => w.memoryId, crossParent: true,
    insert: (p, uid) => [
      `insert into public.agent_memories (agent_id, user_id, memory_type, content) values ($1, $2, 'episodic', 'x') returning id`,
      [p.agentId, uid],
    ],
    update: `update public.agent_memories set content = content where id = $1 returning id`,
    own: ['select', 'insert', 'update', 'delete'],
  },
  {
    table: 'agent_states', key: 'id', rowId: (w) => w.stateId, crossParent: true,
    insert: (p, uid) => [
      `insert into public.agent_states (agent_id, user_id, state_type, state) values ($1, $2, 'persistent', '{}') returning id`,
      [p.agentId, uid],
    ],
    update: `update public.agent_states set metadata = metadata where id = $1 returning id`,
    // append-only for everyone: even service_role gets AJC02 on an update
    own: ['select', 'insert', 'delete'],
    service: ['select', 'insert', 'delete'],
  },
  {
    table: 'context_snapshots', key: 'id', rowId: (w) => w.snapshotId, crossParent: true,
    insert: (p, uid) => [
      `insert into public.context_snapshots (session_id, agent_id, user_id) values ($1, $2, $3) returning id`,
      [p.sessionId, p.agentId, uid],
    ],
    update: `update public.context_snapshots set token_count = token_count where id = $1 returning id`,
    own: ['select', 'insert', 'update', 'delete'],
  },
  {
    table: 'state_checkpoints', key: 'id', rowId: (w) => w.checkpointId, crossParent: true,
    insert: (p, uid) => [
      `insert into public.state_checkpoints (agent_id, user_id, state_id, checkpoint_type) values ($1, $2, $3, 'manual') returning id`,
      [p.agentId, uid, p.stateId],
    ],
    update: `update public.state_checkpoints set label = label where id = $1 returning id`,
    own: ['select', 'insert', 'update', 'delete'],
  },
  {
    // users record events on their own messages (POST /policy-events), and never edit or delete one
    table: 'policy_events', key: 'id', rowId: (w) => w.policyEventId, crossParent: true,
    insert: (p, uid) => [
      `insert into public.policy_events (user_id, conversation_id, policy_name, decision, original_message_id) values ($1, $2, 'pii', 'allow', $3) returning id`,
      [uid, p.sessionId, p.messageId],
    ],
    update: `update public.policy_events set reason = reason where id = $1 returning id`,
    own: ['select', 'insert'],
  },
  {
    // the message already has its row: the insert lands on the conflict and updates it (still INSERT's check first)
    table: 'chat_client_messages', key: 'message_id', rowId: (w) => w.messageId, crossParent: false,
    insert: (p) => [
      `insert into public.chat_client_messages (message_id, position, format) values ($1, 1, 'ui')
       on conflict (message_id) do update set position = excluded.position returning message_id`,
      [p.messageId],
    ],
    update: `update public.chat_client_messages set position = position where message_id = $1 returning message_id`,
    own: ['select', 'insert', 'update', 'delete'],
  },
];

let db: Db;
let A: World;
let B: World;
const userA = (): Actor => ({ role: 'authenticated', sub: A.uid });
const userB = (): Actor => ({ role: 'authenticated', sub: B.uid });
const anon: Actor = { role: 'anon' };
const service: Actor = { role: 'service_role' };

beforeAll(async () => {
  db = await openMigrated();
  A = await createWorld(db, 'a@example.test');
  B = await createWorld(db, 'b@example.test');
});
afterAll(async () => {
  await db?.close();
});

const selectIds = (c: TableCase) => `select ${c.key}::text as k from public.${c.table}`;
const affected = (r: Awaited<ReturnType<typeof attempt>>) => (r.ok ? r.rows.length : 0);

describe('row level security', () => {
  it('is enabled on every table in public', async () => {
    const rows = await db.query<{ relname: string }>(
      `select c.relname from pg_class c where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relrowsecurity`,
    );
    expect(rows).toEqual([]);
    const tables = await db.query<{ relname: string }>(
      `select relname from pg_class where relnamespace = 'public'::regnamespace and relkind = 'r' order by 1`,
    );
    expect(tables.map((t) => t.relname).sort()).toEqual(cases.map((c) => c.table).sort());
  });

  it('names every policy as a sentence, for one operation and the authenticated role only', async () => {
    const rows = await db.query<{ tablename: string; policyname: string; cmd: string; roles: string[] }>(
      `select tablename, policyname, cmd, roles::text[] as roles from pg_policies where schemaname = 'public'`,
    );
    for (const p of rows) {
      expect(p.cmd, p.policyname).not.toBe('ALL');
      expect(p.roles, p.policyname).toEqual(['authenticated']);
      expect(p.policyname, p.tablename).toMatch(/^[A-Z][a-z' ]+( [a-z' ]+)*$/);
    }
  });
});

describe.each(cases)('RLS matrix: $table', (c) => {
  it('select: A and B see only their own rows, anon nothing, service_role everything', async () => {
    const a = await attempt(db, userA(), selectIds(c));
    const b = await attempt(db, userB(), selectIds(c));
    const s = await attempt(db, service, selectIds(c));
    const n = await attempt(db, anon, selectIds(c));
    expect(a.ok && b.ok && s.ok).toBe(true);
    const ids = (r: typeof a) => (r.ok ? r.rows.map((x) => String(x.k)) : []);
    expect(ids(a)).toContain(c.rowId(A));
    expect(ids(a)).not.toContain(c.rowId(B));
    expect(ids(b)).toContain(c.rowId(B));
    expect(ids(b)).not.toContain(c.rowId(A));
    expect(ids(s)).toEqual(expect.arrayContaining([c.rowId(A), c.rowId(B)]));
    expect(ids(n)).toEqual([]);
  });

  it('insert: B cannot write A-owned rows or into A\'s parents; anon cannot write; A and service_role as designed', async () => {
    const [sql, params] = c.insert(A, A.uid);
    expect((await attempt(db, userB(), sql, params)).ok).toBe(false);
    expect((await attempt(db, anon, sql, params)).ok).toBe(false);
    if (c.crossParent) {
      const [sql2, params2] = c.insert(A, B.uid);
      expect((await attempt(db, userB(), sql2, params2)).ok).toBe(false);
    }
    const own = await attempt(db, userA(), sql, params);
    expect(own.ok, JSON.stringify(own)).toBe(c.own.includes('insert'));
    const svc = await attempt(db, service, sql, params);
    expect(svc.ok, JSON.stringify(svc)).toBe((c.service ?? ['select', 'insert', 'update', 'delete']).includes('insert'));
  });

  it('update: B and anon change none of A\'s rows; A and service_role as designed', async () => {
    expect(affected(await attempt(db, userB(), c.update, [c.rowId(A)]))).toBe(0);
    expect(affected(await attempt(db, anon, c.update, [c.rowId(A)]))).toBe(0);
    const own = await attempt(db, userA(), c.update, [c.rowId(A)]);
    expect(affected(own), JSON.stringify(own)).toBe(c.own.includes('update') ? 1 : 0);
    const svc = await attempt(db, service, c.update, [c.rowId(A)]);
    expect(affected(svc), JSON.stringify(svc)).toBe((c.service ?? ['update']).includes('update') ? 1 : 0);
  });

  it('delete: B and anon delete none of A\'s rows; A and service_role as designed', async () => {
    const del = `delete from public.${c.table} where ${c.key} = $1 returning ${c.key}`;
    expect(affected(await attempt(db, userB(), del, [c.rowId(A)]))).toBe(0);
    expect(affected(await attempt(db, anon, del, [c.rowId(A)]))).toBe(0);
    const own = await attempt(db, userA(), del, [c.rowId(A)]);
    expect(affected(own), JSON.stringify(own)).toBe(c.own.includes('delete') ? 1 : 0);
    const svc = await attempt(db, service, del, [c.rowId(A)]);
    expect(affected(svc), JSON.stringify(svc)).toBe((c.service ?? ['delete']).includes('delete') ? 1 : 0);
    // nothing above committed
    const still = await db.query(`select 1 from public.${c.table} where ${c.key} = $1`, [c.rowId(A)]);
    expect(still).toHaveLength(1);
  });
});

describe('column privileges under RLS', () => {
  it('users cannot write trigger-kept metrics, versions or legacy ids', async () => {
    const cases: [string, unknown[]][] = [
      [`update public.conversation_sessions set message_count = 999 where id = $1`, [A.sessionId]],
      [`update public.conversation_sessions set token_count = 999 where id = $1`, [A.sessionId]],
      [`update public.chat_messages_v2 set version = 99 where id = $1`, [A.messageId]],
      [`update public.chat_messages_v2 set legacy_id = 1 where id = $1`, [A.messageId]],
      [
        `insert into public.chat_messages_v2 (conversation_id, user_id, role, content, legacy_id) values ($1, $2, 'user', '{"type":"text","text":"x"}', 123456)`,
        [A.sessionId, A.uid],
      ],
    ];
    for (const [sql, params] of cases) {
      const r = await attempt(db, userA(), sql, params);
      expect(r.ok, sql).toBe(false);
      if (!r.ok) expect(r.error.code, sql).toBe('42501');
    }
  });

  it('anon can execute none of the v2 functions; authenticated only the user API', async () => {
    const rows = await db.query<{ proname: string; anon: boolean; authenticated: boolean; service: boolean }>(
      `select p.proname,
              has_function_privilege('anon', p.oid, 'execute') as anon,
              has_function_privilege('authenticated', p.oid, 'execute') as authenticated,
              has_function_privilege('service_role', p.oid, 'execute') as service
       from pg_proc p where p.pronamespace = 'public'::regnamespace and p.prokind = 'f'`,
    );
    const userApi = new Set([
      'match_agent_memories', 'record_agent_memory_access', 'save_agent_state', 'create_state_checkpoint',
      'restore_state_checkpoint', 'prune_state_checkpoints',
      // the write API (20250805074453, …54)
      'post_chat_message', 'create_conversation_session', 'update_conversation_session', 'create_context_snapshot',
      // the chat-client API (20250814000000)
      'save_chat', 'append_chat_message', 'record_chat_turn', 'load_chat', 'record_policy_event',
      // used inside CHECKs / by the API, pure and harmless
      'is_valid_message_content', 'message_tokens', 'agent_state_stream_lock_key',
    ]);
    const maintenance = [
      'decay_agent_memories', 'sweep_expired_memories', 'sweep_old_snapshots', 'rebuild_agent_memory_index',
      'recompute_session_metrics', 'chat_schema_table_sizes', 'chat_schema_index_usage', 'check_chat_schema_integrity',
      'replica_lag',
    ];
    const byName = new Map(rows.map((r) => [r.proname, r]));
    for (const r of rows) {
      expect(r.anon, r.proname).toBe(false);
      if (!userApi.has(r.proname) && !r.proname.startsWith('migrate') && !r.proname.includes('chat_migration')) {
        expect(r.authenticated, r.proname).toBe(false);
      }
    }
    for (const name of userApi) expect(byName.get(name)?.authenticated, name).toBe(true);
    for (const name of maintenance) expect(byName.get(name)?.service, name).toBe(true);
  });
});
