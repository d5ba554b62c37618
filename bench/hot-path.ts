/**
 * npm run bench:hot-path -- --database-url URL [--ops 2000] [--only write,page,state] [--seed] [--db NAME]
 *
 * The v2 API hot path on a real server (the native lane: `npm run db:native` prints the URL), each target of
 * issue 11 as an interleaved A/B comparison in one run:
 *   write — one chat_messages_v2 insert with its session metrics vs one legacy chat_messages insert
 *           (and post_chat_message, the API's whole write, for the record);
 *   page  — the newest 50 messages of a conversation vs a primary-key lookup, among 1M messages (the bare
 *           query and the API's chat_messages_expanded shape);
 *   state — the current version of a state stream (GET /agent-state's query) vs a primary-key lookup;
 *           save_agent_state vs a plain insert into a table of the same shape without triggers.
 * Every operation runs twice per round, in rotating order: once as the client sees it (postgres.js with
 * unnamed statements, autocommit — what the edge functions do: parse, plan, execute, commit, wire) and once
 * as `explain (analyze, timing off)` (the server's planning + execution, no commit, no wire). Reported:
 * median and p95 of each, and the ratio of medians.
 *
 * --seed creates the database (default ajc_hotpath) from scratch: migrations, 1,000 users and agents, 5,000
 * conversations of 200 messages each in time order (1M legacy rows and 1M v2 rows, 10 % with an attachment,
 * 20 % with a tool call) and 5,000 state streams of 10 versions. About 5 minutes on the 2-core machine.
 * Without --seed the database must exist (seeded before). Writes land in it; re-seed for a clean slate.
 * Prints the figures as JSON on stdout; docs/benchmarks.md ("Hot path") reads them. Not part of `npm run bench`.
 */
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { percentile, rng, round } from './lib/stats.ts';

const usage = 'usage: npm run bench:hot-path -- --database-url URL [--ops N] [--only write,page,state] [--seed] [--db NAME]';

let parsed;
try {
  parsed = parseArgs({
    strict: true,
    options: {
      'database-url': { type: 'string' },
      ops: { type: 'string', default: '2000' },
      only: { type: 'string', default: 'write,page,state' },
      seed: { type: 'boolean', default: false },
      db: { type: 'string', default: 'ajc_hotpath' },
    },
  });
} catch (e) {
  console.error(`${(e as Error).message}\n${usage}`);
  process.exit(2);
}
const { values } = parsed;
if (!values['database-url']) {
  console.error(`--database-url is required\n${usage}`);
  process.exit(2);
}
const ops = Number(values.ops);
if (!Number.isInteger(ops) || ops < 10) {
  console.error(`--ops is a whole number ≥ 10\n${usage}`);
  process.exit(2);
}
const only = new Set(values.only!.split(','));

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

const serverUrl = values['database-url'];
const dbUrl = withDatabase(serverUrl, values.db!);
const log = (s: string) => process.stderr.write(`${s}\n`);

// ---------------------------------------------------------------------------------------------------------
// Seeding
// ---------------------------------------------------------------------------------------------------------

const SEED_SQL = `
insert into auth.users (id, email, aud, role)
select md5('user-' || u)::uuid, 'hp-' || u || '@example.test', 'authenticated', 'authenticated'
  from generate_series(0, 999) u;
insert into public.agents (id, owner_id, name, config)
select md5('agent-' || u)::uuid, md5('user-' || u)::uuid, 'agent ' || u, '{"model":"gpt-4o"}'
  from generate_series(0, 999) u;
insert into public.conversation_sessions (id, user_id, agent_id, title)
select md5('conv-' || c)::uuid, md5('user-' || (c % 1000))::uuid, md5('agent-' || (c % 1000))::uuid, 'conversation ' || c
  from generate_series(0, 4999) c;`;

/** Message g of 1M: conversation g % 5000 (so 200 each, interleaved in time order, as live chats are). */
const messageColumns = (g: string) => `md5('conv-' || (${g} % 5000))::uuid, md5('user-' || ((${g} % 5000) % 1000))::uuid,
  md5('agent-' || ((${g} % 5000) % 1000))::uuid`;
const text = (g: string) => `'message ' || ${g} || ' ' || repeat('lorem ipsum dolor sit amet ', 8 + ${g} % 9)`;

async function seed(): Promise<void> {
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists ${values.db} with (force)`);
    await admin.unsafe(`create database ${values.db}`);
  } finally {
    await admin.end();
  }
  const { migrateWithShim } = await import('../devstack/platform.ts');
  const { openPostgres } = await import('../ops/db.ts');
  const db = await openPostgres(dbUrl, { max: 1 });
  try {
    await migrateWithShim(db);
  } finally {
    await db.close();
  }
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
  try {
    const t0 = performance.now();
    await sql.unsafe(SEED_SQL);
    for (let b = 0; b < 10; b++) {
      const range = `generate_series(${b * 100_000 + 1}, ${(b + 1) * 100_000}) g`;
      await sql.unsafe(`insert into public.chat_messages (conversation_id, user_id, agent_id, role, content, metadata, created_at)
        select ${messageColumns('g')}, case when g % 2 = 0 then 'user' else 'assistant' end, ${text('g')},
               jsonb_build_object('model', 'gpt-4o', 'tokens', 50 + g % 100), timestamptz '2025-01-01' + g * interval '1 second'
          from ${range}`);
      await sql.unsafe(`insert into public.chat_messages_v2 (conversation_id, user_id, agent_id, role, content, metadata, created_at)
        select ${messageColumns('g')}, (case when g % 2 = 0 then 'user' else 'assistant' end)::public.message_role,
               jsonb_build_object('type', 'text', 'text', ${text('g')}),
               jsonb_build_object('model', 'gpt-4o', 'tokens', 50 + g % 100), timestamptz '2025-01-01' + g * interval '1 second'
          from ${range}`);
      log(`seed: ${(b + 1) * 100}k messages (${Math.round((performance.now() - t0) / 1000)} s)`);
    }
    await sql.unsafe(`insert into public.chat_message_attachments (message_id, position, type, name, storage_path, mime_type, size_bytes)
      select id, 0, 'image', 'chart.png', 'attachments/' || id || '.png', 'image/png', 48213
        from public.chat_messages_v2 where abs(hashtext(id::text)) % 10 = 0`);
    await sql.unsafe(`insert into public.chat_tool_calls (message_id, position, tool_call_id, tool_name, args, result)
      select id, 0, 'call_' || id, 'search', '{"query":"pglite"}', '{"ok":true}'
        from public.chat_messages_v2 where abs(hashtext(id::text)) % 5 = 1`);
    // 5,000 streams (one per agent and state type, plus session streams) × 10 versions of a ~2 kB state
    for (let v = 0; v < 10; v++) {
      await sql.unsafe(`insert into public.agent_states (agent_id, user_id, session_id, state_type, state)
        select md5('agent-' || (s % 1000))::uuid, md5('user-' || (s % 1000))::uuid,
               case when s >= 4000 then md5('conv-' || (s % 5000))::uuid end,
               (array['local','shared','persistent','session']::public.state_type[])[least(4, 1 + s / 1000)],
               ${STATE_SQL}
          from generate_series(0, 4999) s`);
    }
    await sql.unsafe(`vacuum analyze`);
    log(`seed: done in ${Math.round((performance.now() - t0) / 1000)} s`);
  } finally {
    await sql.end();
  }
}

/** An AgentState like the legacy blobs carry (≈ 2 kB), as SQL. */
const STATE_SQL = `jsonb_build_object('user_input', 'question', 'focus', jsonb_build_array('billing', 'refunds'), 'step_count', 3,
  'last_tool_result', jsonb_build_object('tool', 'search', 'ok', true),
  'conversation_history', (select jsonb_agg(jsonb_build_object('role', 'user', 'content', repeat('lorem ipsum dolor sit amet ', 8), 'timestamp', '2025-08-01T10:00:00Z')) from generate_series(1, 8)))`;

// ---------------------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------------------

type Sql = postgres.Sql;
interface Variant<T> {
  name: string;
  /** The statement and its parameters for target t. */
  stmt: (t: T) => [string, unknown[]];
}

interface Figures {
  client_p50_ms: number;
  client_p95_ms: number;
  server_p50_ms: number;
  server_p95_ms: number;
  n: number;
}

/** planning + execution time of one statement, from explain (analyze, timing off, summary on). */
async function serverMs(sql: Sql, text: string, params: unknown[]): Promise<number> {
  const rows = await sql.unsafe(`explain (analyze, timing off, summary on, costs off) ${text}`, params as never[]);
  let ms = 0;
  for (const r of rows) {
    const line = Object.values(r)[0] as string;
    const m = /^(Planning|Execution) Time: ([\d.]+) ms/.exec(line.trim());
    if (m) ms += Number(m[2]);
  }
  return ms;
}

async function measure<T>(sql: Sql, variants: Variant<T>[], targets: T[], warmup = 50): Promise<Record<string, Figures>> {
  const client: Record<string, number[]> = {};
  const server: Record<string, number[]> = {};
  for (const v of variants) {
    client[v.name] = [];
    server[v.name] = [];
  }
  for (let i = 0; i < targets.length + warmup; i++) {
    const t = targets[i % targets.length]!;
    // rotate the order so no variant always runs first (or right after another's cache misses)
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(i + k) % variants.length]!;
      const [text, params] = v.stmt(t);
      const t0 = performance.now();
      await sql.unsafe(text, params as never[]);
      const ms = performance.now() - t0;
      const [text2, params2] = v.stmt(t);
      const s = await serverMs(sql, text2, params2);
      if (i >= warmup) {
        client[v.name]!.push(ms);
        server[v.name]!.push(s);
      }
    }
  }
  const out: Record<string, Figures> = {};
  for (const v of variants) {
    out[v.name] = {
      client_p50_ms: round(percentile(client[v.name]!, 50)),
      client_p95_ms: round(percentile(client[v.name]!, 95)),
      server_p50_ms: round(percentile(server[v.name]!, 50)),
      server_p95_ms: round(percentile(server[v.name]!, 95)),
      n: client[v.name]!.length,
    };
  }
  return out;
}

const ratioOf = (a: Figures, b: Figures) => ({
  client: round(a.client_p50_ms / b.client_p50_ms),
  server: round(a.server_p50_ms / b.server_p50_ms),
});

// ---------------------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------------------

const NIL = '00000000-0000-0000-0000-000000000000';

async function writes(sql: Sql) {
  const r = rng(11);
  const conv = Array.from({ length: ops }, () => ({ c: Math.floor(r() * 5000) }));
  const ids = await sql<{ c: number; id: string; user_id: string; agent_id: string }[]>`
    select c, md5('conv-' || c)::uuid as id, md5('user-' || (c % 1000))::uuid as user_id, md5('agent-' || (c % 1000))::uuid as agent_id
      from generate_series(0, 4999) c`;
  const byC = ids;
  const body = 'Here is what I found about your question. '.repeat(6);
  const meta = JSON.stringify({ model: 'gpt-4o', tokens: 63 });
  let n = 0;
  const variants: Variant<{ c: number }>[] = [
    {
      name: 'legacy_insert',
      stmt: ({ c }) => [
        `insert into public.chat_messages (conversation_id, user_id, agent_id, role, content, metadata)
         values ($1, $2, $3, 'assistant', $4, $5::text::jsonb)`,
        [byC[c]!.id, byC[c]!.user_id, byC[c]!.agent_id, body, meta],
      ],
    },
    {
      name: 'v2_insert',
      stmt: ({ c }) => [
        `insert into public.chat_messages_v2 (conversation_id, user_id, agent_id, role, content, metadata)
         values ($1, $2, $3, 'assistant', jsonb_build_object('type', 'text', 'text', $4::text), $5::text::jsonb)`,
        [byC[c]!.id, byC[c]!.user_id, byC[c]!.agent_id, body, meta],
      ],
    },
    {
      name: 'post_chat_message',
      stmt: ({ c }) => [
        `select p.message, p.created from public.post_chat_message(
           p_role => 'assistant', p_content => $1::text::jsonb, p_conversation_id => $2, p_client_message_id => $3,
           p_agent_id => $4, p_metadata => $5::text::jsonb) p`,
        [JSON.stringify({ type: 'text', text: body }), byC[c]!.id, `hp-${process.pid}-${++n}`, byC[c]!.agent_id, meta],
      ],
    },
  ];
  return { figures: await measure(sql, variants, conv), variants };
}

async function pages(sql: Sql) {
  const r = rng(7);
  const ids = await sql<{ id: string }[]>`select id from public.chat_messages_v2 tablesample system (1) limit ${ops}`;
  const convIds = await sql<{ c: string }[]>`select md5('conv-' || c)::uuid::text as c from generate_series(0, 4999) c`;
  const tg = Array.from({ length: ops }, (_, i) => ({ conv: convIds[Math.floor(r() * 5000)]!.c, id: ids[i % ids.length]!.id }));
  const cols = `m.id, m.conversation_id, m.role, m.content, m.metadata, m.version, m.parent_message_id, m.client_message_id, m.created_at, m.updated_at`;
  const variants: Variant<{ conv: string; id: string }>[] = [
    {
      name: 'page',
      stmt: (t) => [
        `select ${cols} from public.chat_messages_v2 m
          where m.conversation_id = $1 and m.deleted_at is null order by m.created_at desc, m.id desc limit 50`,
        [t.conv],
      ],
    },
    { name: 'pk_lookup', stmt: (t) => [`select ${cols} from public.chat_messages_v2 m where m.id = $1`, [t.id]] },
    {
      name: 'api_page',
      stmt: (t) => [
        `select e.message from public.chat_messages_expanded e
          where e.conversation_id = $1 and e.deleted_at is null
            and ($2::text::timestamptz is null or (e.created_at, e.id) < ($2::text::timestamptz, $3::uuid))
          order by e.created_at desc, e.id desc limit $4`,
        [t.conv, null, null, 51],
      ],
    },
    { name: 'api_pk_lookup', stmt: (t) => [`select e.message from public.chat_messages_expanded e where e.id = $1`, [t.id]] },
  ];
  return { figures: await measure(sql, variants, tg), variants };
}

async function states(sql: Sql) {
  const r = rng(5);
  const streams = await sql<{ agent_id: string; user_id: string; state_type: string; session_id: string | null }[]>`
    select agent_id, user_id, state_type::text, session_id from public.agent_states where is_current order by agent_id, state_type, session_id`;
  const pks = await sql<{ id: string }[]>`select id from public.agent_states tablesample system (5) limit ${ops}`;
  await sql.unsafe(`create schema if not exists bench;
    drop table if exists bench.states_bare;
    create table bench.states_bare (like public.agent_states including defaults including indexes including constraints);`);
  const targets = Array.from({ length: ops }, (_, i) => ({ s: streams[Math.floor(r() * streams.length)]!, id: pks[i % pks.length]!.id }));
  const state = JSON.stringify({
    user_input: 'question',
    focus: ['billing', 'refunds'],
    step_count: 4,
    conversation_history: Array.from({ length: 8 }, () => ({ role: 'user', content: 'lorem ipsum dolor sit amet '.repeat(8) })),
  });
  let bare = 0;
  const streamWhere = `st.agent_id = $1 and coalesce(st.user_id, '${NIL}') = coalesce($2::uuid, '${NIL}') and st.state_type = $3
    and coalesce(st.session_id, '${NIL}') = coalesce($4::uuid, '${NIL}')`;
  type T = (typeof targets)[number];
  const reads: Variant<T>[] = [
    {
      name: 'load_current',
      stmt: (t) => [`select to_jsonb(st) as state from public.agent_states st where ${streamWhere} and st.is_current`, [t.s.agent_id, t.s.user_id, t.s.state_type, t.s.session_id]],
    },
    { name: 'pk_lookup', stmt: (t) => [`select to_jsonb(st) as state from public.agent_states st where st.id = $1`, [t.id]] },
  ];
  const readFigures = await measure(sql, reads, targets);
  const writesV: Variant<T>[] = [
    {
      name: 'plain_insert',
      stmt: (t) => [
        `insert into bench.states_bare (agent_id, user_id, session_id, state_type, state, state_hash, version, is_current)
         values ($1, $2, $3, $4, $5::text::jsonb, encode(sha256(convert_to($5, 'UTF8')), 'hex'), $6, false)`,
        [t.s.agent_id, t.s.user_id, t.s.session_id, t.s.state_type, state, ++bare],
      ],
    },
    {
      name: 'save_agent_state',
      stmt: (t) => [`select to_jsonb(st) as state from public.save_agent_state($1, $2, $3::text::jsonb, $4) st`, [t.s.agent_id, t.s.state_type, state, t.s.session_id]],
    },
  ];
  const writeFigures = await measure(sql, writesV, targets);
  return { reads: readFigures, writes: writeFigures };
}

// ---------------------------------------------------------------------------------------------------------

async function main() {
  if (values.seed) await seed();
  const sql = postgres(dbUrl, { max: 1, prepare: false, fetch_types: false, onnotice: () => {} });
  const result: Record<string, unknown> = {};
  try {
    const [v] = await sql<{ version: string }[]>`select version()`;
    const [load] = await sql<{ n: string }[]>`select count(*)::text as n from public.chat_messages_v2`;
    log(`${v!.version.split(' on ')[0]} · ${load!.n} v2 messages · ${ops} operations per variant`);
    result.server = v!.version.split(' on ')[0];
    result.v2_messages = Number(load!.n);
    if (only.has('write')) {
      const w = await writes(sql);
      result.write = { figures: w.figures, ratios: { v2_over_legacy: ratioOf(w.figures.v2_insert!, w.figures.legacy_insert!), post_over_legacy: ratioOf(w.figures.post_chat_message!, w.figures.legacy_insert!) } };
    }
    if (only.has('page')) {
      const p = await pages(sql);
      result.page = { figures: p.figures, ratios: { page_over_pk: ratioOf(p.figures.page!, p.figures.pk_lookup!), api_page_over_api_pk: ratioOf(p.figures.api_page!, p.figures.api_pk_lookup!) } };
    }
    if (only.has('state')) {
      const s = await states(sql);
      result.state = {
        reads: s.reads,
        writes: s.writes,
        ratios: { load_current_over_pk: ratioOf(s.reads.load_current!, s.reads.pk_lookup!), save_over_plain_insert: ratioOf(s.writes.save_agent_state!, s.writes.plain_insert!) },
      };
    }
  } finally {
    await sql.end();
  }
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
