/**
 * Small, deliberately dirty legacy fixtures for the data-migration tests, plus an independent TypeScript
 * implementation of the legacy → v2 mapping to compare the SQL's output against, row by row.
 */
import type { Queryable } from '../../ops/db.ts';
import { createUser } from '../helpers/db.ts';

export interface LegacyRow {
  id: string | number;
  conversation_id: string;
  user_id: string;
  agent_id: string | null;
  role: string;
  content: string | null;
  attachments: unknown;
  tool_calls: unknown;
  partial_tool_calls: unknown;
  metadata: unknown;
  created_at: Date;
  updated_at: Date | null;
}

type Kind = {
  role: string;
  content: string | null;
  attachments?: unknown;
  tool_calls?: unknown;
  partial_tool_calls?: unknown;
  metadata?: unknown;
  /** why it must end in quarantine; undefined when it must migrate */
  bad?: string;
};

const big = 'Lorem ipsum dolor sit amet, ünïcödé ✓ '.repeat(1400); // ~53 kB

/** One of each kind per conversation, in this order. */
export const kinds: Kind[] = [
  { role: 'user', content: 'hello there' },
  { role: 'human', content: 'héllo 👋 世界 — ¿qué tal? 🧪' },
  {
    role: 'ai',
    content: 'calling a tool',
    tool_calls: [
      { toolCallId: 'call_1', toolName: 'search', args: '{"q":"weather","days":3}', result: { ok: true }, textPosition: 5 },
      { toolCallId: 'call_2', toolName: 'lookup', args: { id: 7 } },
    ],
  },
  {
    role: 'bot',
    content: null,
    tool_calls: [{ toolCallId: 'call_3', toolName: 'echo', args: 'not json at all' }],
    partial_tool_calls: [{ toolCallId: 'call_4', toolName: 'slow', args: '[1,2,3]' }],
  },
  { role: 'function', content: '{"temperature": 21}', metadata: { tool: 'weather' } },
  {
    role: 'USER',
    content: 'two files',
    attachments: [
      { name: 'a.png', type: 'image', storageId: 'bucket/a.png', mimeType: 'image/png', size: 1234, metadata: { w: 10 } },
      { name: 'b.txt', storageId: 'bucket/b.txt' },
    ],
  },
  { role: 'assistant', content: big },
  { role: 'assistant', content: 'counted', metadata: { tokens: 42, model: 'gpt' } },
  { role: 'system', content: '', metadata: null, attachments: null, tool_calls: null },
  { role: 'wizard', content: 'abracadabra', bad: 'unknown role' },
  { role: 'user', content: 'object, not array', attachments: { name: 'x', storageId: 'y' }, bad: 'not an array' },
  { role: 'assistant', content: 'no id', tool_calls: [{ toolName: 'search', args: {} }], bad: 'toolCallId' },
  { role: 'user', content: 'string element', attachments: ['just a string'], bad: 'not an object' },
  // passes validation but violates a v2 CHECK (size_bytes >= 0): only the row-by-row fallback isolates it
  { role: 'user', content: 'negative size', attachments: [{ name: 'n', storageId: 's', size: -5 }], bad: 'size_bytes' },
];

export interface Seeded {
  userIds: string[];
  agentIds: string[];
  conversationIds: string[];
  ids: number[];
  badIds: number[];
  goodIds: number[];
}

/** Inserts `conversations` conversations of every kind; ids ascend in insertion order. */
export async function seedLegacy(db: Queryable, conversations = 2): Promise<Seeded> {
  const out: Seeded = { userIds: [], agentIds: [], conversationIds: [], ids: [], badIds: [], goodIds: [] };
  for (let c = 0; c < conversations; c++) {
    const user = await createUser(db);
    const [agent] = await db.query<{ id: string }>(
      `insert into public.agents (owner_id, name) values ($1, 'agent') returning id`,
      [user],
    );
    const conv = (await db.query<{ id: string }>(`select gen_random_uuid() as id`))[0]!.id;
    out.userIds.push(user);
    out.agentIds.push(agent!.id);
    out.conversationIds.push(conv);
    for (const [i, k] of kinds.entries()) {
      const id = await insertLegacy(db, {
        conversation_id: conv,
        user_id: user,
        agent_id: i % 4 === 3 ? null : agent!.id,
        role: k.role,
        content: k.content,
        attachments: k.attachments,
        tool_calls: k.tool_calls,
        partial_tool_calls: k.partial_tool_calls,
        metadata: k.metadata,
        created_at: new Date(Date.UTC(2024, 0, 1 + c, 0, i, 0, 123)),
      });
      out.ids.push(id);
      (k.bad ? out.badIds : out.goodIds).push(id);
    }
  }
  return out;
}

export async function insertLegacy(
  db: Queryable,
  r: Partial<Omit<LegacyRow, 'id'>> & { conversation_id: string; user_id: string; role: string },
): Promise<number> {
  const j = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v));
  const rows = await db.query<{ id: number }>(
    `insert into public.chat_messages
       (conversation_id, user_id, agent_id, role, content, attachments, tool_calls, partial_tool_calls, metadata, created_at)
     values ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9::jsonb, coalesce($10::timestamptz, now()))
     returning id`,
    [
      r.conversation_id, r.user_id, r.agent_id ?? null, r.role, r.content ?? null,
      j(r.attachments), j(r.tool_calls), j(r.partial_tool_calls), j(r.metadata),
      r.created_at ? r.created_at.toISOString() : null,
    ],
  );
  return Number(rows[0]!.id);
}

// ---------------------------------------------------------------------------------------------------------
// The legacy → v2 mapping, written independently of the SQL
// ---------------------------------------------------------------------------------------------------------

const roles: Record<string, string> = {
  user: 'user', human: 'user', assistant: 'assistant', ai: 'assistant', bot: 'assistant',
  system: 'system', tool: 'tool', function: 'tool',
};
export const mapRole = (r: string): string | undefined => roles[r.trim().toLowerCase()];

const parseArgs = (a: unknown): unknown => {
  if (typeof a !== 'string') return a ?? null;
  try {
    return JSON.parse(a);
  } catch {
    return a;
  }
};

export interface ExpectedMessage {
  legacy_id: number;
  conversation_id: string;
  user_id: string;
  agent_id: string | null;
  role: string;
  content: { type: 'text'; text: string };
  metadata: Record<string, unknown>;
  created_at: string;
  attachments: Record<string, unknown>[];
  tool_calls: Record<string, unknown>[];
}

export function expectedV2(l: LegacyRow): ExpectedMessage {
  const text = l.content ?? '';
  const meta = (l.metadata ?? {}) as Record<string, unknown>;
  const metadata = meta.tokens == null ? { ...meta, tokens: Math.ceil([...text].length / 4) } : meta;
  const atts = (Array.isArray(l.attachments) ? l.attachments : []) as Record<string, unknown>[];
  const tcs = (Array.isArray(l.tool_calls) ? l.tool_calls : []) as Record<string, unknown>[];
  const ptcs = (Array.isArray(l.partial_tool_calls) ? l.partial_tool_calls : []) as Record<string, unknown>[];
  const call = (e: Record<string, unknown>, position: number, is_partial: boolean) => ({
    position, tool_call_id: e.toolCallId, tool_name: e.toolName, args: parseArgs(e.args),
    result: e.result ?? null, text_position: e.textPosition ?? null, is_partial,
  });
  return {
    legacy_id: Number(l.id),
    conversation_id: l.conversation_id,
    user_id: l.user_id,
    agent_id: l.agent_id,
    role: mapRole(l.role)!,
    content: { type: 'text', text },
    metadata,
    created_at: new Date(l.created_at).toISOString(),
    attachments: atts.map((e, i) => ({
      position: i, name: e.name, type: e.type ?? null, storage_path: e.storageId, mime_type: e.mimeType ?? null,
      size_bytes: e.size == null ? null : Number(e.size), metadata: e.metadata ?? {},
    })),
    tool_calls: [...tcs.map((e, i) => call(e, i, false)), ...ptcs.map((e, i) => call(e, tcs.length + i, true))],
  };
}

/** v2 rows (with children) in the same shape as expectedV2, keyed by legacy id. */
export async function actualV2(db: Queryable): Promise<Map<number, ExpectedMessage>> {
  const rows = await db.query<ExpectedMessage & { legacy_id: string }>(`
    select v.legacy_id, v.conversation_id, v.user_id, v.agent_id, v.role, v.content, v.metadata,
           to_char(v.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at,
           coalesce((select jsonb_agg(jsonb_build_object('position', a.position, 'name', a.name, 'type', a.type,
                       'storage_path', a.storage_path, 'mime_type', a.mime_type, 'size_bytes', a.size_bytes,
                       'metadata', a.metadata) order by a.position)
                       from public.chat_message_attachments a where a.message_id = v.id), '[]') as attachments,
           coalesce((select jsonb_agg(jsonb_build_object('position', c.position, 'tool_call_id', c.tool_call_id,
                       'tool_name', c.tool_name, 'args', c.args, 'result', c.result, 'text_position', c.text_position,
                       'is_partial', c.is_partial) order by c.position)
                       from public.chat_tool_calls c where c.message_id = v.id), '[]') as tool_calls
      from public.chat_messages_v2 v where v.legacy_id is not null`);
  return new Map(rows.map((r) => [Number(r.legacy_id), { ...r, legacy_id: Number(r.legacy_id) }]));
}

export async function legacyRows(db: Queryable): Promise<LegacyRow[]> {
  return db.query<LegacyRow>(`select * from public.chat_messages order by id`);
}

/**
 * The invariant: every legacy row is migrated, quarantined, or not yet reached (id above the cursor) — and
 * never both live in v2 and quarantined (a row quarantined after it was migrated keeps only a soft-deleted
 * mirror). Returns the violations (empty = holds).
 */
export async function invariantViolations(db: Queryable): Promise<{ id: string; problem: string }[]> {
  return db.query(`
    with run as (select (checkpoint ->> 'cursor')::bigint as cursor, status, upper_bound
                   from chat_migration.runs order by id desc limit 1),
    st as (
      select m.id,
             exists (select 1 from public.chat_messages_v2 v where v.legacy_id = m.id) as migrated,
             exists (select 1 from public.chat_messages_v2 v where v.legacy_id = m.id and v.deleted_at is null) as live,
             exists (select 1 from chat_migration.quarantine q where q.source_table = 'chat_messages'
                       and q.source_id = m.id::text and q.resolved_at is null) as quarantined,
             m.id <= coalesce((select cursor from run), 0)
               or (select status from run) = 'completed' and m.id <= (select upper_bound from run) as reached
        from public.chat_messages m)
    select id::text, case when live and quarantined then 'both migrated and quarantined'
                          else 'reached but neither migrated nor quarantined' end as problem
      from st where (live and quarantined) or (reached and not migrated and not quarantined)`);
}

// ---------------------------------------------------------------------------------------------------------
// chat_states fixtures
// ---------------------------------------------------------------------------------------------------------

export const goodState = {
  user_input: 'what is the weather?',
  focus: ['weather', 'paris'],
  step_count: 3,
  last_tool_result: { temp: 21 },
  conversation_history: [
    { role: 'human', content: 'hi', timestamp: '2024-02-01T10:00:00Z', metadata: { client: 'web' } },
    { role: 'ai', content: 'hello! 👋', timestamp: '2024-02-01T10:00:05Z' },
    { role: 'system', content: null, timestamp: 'not a date' },
  ],
  memory_context: [
    { source: 'chat', content: 'likes paris', relevance_score: 0.9, type: 'fact', timestamp: '2024-02-01T10:00:00Z' },
    { source: 'chat', content: 'too relevant', relevance_score: 1.7 },
    { source: 'chat', content: 'no score' },
    { source: 'chat', content: 'negative', relevance_score: -0.2 },
  ],
};

export async function insertState(db: Queryable, conversationId: string, userId: string, agentId: string, content: string) {
  await db.query(
    `insert into public.chat_states (conversation_id, user_id, agent_id, content, updated_at)
     values ($1, $2, $3, $4, '2024-02-02T00:00:00Z')`,
    [conversationId, userId, agentId, content],
  );
}
