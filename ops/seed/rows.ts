/**
 * The rows of the legacy seeder (./legacy.ts): a seeded PRNG, the vocabulary of realistic chat content, and
 * one legacy message at a time with the dirt production really holds — every value from the PRNG, so the
 * same seed gives the same rows.
 */
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

/** Dirt the migration must send to quarantine (the data migration's mapping rules). */
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

export class Gen {
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

export const userLines = [
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
export const assistantLines = [
  'Here is a short summary of the main points.',
  'Sure — I looked it up for you.',
  'The planner prefers a sequential scan because the predicate is not selective.',
  'I drafted a reply; feel free to adjust the tone.',
  'Let me check that with the calendar tool.',
  'There are three differences worth noting.',
  'Done. Anything else?',
  'I could not find that, could you rephrase?',
];
export const systemLines = ['You are a helpful assistant.', 'You are a terse coding assistant. Answer in Markdown.', 'Always cite your sources.'];
export const unicodeLines = [
  'Emoji test 😀🚀👩‍👩‍👧‍👦 and flags 🇵🇹🇯🇵',
  'مرحبا بالعالم — نص من اليمين إلى اليسار',
  'שלום עולם, זה טקסט בעברית',
  'Ünïcödé çömbïnïng: é (e\u0301) ñ (n\u0303) 𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  '日本語のテキストと中文文本 및 한국어',
  'zero\u200bwidth\u200djoiners and \u2028line separators',
];
export const toolNames = ['web_search', 'get_weather', 'run_sql', 'send_email', 'calendar.create_event', 'read_file'];
export const mimeTypes: [string, string, string][] = [
  ['image', 'image/png', 'png'],
  ['image', 'image/jpeg', 'jpg'],
  ['file', 'application/pdf', 'pdf'],
  ['file', 'text/csv', 'csv'],
  ['audio', 'audio/mpeg', 'mp3'],
];
export const models = ['gpt-4o', 'gpt-4o-mini', 'claude-3-5-sonnet', 'llama-3.1-70b'];
export const roleAliases = ['human', 'ai', 'bot', 'function'];
export const unknownRoles = ['moderator', 'narrator', 'observer', 'developer_note'];

export interface MsgRow {
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

export interface Conversation {
  id: string;
  user: number;
  agent: string | null;
  left: number;
  step: number;
  lastToolCallId: string | null;
}

export const epoch = Date.UTC(2024, 0, 1);

export function toolArgs(g: Gen, name: string): Record<string, unknown> {
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

export function attachment(g: Gen): Record<string, unknown> {
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

export function toolCall(g: Gen, withResult: boolean): Record<string, unknown> {
  const name = g.pick(toolNames);
  const c: Record<string, unknown> = { toolCallId: g.id('call_', 16), toolName: name, args: toolArgs(g, name) };
  if (withResult) c.result = g.chance(0.8) ? { ok: true, data: g.pick(assistantLines) } : 'done';
  if (g.chance(0.4)) c.textPosition = g.int(0, 200);
  return c;
}

export function makeMessage(g: Gen, conv: Conversation, userId: string, t: number, p: number, dirt: Record<MessageDirtKind, number>): MsgRow {
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
