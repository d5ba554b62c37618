/**
 * What the legacy seeder (./legacy.ts, ./legacy.sql) writes: the kinds of dirt production really holds, the
 * quarantine reason each one must produce, and the vocabulary of realistic chat content. The rows themselves
 * are generated inside the database (legacy.sql); this file only names things.
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

/** Dirt the migration must send to quarantine (the mapping rules, docs/data-migration-sql.md). */
export const quarantineDirtKinds = [
  'unknown_role', // a role that is neither canonical nor a known alias
  'attachments_not_array', // an object where the array should be
  'attachment_missing_key', // element without a string name / storageId
  'attachment_not_object', // element that is a string / number / null
  'tool_calls_not_array',
  'tool_call_missing_key', // element without toolCallId / toolName
  'tool_call_not_object',
  'partial_tool_call_malformed', // the same defects in partial_tool_calls
  'conversation_owned_by_other_user', // tenancy: a row in another user's conversation (never its first message)
  'agent_owned_by_other_user', // tenancy: a row that names another user's agent
] as const;

export const messageDirtKinds = [...repairableDirtKinds, ...quarantineDirtKinds] as const;
export type MessageDirtKind = (typeof messageDirtKinds)[number];
export type QuarantineDirtKind = (typeof quarantineDirtKinds)[number];

export const stateDirtKinds = ['invalid_json', 'relevance_out_of_range', 'missing_relevance'] as const;
export type StateDirtKind = (typeof stateDirtKinds)[number];

/**
 * The reason chat_migration.quarantine records for each quarantine-bound kind, as a LIKE pattern (array
 * positions and role names vary): what the seeder's expected counts are checked against.
 */
export const quarantineReasonPatterns: Record<QuarantineDirtKind | 'invalid_json', string> = {
  unknown_role: 'unknown role: %',
  attachments_not_array: 'attachments is not an array',
  attachment_missing_key: 'attachments[%] lacks a string %',
  attachment_not_object: 'attachments[%] is not an object',
  tool_calls_not_array: 'tool_calls is not an array',
  tool_call_missing_key: 'tool\\_calls[%] lacks a string %',
  tool_call_not_object: 'tool\\_calls[%] is not an object',
  partial_tool_call_malformed: 'partial\\_tool\\_calls%',
  conversation_owned_by_other_user: 'conversation_owned_by_other_user',
  agent_owned_by_other_user: 'agent_owned_by_other_user',
  invalid_json: 'content is not valid JSON',
};

/** sfc32: small, fast, good enough statistical quality, fully determined by the seed (tests use it). */
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

/** The words legacy.sql picks from (passed as one jsonb parameter). */
export const vocabulary = {
  user_lines: [
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
  ],
  assistant_lines: [
    'Here is a short summary of the main points.',
    'Sure — I looked it up for you.',
    'The planner prefers a sequential scan because the predicate is not selective.',
    'I drafted a reply; feel free to adjust the tone.',
    'Let me check that with the calendar tool.',
    'There are three differences worth noting.',
    'Done. Anything else?',
    'I could not find that, could you rephrase?',
  ],
  system_lines: ['You are a helpful assistant.', 'You are a terse coding assistant. Answer in Markdown.', 'Always cite your sources.'],
  unicode_lines: [
    'Emoji test 😀🚀👩‍👩‍👧‍👦 and flags 🇵🇹🇯🇵',
    'مرحبا بالعالم — نص من اليمين إلى اليسار',
    'שלום עולם, זה טקסט בעברית',
    'Ünïcödé çömbïnïng: é (e\u0301) ñ (n\u0303) 𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
    '日本語のテキストと中文文本 및 한국어',
    'zero\u200bwidth\u200djoiners and \u2028line separators',
  ],
  tool_names: ['web_search', 'get_weather', 'run_sql', 'send_email', 'calendar.create_event', 'read_file'],
  models: ['gpt-4o', 'gpt-4o-mini', 'claude-3-5-sonnet', 'llama-3.1-70b'],
  agent_names: ['Research assistant', 'Support bot', 'SQL helper', 'Travel planner', 'Écrivain ✍️'],
  cities: ['Lisbon', 'Tokyo', 'Cairo', 'Québec'],
  clients: ['web', 'ios', 'android'],
  locales: ['en-US', 'pt-PT', 'ar-EG'],
  mime_types: [
    ['image', 'image/png', 'png'],
    ['image', 'image/jpeg', 'jpg'],
    ['file', 'application/pdf', 'pdf'],
    ['file', 'text/csv', 'csv'],
    ['audio', 'audio/mpeg', 'mp3'],
  ],
  role_aliases: ['human', 'ai', 'bot', 'function'],
  unknown_roles: ['moderator', 'narrator', 'observer', 'developer_note'],
  plain_args: ['city=Paris&units=metric', 'ls -la /tmp', 'SELECT 1; -- not json', '{broken json'],
  junk_elements: ['photo.png', 42, null, ['nested']],
};
