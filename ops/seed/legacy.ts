/**
 * Realistic, deterministic legacy (v1) chat data — the dirty kind production really holds (SPEC §4).
 *
 * Used by `npm run seed:legacy`, by the data-migration tests and by the benchmarks. Every value comes
 * from one seeded PRNG, so the same options give byte-identical tables (same ids on a fresh database).
 *
 * Speed: rows are generated in JavaScript in chunks and written with one statement per chunk — on PGlite a
 * COPY from an in-memory blob, elsewhere (postgres.js) ONE json parameter expanded by `json_to_recordset`
 * (cast `$1::text::json`: postgres.js would JSON-encode again a value it sees typed as json). Per-row FK
 * checks are skipped where safe (see `skipTriggers`). 50 kB texts travel as a short text plus a repeat count.
 *
 * Dirt: with probability `dirtyRate` a message gets exactly one dirt kind (see `messageDirtKinds`), so
 * the result can say exactly how many rows the migration must quarantine and why.
 */
import type { Db, Queryable } from '../db.ts';

/** Dirt a migration must repair (the row migrates). */
export const repairableDirtKinds = [
  'role_alias', // human / ai / bot / function
  'args_json_string', // tool-call args stored as a JSON-encoded string
  'args_plain_string', // tool-call args as a string that is not JSON
  'null_content', // content is null (not only on tool-call messages)
  'unicode', // emoji, RTL, combining marks, zero-width joiners, astral planes
  'big_text', // ~50 kB text
  'empty_arrays', // [] attachments / tool calls
] as const;

/** Dirt the migration must send to quarantine (SPEC §6 mapping rules). */
export const quarantineDirtKinds = [
  'unknown_role', // a role that is neither canonical nor a known alias
  'attachments_not_array', // an object where the array should be
  'attachment_missing_key', // element without a string name / storageId
  'attachment_not_object', // element that is a string / number / null
  'tool_calls_not_array',
  'tool_call_missing_key', // element without toolCallId / toolName
  'tool_call_not_object',
  'partial_tool_call_malformed', // the same defects in partial_tool_calls
] as const;

export const messageDirtKinds = [...repairableDirtKinds, ...quarantineDirtKinds] as const;
export type MessageDirtKind = (typeof messageDirtKinds)[number];
export type QuarantineDirtKind = (typeof quarantineDirtKinds)[number];

export const stateDirtKinds = ['invalid_json', 'relevance_out_of_range', 'missing_relevance'] as const;
export type StateDirtKind = (typeof stateDirtKinds)[number];

export interface SeedOptions {
  /** Conversations that have chat_messages rows. */
  conversations: number;
  /** Messages in total, spread unevenly over the conversations (at least one each). */
  messages: number;
  /** Probability that a message (or a chat_states blob) carries one kind of dirt; default 0.05. */
  dirtyRate?: number;
  /** PRNG seed; default 1. */
  seed?: number;
  /** Users; default ceil(conversations / 8). */
  users?: number;
  /** Share of conversations that also have a chat_states blob; default 0.5. */
  stateRate?: number;
  /** Extra conversations that exist only in chat_states (their history becomes v2 messages); default ceil(5% of conversations). */
  stateOnlyConversations?: number;
  /** Rows per INSERT; default 5000. */
  chunkSize?: number;
  /**
   * Skip per-row foreign-key and trigger work while inserting (`session_replication_role = replica`, set
   * local to each chunk's transaction). The seeder's rows are referentially consistent by construction.
   * Default: on when allowed (superuser) and the data migration is absent or in `legacy` mode — never while
   * dual-write triggers must see the rows.
   */
  skipTriggers?: boolean;
  /** Called after every chunk with messages inserted so far. */
  onProgress?: (done: number, total: number) => void;
}

export interface SeedResult {
  users: number;
  agents: number;
  conversations: number;
  stateOnlyConversations: number;
  messages: number;
  chatStates: number;
  /** History entries in valid chat_states blobs of state-only conversations (they become v2 messages). */
  stateOnlyHistoryMessages: number;
  /** Memory-context items in valid blobs (they become `working` memories). */
  memoryContextItems: number;
  firstMessageId: number | null;
  lastMessageId: number | null;
  /** Messages per dirt kind (each dirty message has exactly one). */
  dirt: Record<MessageDirtKind, number>;
  stateDirt: Record<StateDirtKind, number>;
  expectedQuarantine: {
    messages: number;
    states: number;
    byReason: Partial<Record<QuarantineDirtKind | 'invalid_json', number>>;
  };
  /** messages that must migrate = messages - expectedQuarantine.messages */
  expectedMigrated: number;
  ms: number;
  rowsPerSecond: number;
  /** How rows were written: COPY (PGlite) or json_to_recordset; with or without replica mode. */
  method: string;
}

/** sfc32: small, fast, good enough statistical quality, fully determined by the seed. */
export function prng(seed: number): () => number {
  let a = 0x9e3779b9 ^ seed,
    b = 0x243f6a88 ^ Math.imul(seed, 0x85ebca6b),
    c = 0xb7e15162,
    d = 1;
  const next = () => {
    a |= 0; b |= 0; c |= 0; d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 15; i++) next();
  return next;
}

class Gen {
  constructor(readonly r: () => number) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)]!;
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  uuid(): string {
    const h: string[] = [];
    for (let i = 0; i < 4; i++) h.push((Math.floor(this.r() * 4294967296) >>> 0).toString(16).padStart(8, '0'));
    const s = h.join('');
    const variant = ((parseInt(s[16]!, 16) & 0x3) | 0x8).toString(16);
    return `${s.slice(0, 8)}-${s.slice(8, 12)}-4${s.slice(13, 16)}-${variant}${s.slice(17, 20)}-${s.slice(20, 32)}`;
  }
  id(prefix: string, n = 12): string {
    let s = prefix;
    for (let i = 0; i < n; i++) s += 'abcdefghijklmnopqrstuvwxyz0123456789'[Math.floor(this.r() * 36)];
    return s;
  }
}

const userLines = [
  'Can you summarize the attached report?',
  'What is the weather in Lisbon tomorrow?',
  'Please draft a polite reply to this email.',
  'Why does my Postgres query use a sequential scan?',
  'Translate this paragraph into German.',
  'Book a table for two at 7pm.',
  'How many tokens does this prompt use?',
  'Find the bug in this function.',
  'Compare these two contracts and list the differences.',
  'Remind me what we decided yesterday.',
];
const assistantLines = [
  'Here is a short summary of the main points.',
  'Sure — I looked it up for you.',
  'The planner prefers a sequential scan because the predicate is not selective.',
  'I drafted a reply; feel free to adjust the tone.',
  'Let me check that with the calendar tool.',
  'There are three differences worth noting.',
  'Done. Anything else?',
  'I could not find that, could you rephrase?',
];
const systemLines = ['You are a helpful assistant.', 'You are a terse coding assistant. Answer in Markdown.', 'Always cite your sources.'];
const unicodeLines = [
  'Emoji test 😀🚀👩‍👩‍👧‍👦 and flags 🇵🇹🇯🇵',
  'مرحبا بالعالم — نص من اليمين إلى اليسار',
  'שלום עולם, זה טקסט בעברית',
  'Ünïcödé çömbïnïng: é (e\u0301) ñ (n\u0303) 𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  '日本語のテキストと中文文本 및 한국어',
  'zero\u200bwidth\u200djoiners and \u2028line separators',
];
const toolNames = ['web_search', 'get_weather', 'run_sql', 'send_email', 'calendar.create_event', 'read_file'];
const mimeTypes: [string, string, string][] = [
  ['image', 'image/png', 'png'],
  ['image', 'image/jpeg', 'jpg'],
  ['file', 'application/pdf', 'pdf'],
  ['file', 'text/csv', 'csv'],
  ['audio', 'audio/mpeg', 'mp3'],
];
const models = ['gpt-4o', 'gpt-4o-mini', 'claude-3-5-sonnet', 'llama-3.1-70b'];
const roleAliases = ['human', 'ai', 'bot', 'function'];
const unknownRoles = ['moderator', 'narrator', 'observer', 'developer_note'];

interface MsgRow {
  conversation_id: string;
  user_id: string;
  agent_id: string | null;
  role: string;
  content: string | null;
  rep?: number;
  attachments: unknown;
  tool_calls: unknown;
  partial_tool_calls: unknown;
  metadata: unknown;
  created_at: string;
  updated_at: string | null;
}

interface Conversation {
  id: string;
  user: number;
  agent: string | null;
  left: number;
  step: number;
  lastToolCallId: string | null;
}

const epoch = Date.UTC(2024, 0, 1);

function toolArgs(g: Gen, name: string): Record<string, unknown> {
  switch (name) {
    case 'web_search':
      return { query: g.pick(userLines), top_k: g.int(1, 10) };
    case 'get_weather':
      return { city: g.pick(['Lisbon', 'Tokyo', 'Cairo', 'Québec']), units: 'metric' };
    case 'run_sql':
      return { sql: 'select count(*) from orders where created_at > now() - interval \'1 day\'' };
    case 'send_email':
      return { to: 'someone@example.com', subject: 'Re: contract', cc: [] };
    default:
      return { path: `/tmp/${g.id('f', 6)}.txt`, options: { encoding: 'utf8', lines: [1, 50] } };
  }
}

function attachment(g: Gen): Record<string, unknown> {
  const [type, mimeType, ext] = g.pick(mimeTypes);
  const a: Record<string, unknown> = {
    name: `${g.id('doc_', 6)}.${ext}`,
    type,
    storageId: `attachments/${g.uuid()}.${ext}`,
    mimeType,
    size: g.int(200, 5_000_000),
  };
  if (g.chance(0.3)) a.metadata = { width: g.int(100, 4000), height: g.int(100, 4000), alt: 'uploaded by user' };
  return a;
}

function toolCall(g: Gen, withResult: boolean): Record<string, unknown> {
  const name = g.pick(toolNames);
  const c: Record<string, unknown> = { toolCallId: g.id('call_', 16), toolName: name, args: toolArgs(g, name) };
  if (withResult) c.result = g.chance(0.8) ? { ok: true, data: g.pick(assistantLines) } : 'done';
  if (g.chance(0.4)) c.textPosition = g.int(0, 200);
  return c;
}

export async function seedLegacy(db: SeedTarget, opts: SeedOptions): Promise<SeedResult> {
  const started = performance.now();
  const nConv = Math.max(0, Math.floor(opts.conversations));
  const nMsg = Math.max(nConv, Math.floor(opts.messages));
  const p = opts.dirtyRate ?? 0.05;
  if (!(p >= 0 && p <= 1)) throw new RangeError(`dirtyRate must be between 0 and 1 (got ${p})`);
  const g = new Gen(prng(opts.seed ?? 1));
  const chunkSize = opts.chunkSize ?? 5000;
  const nUsers = Math.max(1, opts.users ?? Math.ceil(nConv / 8));
  const stateRate = opts.stateRate ?? 0.5;
  const nStateOnly = opts.stateOnlyConversations ?? Math.ceil(nConv * 0.05);

  await assertLegacySchema(db);
  const writer = await makeWriter(db, opts.skipTriggers);

  // --- users and agents -------------------------------------------------------------------------
  const users: string[] = [];
  const agentsByUser: string[][] = [];
  const userRows: { id: string; email: string; created_at: string }[] = [];
  const agentRows: { id: string; owner_id: string; name: string; config: unknown; created_at: string }[] = [];
  for (let u = 0; u < nUsers; u++) {
    const id = g.uuid();
    users.push(id);
    userRows.push({ id, email: `seed-${id.slice(0, 8)}-${u}@example.test`, created_at: new Date(epoch - g.int(1, 400) * 86_400_000).toISOString() });
    const ags: string[] = [];
    for (let k = g.int(1, 3); k > 0; k--) {
      const aid = g.uuid();
      ags.push(aid);
      agentRows.push({
        id: aid,
        owner_id: id,
        name: g.pick(['Research assistant', 'Support bot', 'SQL helper', 'Travel planner', 'Écrivain ✍️']),
        config: { model: g.pick(models), temperature: Math.round(g.r() * 100) / 100, tools: toolNames.slice(0, g.int(0, 4)) },
        created_at: new Date(epoch - g.int(0, 30) * 86_400_000).toISOString(),
      });
    }
    agentsByUser.push(ags);
  }
  for (let i = 0; i < userRows.length; i += chunkSize) {
    await writer.query(
      `insert into auth.users (id, email, aud, role, created_at, updated_at)
       select r.id, r.email, 'authenticated', 'authenticated', r.created_at, r.created_at
       from json_to_recordset($1::text::json) as r(id uuid, email text, created_at timestamptz)`,
      [JSON.stringify(userRows.slice(i, i + chunkSize))],
    );
  }
  for (let i = 0; i < agentRows.length; i += chunkSize) {
    await writer.query(
      `insert into public.agents (id, owner_id, name, config, created_at)
       select r.id, r.owner_id, r.name, r.config, r.created_at
       from json_to_recordset($1::text::json) as r(id uuid, owner_id uuid, name text, config jsonb, created_at timestamptz)`,
      [JSON.stringify(agentRows.slice(i, i + chunkSize))],
    );
  }

  // --- conversations: sizes skewed like real chats (a few long ones, many short) ----------------
  const convs: Conversation[] = [];
  const weights: number[] = [];
  let wsum = 0;
  for (let c = 0; c < nConv; c++) {
    const user = g.int(0, nUsers - 1);
    const ags = agentsByUser[user]!;
    convs.push({ id: g.uuid(), user, agent: g.chance(0.05) ? null : g.pick(ags), left: 1, step: 0, lastToolCallId: null });
    const w = -Math.log(1 - g.r() * 0.999); // exponential
    weights.push(w);
    wsum += w;
  }
  let assigned = nConv;
  for (let c = 0; c < nConv && assigned < nMsg; c++) {
    const extra = Math.min(nMsg - assigned, Math.floor(((nMsg - nConv) * weights[c]!) / wsum));
    convs[c]!.left += extra;
    assigned += extra;
  }
  for (let c = 0; assigned < nMsg; c = (c + 1) % nConv) {
    convs[c]!.left++;
    assigned++;
  }

  const dirt = Object.fromEntries(messageDirtKinds.map((k) => [k, 0])) as Record<MessageDirtKind, number>;
  const quarantineSet = new Set<string>(quarantineDirtKinds);

  // --- messages: conversations interleaved in windows, ids follow time like production -----------
  const window = 16;
  let done = 0;
  let firstId: number | null = null;
  let lastId: number | null = null;
  let clock = epoch;
  let batch: MsgRow[] = [];
  const before = await db.query<{ hi: string | number | null }>(`select max(id) as hi from public.chat_messages`);
  const baseId = Number(before[0]?.hi ?? 0);
  const flush = async () => {
    if (!batch.length) return;
    await writer.messages(batch);
    done += batch.length;
    batch = [];
    opts.onProgress?.(done, nMsg);
  };

  for (let w0 = 0; w0 < nConv; w0 += window) {
    const active = convs.slice(w0, w0 + window);
    let open = active.length;
    while (open > 0) {
      for (const conv of active) {
        if (conv.left <= 0) continue;
        batch.push(makeMessage(g, conv, users[conv.user]!, (clock += g.int(500, 90_000)), p, dirt));
        conv.left--;
        conv.step++;
        if (conv.left === 0) open--;
        if (batch.length >= chunkSize) await flush();
      }
    }
  }
  await flush();
  if (done) {
    const ids = await db.query<{ lo: string | number; hi: string | number }>(
      `select min(id) as lo, max(id) as hi from public.chat_messages where id > $1`,
      [baseId],
    );
    firstId = Number(ids[0]!.lo);
    lastId = Number(ids[0]!.hi);
  }

  // --- chat_states blobs -------------------------------------------------------------------------
  const stateDirt = Object.fromEntries(stateDirtKinds.map((k) => [k, 0])) as Record<StateDirtKind, number>;
  const stateRows: { conversation_id: string; user_id: string; agent_id: string; content: string; updated_at: string }[] = [];
  let stateOnlyHistory = 0;
  let memoryItems = 0;
  const addState = (convId: string, user: number, agent: string, stateOnly: boolean) => {
    const dirty = g.chance(p) ? g.pick(stateDirtKinds) : null;
    const historyLen = g.int(stateOnly ? 1 : 0, 6);
    const history = [];
    for (let h = 0; h < historyLen; h++) {
      const role = h % 2 === 0 ? 'user' : 'assistant';
      history.push({
        role,
        content: role === 'user' ? g.pick(userLines) : g.pick(assistantLines),
        timestamp: new Date(epoch - g.int(1, 1000) * 60_000).toISOString(),
        metadata: g.chance(0.5) ? { tokens: g.int(3, 60) } : {},
      });
    }
    const memories = [];
    for (let m = g.int(0, 4); m > 0; m--) {
      const item: Record<string, unknown> = {
        source: g.pick(['conversation', 'tool', 'document']),
        content: g.pick([...userLines, ...assistantLines]),
        relevance_score: Math.round(g.r() * 1000) / 1000,
        type: g.pick(['fact', 'preference', 'task']),
        timestamp: new Date(epoch - g.int(1, 1000) * 60_000).toISOString(),
      };
      memories.push(item);
    }
    if (dirty === 'relevance_out_of_range' && memories.length) memories[0]!.relevance_score = g.pick([1.7, -0.3, 42]);
    if (dirty === 'missing_relevance' && memories.length) delete memories[0]!.relevance_score;
    const blob = {
      user_input: g.pick(userLines),
      focus: [g.pick(['billing', 'travel', 'sql', 'email'])],
      step_count: g.int(0, 40),
      last_tool_result: g.chance(0.5) ? { tool: g.pick(toolNames), ok: true } : null,
      conversation_history: history,
      memory_context: memories,
    };
    let content = JSON.stringify(blob);
    if (dirty === 'invalid_json') content = g.pick([content.slice(0, Math.floor(content.length / 2)), "{'user_input': 'single quotes'}", 'AgentState(user_input=...)', '']);
    else {
      memoryItems += memories.length;
      if (stateOnly) stateOnlyHistory += history.length;
    }
    if (dirty) stateDirt[dirty]++;
    stateRows.push({ conversation_id: convId, user_id: users[user]!, agent_id: agent, content, updated_at: new Date(epoch + g.int(0, 1e6) * 1000).toISOString() });
  };
  for (const conv of convs) if (conv.agent && g.chance(stateRate)) addState(conv.id, conv.user, conv.agent, false);
  for (let s = 0; s < nStateOnly; s++) {
    const user = g.int(0, nUsers - 1);
    addState(g.uuid(), user, g.pick(agentsByUser[user]!), true);
  }
  for (let i = 0; i < stateRows.length; i += chunkSize) {
    await writer.query(
      `insert into public.chat_states (conversation_id, user_id, agent_id, content, updated_at)
       select r.conversation_id, r.user_id, r.agent_id, r.content, r.updated_at
       from json_to_recordset($1::text::json) as r(conversation_id uuid, user_id uuid, agent_id uuid, content text, updated_at timestamptz)`,
      [JSON.stringify(stateRows.slice(i, i + chunkSize))],
    );
  }

  const byReason: SeedResult['expectedQuarantine']['byReason'] = {};
  let qMessages = 0;
  for (const k of messageDirtKinds) {
    if (quarantineSet.has(k) && dirt[k] > 0) {
      byReason[k as QuarantineDirtKind] = dirt[k];
      qMessages += dirt[k];
    }
  }
  if (stateDirt.invalid_json) byReason.invalid_json = stateDirt.invalid_json;
  const ms = performance.now() - started;
  return {
    users: nUsers,
    agents: agentRows.length,
    conversations: nConv,
    stateOnlyConversations: nStateOnly,
    messages: done,
    chatStates: stateRows.length,
    stateOnlyHistoryMessages: stateOnlyHistory,
    memoryContextItems: memoryItems,
    firstMessageId: firstId,
    lastMessageId: lastId,
    dirt,
    stateDirt,
    expectedQuarantine: { messages: qMessages, states: stateDirt.invalid_json, byReason },
    expectedMigrated: done - qMessages,
    ms,
    method: writer.method,
    rowsPerSecond: done / Math.max(ms / 1000, 1e-9),
  };
}

function makeMessage(g: Gen, conv: Conversation, userId: string, t: number, p: number, dirt: Record<MessageDirtKind, number>): MsgRow {
  // Conversation shape: optional system prompt, then user → assistant (→ tool → assistant) turns.
  let role: string;
  if (conv.step === 0) role = g.chance(0.3) ? 'system' : 'user';
  else if (conv.lastToolCallId) role = 'tool';
  else role = conv.step % 2 === 1 ? 'assistant' : 'user';

  const row: MsgRow = {
    conversation_id: conv.id,
    user_id: userId,
    agent_id: conv.agent,
    role,
    content: null,
    attachments: null,
    tool_calls: null,
    partial_tool_calls: null,
    metadata: null,
    created_at: new Date(t).toISOString(),
    updated_at: g.chance(0.05) ? new Date(t + g.int(1000, 86_400_000)).toISOString() : null,
  };
  switch (role) {
    case 'system':
      row.content = g.pick(systemLines);
      break;
    case 'user':
      row.content = g.pick(userLines);
      if (g.chance(0.15)) row.attachments = Array.from({ length: g.int(1, 3) }, () => attachment(g));
      row.metadata = g.chance(0.6) ? { client: g.pick(['web', 'ios', 'android']), locale: g.pick(['en-US', 'pt-PT', 'ar-EG']) } : null;
      break;
    case 'assistant': {
      const calls = g.chance(0.25);
      row.content = calls && g.chance(0.5) ? null : g.pick(assistantLines);
      if (calls) {
        row.tool_calls = Array.from({ length: g.int(1, 2) }, () => toolCall(g, false));
        conv.lastToolCallId = (row.tool_calls as { toolCallId: string }[])[0]!.toolCallId;
        if (g.chance(0.1)) row.partial_tool_calls = [toolCall(g, false)];
      }
      row.metadata = g.chance(0.7)
        ? { model: g.pick(models), ...(g.chance(0.6) ? { tokens: g.int(5, 900) } : {}), finish_reason: calls ? 'tool_calls' : 'stop' }
        : null;
      break;
    }
    case 'tool': {
      const name = g.pick(toolNames);
      row.content = JSON.stringify({ ok: true, result: g.pick(assistantLines) });
      row.tool_calls = [{ toolCallId: conv.lastToolCallId, toolName: name, args: toolArgs(g, name), result: { ok: true } }];
      row.metadata = { tool: name };
      conv.lastToolCallId = null;
      break;
    }
  }

  if (!g.chance(p)) return row;
  const kind = g.pick(messageDirtKinds);
  dirt[kind]++;
  const call = () => toolCall(g, g.chance(0.5));
  switch (kind) {
    case 'role_alias':
      row.role = role === 'user' ? 'human' : role === 'assistant' ? g.pick(['ai', 'bot']) : role === 'tool' ? 'function' : g.pick(roleAliases);
      break;
    case 'args_json_string': {
      const c = call();
      c.args = JSON.stringify(c.args);
      row.tool_calls = [c, ...(Array.isArray(row.tool_calls) ? (row.tool_calls as unknown[]) : [])];
      break;
    }
    case 'args_plain_string': {
      const c = call();
      c.args = g.pick(['city=Paris&units=metric', 'ls -la /tmp', 'SELECT 1; -- not json', '{broken json']);
      row.tool_calls = [c];
      break;
    }
    case 'null_content':
      row.content = null;
      break;
    case 'unicode':
      row.content = `${g.pick(unicodeLines)} ${row.content ?? ''}`.trim();
      row.metadata = { ...((row.metadata as object | null) ?? {}), note: g.pick(unicodeLines) };
      break;
    case 'big_text':
      // ~50 kB: a 100-character paragraph repeated 512 times, expanded server-side.
      row.content = (g.pick(assistantLines) + ' ').padEnd(99, '.') + '\n';
      row.rep = 512;
      break;
    case 'empty_arrays':
      row.attachments = [];
      row.tool_calls = [];
      row.partial_tool_calls = [];
      break;
    case 'unknown_role':
      row.role = g.pick(unknownRoles);
      break;
    case 'attachments_not_array':
      row.attachments = attachment(g);
      break;
    case 'attachment_missing_key': {
      const a = attachment(g);
      delete a[g.pick(['name', 'storageId'])];
      row.attachments = [attachment(g), a];
      break;
    }
    case 'attachment_not_object':
      row.attachments = [attachment(g), g.pick(['photo.png', 42, null, ['nested']])];
      break;
    case 'tool_calls_not_array':
      row.tool_calls = call();
      break;
    case 'tool_call_missing_key': {
      const c = call();
      delete c[g.pick(['toolCallId', 'toolName'])];
      row.tool_calls = [c];
      break;
    }
    case 'tool_call_not_object':
      row.tool_calls = [call(), g.pick(['web_search', 7, null, true])];
      break;
    case 'partial_tool_call_malformed': {
      const c = call();
      delete c.toolName;
      row.partial_tool_calls = g.chance(0.5) ? [c] : { toolCallId: 'call_x', toolName: 'web_search', args: {} };
      break;
    }
  }
  return row;
}

const messageColumns = [
  'conversation_id', 'user_id', 'agent_id', 'role', 'content', 'attachments', 'tool_calls',
  'partial_tool_calls', 'metadata', 'created_at', 'updated_at',
] as const;

const needsEscape = /[\\\n\r\t]/;

/** COPY text format: tab-separated, \\N for null, backslash escapes. */
function copyField(v: unknown): string {
  if (v === null || v === undefined) return '\\N';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  if (!needsEscape.test(s)) return s;
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
}

interface Writer {
  method: string;
  messages(rows: MsgRow[]): Promise<void>;
  /** One statement, in replica mode when allowed. */
  query(sql: string, params: unknown[]): Promise<void>;
}

type SeedTarget = Queryable & { transaction?: Db['transaction']; copyIn?: Db['copyIn'] };

async function makeWriter(db: SeedTarget, skipTriggers: boolean | undefined): Promise<Writer> {
  const replica = skipTriggers ?? (await replicaAllowed(db));
  const query = async (sql: string, params: unknown[]) => {
    if (replica && db.transaction) {
      await db.transaction(async (tx) => {
        await tx.query(`set local session_replication_role = replica`);
        await tx.query(sql, params);
      });
    } else await db.query(sql, params);
  };
  if (db.copyIn) {
    const copyIn = db.copyIn.bind(db);
    return {
      query,
      method: `copy${replica ? ' (replica)' : ''}`,
      async messages(rows) {
        let text = '';
        for (const r of rows) {
          const content = r.rep && r.rep > 1 && r.content !== null ? r.content.repeat(r.rep) : r.content;
          text += messageColumns.map((c) => copyField(c === 'content' ? content : r[c])).join('\t') + '\n';
        }
        await copyIn(`public.chat_messages (${messageColumns.join(', ')})`, text, replica ? [`set local session_replication_role = replica`] : []);
      },
    };
  }
  const insert = async (q: Queryable, rows: MsgRow[]) =>
    q.query(
      `insert into public.chat_messages (${messageColumns.join(', ')})
       select r.conversation_id, r.user_id, r.agent_id, r.role,
              case when r.rep > 1 then repeat(r.content, r.rep) else r.content end,
              r.attachments, r.tool_calls, r.partial_tool_calls, r.metadata, r.created_at, r.updated_at
       from json_to_recordset($1::text::json) as r(conversation_id uuid, user_id uuid, agent_id uuid, role text, content text,
            rep int, attachments jsonb, tool_calls jsonb, partial_tool_calls jsonb, metadata jsonb,
            created_at timestamptz, updated_at timestamptz)`,
      [JSON.stringify(rows)],
    );
  return {
    method: `json_to_recordset${replica && db.transaction ? ' (replica)' : ''}`,
    query,
    async messages(rows) {
      if (replica && db.transaction) {
        await db.transaction(async (tx) => {
          await tx.query(`set local session_replication_role = replica`);
          await insert(tx, rows);
        });
      } else await insert(db, rows);
    },
  };
}

/** Replica mode skips triggers too, so only when nobody needs them: superuser, and no dual-write in force. */
async function replicaAllowed(db: Queryable): Promise<boolean> {
  const su = await db.query<{ su: string }>(`select current_setting('is_superuser') as su`);
  if (su[0]?.su !== 'on') return false;
  const trig = await db.query<{ n: number }>(
    `select count(*)::int as n from pg_trigger
     where tgrelid in ('public.chat_messages'::regclass, 'public.chat_states'::regclass) and not tgisinternal`,
  );
  if (!trig[0]?.n) return true;
  const fn = await db.query<{ ok: boolean }>(`select to_regprocedure('public.chat_migration_status()') is not null as ok`);
  if (!fn[0]?.ok) return false;
  try {
    const st = await db.query<{ mode: string | null }>(`select mode from public.chat_migration_status()`);
    return (st[0]?.mode ?? 'legacy') === 'legacy';
  } catch {
    return false;
  }
}

export class LegacySchemaMissingError extends Error {
  override name = 'LegacySchemaMissingError';
  hint = 'run npm run db:migrate (or point --database-url at a migrated database)';
}

async function assertLegacySchema(db: Queryable): Promise<void> {
  const rows = await db.query<{ ok: boolean }>(
    `select to_regclass('public.chat_messages') is not null and to_regclass('public.chat_states') is not null
        and to_regclass('auth.users') is not null as ok`,
  );
  if (!rows[0]?.ok) throw new LegacySchemaMissingError('the legacy tables (public.chat_messages, public.chat_states, auth.users) do not exist');
}
