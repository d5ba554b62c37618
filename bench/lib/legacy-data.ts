/**
 * Legacy (v1) data at benchmark scale, generated inside the database (generate_series; ~20k rows/s on PGlite,
 * ten times what a row-by-row client seeder manages), deterministic: the same `rows` always gives the same
 * bytes, so repeated runs measure the same work.
 *
 * Shape (what production chat data looks like):
 *  - 40 conversations active at a time, ~25 messages each, interleaved in id order (ids follow time);
 *  - roles alternate user / assistant with the legacy aliases (human, ai, bot, function) mixed in;
 *  - 15 % of messages carry 1–2 attachments, 25 % of assistant messages 1–2 tool calls (half of the args
 *    JSON-encoded strings), 3 % partial tool calls, 3 % null content (pure tool-call messages);
 *  - metadata with a model name, 30 % with tokens already set;
 *  - `dirtyEvery` > 0 adds one quarantine-bound row (unknown role / attachments not an array) per that many.
 */
import { createHash } from 'node:crypto';
import type { Queryable } from '../../ops/db.ts';

export interface LegacyDataOptions {
  rows: number;
  /** Number of users (each with one agent); default rows / 2000, at least 2. */
  users?: number;
  /** One dirty row every N rows; 0 = none. Default 0 (benchmarks compare clean throughput). */
  dirtyEvery?: number;
  /** Rows per INSERT statement (bounded memory). */
  chunk?: number;
  /** Messages per conversation (default 25; 40 conversations are active at a time either way). */
  perConversation?: number;
}

export interface LegacyData {
  rows: number;
  users: number;
  conversations: number;
}

export function userId(i: number): string {
  return uuidFrom(`user-${i}`);
}

/** Deterministic ids, computed the same way as in SQL: md5(text)::uuid. */
export function uuidFrom(s: string): string {
  const hex = createHash('md5').update(s).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** Conversation of message g (1-based): 40 concurrent conversations of $5 messages each, interleaved in id order. */
export const conversationSql = `(((g - 1) % 40) + 40 * ((g - 1) / (40 * $5::int)))`;

export async function createUsersAndAgents(db: Queryable, users: number): Promise<void> {
  await db.query(
    `insert into auth.users (id, email, aud, role)
     select md5('user-' || u)::uuid, 'bench-' || u || '@example.test', 'authenticated', 'authenticated'
       from generate_series(0, $1::int - 1) as u
     on conflict (id) do nothing`,
    [users],
  );
  await db.query(
    `insert into public.agents (id, owner_id, name, config)
     select md5('agent-' || u)::uuid, md5('user-' || u)::uuid, 'agent ' || u, '{"model":"gpt-4o"}'::jsonb
       from generate_series(0, $1::int - 1) as u
     on conflict (id) do nothing`,
    [users],
  );
}

export async function seedLegacyMessages(db: Queryable, opts: LegacyDataOptions): Promise<LegacyData> {
  const users = opts.users ?? Math.max(2, Math.floor(opts.rows / 2000));
  const chunk = opts.chunk ?? 100_000;
  const dirtyEvery = opts.dirtyEvery ?? 0;
  await createUsersAndAgents(db, users);
  const [base] = await db.query<{ n: number }>(`select coalesce(max(id), 0)::int as n from public.chat_messages`);
  const start = base?.n ?? 0;
  for (let from = start + 1; from <= start + opts.rows; from += chunk) {
    const to = Math.min(start + opts.rows, from + chunk - 1);
    await db.query(
      `insert into public.chat_messages
         (id, conversation_id, user_id, agent_id, role, content, attachments, tool_calls, partial_tool_calls,
          metadata, created_at, updated_at)
       overriding system value
       select g, md5('conv-' || c)::uuid, md5('user-' || (c % $3::int))::uuid, md5('agent-' || (c % $3::int))::uuid,
              case when $4::int > 0 and g % $4::int = 0 then 'narrator'
                   when h % 100 < 5 then 'human' when h % 100 < 10 then 'ai' when h % 100 < 11 then 'bot'
                   when h % 100 < 13 then 'function' when h % 100 < 21 then 'tool' when h % 100 < 22 then 'system'
                   when g % 2 = 0 then 'user' else 'assistant' end,
              case when h % 100 between 40 and 42 then null
                   else left(repeat('The quick brown fox jumps over the lazy dog; ', 40), 20 + (h / 7) % 1200) end,
              case when h % 100 between 50 and 64 then
                     case when $4::int > 0 and g % ($4::int * 7) = 3 then jsonb_build_object('name', 'not-an-array')
                     else (select jsonb_agg(jsonb_build_object(
                              'name', 'file-' || g || '-' || k || '.png', 'type', 'image',
                              'storageId', 'attachments/' || g || '/' || k, 'mimeType', 'image/png',
                              'size', 1000 + (h % 90000), 'metadata', jsonb_build_object('w', 640, 'h', 480)))
                             from generate_series(1, 1 + h % 2) k) end end,
              case when h % 100 between 65 and 89 and g % 2 = 1 then
                     (select jsonb_agg(jsonb_build_object(
                              'toolCallId', 'call_' || g || '_' || k, 'toolName', (array['search','calculator','weather'])[1 + (h + k) % 3],
                              'args', case when (h + k) % 2 = 0 then to_jsonb('{"query":"q' || g || '","limit":' || k || '}')
                                           else jsonb_build_object('query', 'q' || g, 'limit', k) end,
                              'result', jsonb_build_object('ok', true, 'items', k), 'textPosition', k * 10))
                        from generate_series(1, 1 + h % 2) k) end,
              case when h % 100 between 90 and 92 then
                     jsonb_build_array(jsonb_build_object('toolCallId', 'partial_' || g, 'toolName', 'search',
                                                          'args', jsonb_build_object('query', 'q' || g))) end,
              case when h % 10 < 3 then jsonb_build_object('model', 'gpt-4o', 'tokens', 10 + h % 500)
                   else jsonb_build_object('model', 'gpt-4o', 'latency_ms', h % 900) end,
              timestamptz '2025-01-01 00:00:00+00' + make_interval(secs => g * 3),
              case when h % 50 = 0 then timestamptz '2025-01-01 00:00:00+00' + make_interval(secs => g * 3 + 60) end
         from generate_series($1::int, $2::int) as g
        cross join lateral (select ${conversationSql} as c, abs(hashint4(g)) as h) as x`,
      [from, to, users, dirtyEvery, opts.perConversation ?? 25],
    );
  }
  await db.query(`select setval(pg_get_serial_sequence('public.chat_messages', 'id'), (select max(id) from public.chat_messages))`);
  await db.exec(`vacuum analyze public.chat_messages`);
  const [c] = await db.query<{ n: number }>(`select count(distinct conversation_id)::int as n from public.chat_messages`);
  return { rows: opts.rows, users, conversations: c?.n ?? 0 };
}
