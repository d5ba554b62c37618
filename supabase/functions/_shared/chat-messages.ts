/**
 * The shapes of the two chat-client message formats, checked by hand so the first problem comes back with its
 * exact path (`messages.3.parts.1.toolCallId: must be a string`) and nothing is copied or stripped: a message
 * that passes is stored as sent, every field included.
 *
 *  - AI SDK UIMessage (the `ai` package, major 7 — never imported here: the edge functions carry their own rules).
 *    The rules of `validateUIMessages` for the part types it knows (text, reasoning, custom, source-url,
 *    source-document, file, reasoning-file, steering-message, step-start, data-*, tool-*, dynamic-tool with their
 *    states and approvals), permissive where the SDK's next minor may go further: a part type it does not know yet
 *    needs only a non-empty string `type`, a tool state it does not know yet only a string, and unknown fields are
 *    kept (the SDK's own validator strips them).
 *  - OpenAI chat-completions messages (ChatCompletionMessageParam, and the assistant ChatCompletionMessage a
 *    response holds): roles system, developer, user, assistant, tool, function; content a string, null or an array
 *    of parts; tool_calls with string ids and function.arguments as a string (kept byte for byte).
 *
 * zod-free and Deno-free: the contract wraps these (contract-chats.ts), the SQL API checks the storage-relevant
 * subset again (chat_formats.check_chat_messages) for psql callers.
 */

export interface Problem {
  path: Array<string | number>;
  message: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const has = (o: Obj, k: string) => Object.prototype.hasOwnProperty.call(o, k) && o[k] !== undefined;

/** Rules for one object: each returns a problem (relative path + message) or null. */
type Rule = (o: Obj) => Problem | null;

const str = (k: string, opts: { optional?: boolean; nonEmpty?: boolean } = {}): Rule => (o) => {
  if (!has(o, k)) return opts.optional ? null : { path: [k], message: 'is required (a string)' };
  if (typeof o[k] !== 'string') return { path: [k], message: 'must be a string' };
  if (opts.nonEmpty && o[k] === '') return { path: [k], message: 'must not be empty' };
  return null;
};
const bool = (k: string): Rule => (o) => (has(o, k) && typeof o[k] !== 'boolean' ? { path: [k], message: 'must be a boolean' } : null);
const oneOf = (k: string, values: readonly string[], optional = true): Rule => (o) => {
  if (!has(o, k)) return optional ? null : { path: [k], message: `is required: one of ${values.join(', ')}` };
  return values.includes(o[k] as string) ? null : { path: [k], message: `must be one of ${values.join(', ')}` };
};
const object = (k: string, optional = true): Rule => (o) => {
  if (!has(o, k)) return optional ? null : { path: [k], message: 'is required (an object)' };
  return isObj(o[k]) ? null : { path: [k], message: 'must be an object' };
};
/** providerMetadata and its kin: an object of objects. */
const metadataRecord = (k: string): Rule => (o) => {
  if (!has(o, k)) return null;
  const v = o[k];
  if (!isObj(v)) return { path: [k], message: 'must be an object (provider name → object)' };
  for (const [p, inner] of Object.entries(v)) if (!isObj(inner)) return { path: [k, p], message: 'must be an object' };
  return null;
};
const stringRecord = (k: string): Rule => (o) => {
  if (!has(o, k)) return null;
  const v = o[k];
  if (!isObj(v)) return { path: [k], message: 'must be an object (provider name → file id)' };
  for (const [p, inner] of Object.entries(v)) if (typeof inner !== 'string') return { path: [k, p], message: 'must be a string' };
  return null;
};
const absent = (k: string, why: string): Rule => (o) => (has(o, k) ? { path: [k], message: why } : null);
const required = (k: string, what: string): Rule => (o) => (Object.prototype.hasOwnProperty.call(o, k) ? null : { path: [k], message: `is required (${what})` });

function firstProblem(o: Obj, rules: Rule[]): Problem | null {
  for (const r of rules) {
    const p = r(o);
    if (p) return p;
  }
  return null;
}

const within = (prefix: Array<string | number>, p: Problem | null): Problem | null => (p ? { path: [...prefix, ...p.path], message: p.message } : null);

function arrayOf(o: Obj, k: string, check: (v: unknown) => Problem | null, optional = true): Problem | null {
  if (!has(o, k)) return optional ? null : { path: [k], message: 'is required (an array)' };
  const v = o[k];
  if (!Array.isArray(v)) return { path: [k], message: 'must be an array' };
  for (let i = 0; i < v.length; i++) {
    const p = within([k, i], check(v[i]));
    if (p) return p;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------------
// AI SDK UIMessage
// ---------------------------------------------------------------------------------------------------------

export const UI_ROLES = ['system', 'user', 'assistant'] as const;
export const TOOL_STATES = ['input-streaming', 'input-available', 'approval-requested', 'approval-responded', 'output-available', 'output-error', 'output-denied'] as const;

const citation = (v: unknown): Problem | null => {
  if (!isObj(v)) return { path: [], message: 'must be an object' };
  if (!isObj(v.source)) return { path: ['source'], message: 'must be an object' };
  return within(['source'], firstProblem(v.source, [oneOf('sourceType', ['url', 'document'], false), str('id')]));
};

const filePart: Rule[] = [str('mediaType'), str('url'), str('filename', { optional: true }), stringRecord('providerReference'), metadataRecord('providerMetadata')];

const KNOWN_PARTS: Record<string, Rule[]> = {
  text: [str('text'), oneOf('state', ['streaming', 'done']), metadataRecord('providerMetadata'), (o) => arrayOf(o, 'citations', citation)],
  reasoning: [str('text'), str('id', { optional: true }), oneOf('state', ['streaming', 'done']), metadataRecord('providerMetadata')],
  custom: [str('kind'), metadataRecord('providerMetadata')],
  'source-url': [str('sourceId'), str('url'), str('title', { optional: true }), metadataRecord('providerMetadata')],
  'source-document': [str('sourceId'), str('mediaType'), str('title'), str('filename', { optional: true }), metadataRecord('providerMetadata')],
  file: filePart,
  'reasoning-file': [str('mediaType'), str('url'), metadataRecord('providerMetadata')],
  'steering-message': [
    str('id'),
    (o) =>
      arrayOf(o, 'parts', (p) => {
        if (!isObj(p)) return { path: [], message: 'must be an object' };
        if (p.type === 'text') return firstProblem(p, [str('text'), metadataRecord('providerMetadata')]);
        if (p.type === 'file') return firstProblem(p, filePart);
        return { path: ['type'], message: 'must be text or file' };
      }, false),
  ],
  'step-start': [],
};

const approval = (state: string): Rule => (o) => {
  const needed = state === 'approval-requested' || state === 'approval-responded' || state === 'output-denied';
  if (!has(o, 'approval')) return needed ? { path: ['approval'], message: `is required in state ${state} (an object with a string id)` } : null;
  if (!needed && state !== 'output-available' && state !== 'output-error') {
    return { path: ['approval'], message: `is not allowed in state ${state}` };
  }
  const a = o.approval;
  if (!isObj(a)) return { path: ['approval'], message: 'must be an object' };
  const rules: Rule[] = [str('id'), str('requestReason', { optional: true }), bool('isAutomatic'), str('signature', { optional: true })];
  if (state === 'approval-requested') rules.push(absent('approved', 'is not allowed before the approval is answered'), absent('reason', 'is not allowed before the approval is answered'));
  else {
    rules.push(str('reason', { optional: true }));
    if (state === 'approval-responded') rules.push((x) => (typeof x.approved === 'boolean' ? null : { path: ['approved'], message: 'must be a boolean' }));
    if (state === 'output-denied') rules.push((x) => (x.approved === false ? null : { path: ['approved'], message: 'must be false in state output-denied' }));
    if (state === 'output-available' || state === 'output-error') rules.push((x) => (x.approved === true ? null : { path: ['approved'], message: `must be true in state ${state}` }));
  }
  return within(['approval'], firstProblem(a, rules));
};

function toolPart(o: Obj, dynamic: boolean): Problem | null {
  const common: Rule[] = [
    str('toolCallId'),
    ...(dynamic ? [str('toolName'), (x: Obj) => (has(x, 'dynamic') && x.dynamic !== false ? { path: ['dynamic'], message: 'must be false when given' } : null)] : []),
    str('title', { optional: true }),
    object('toolMetadata'),
    bool('providerExecuted'),
    metadataRecord('callProviderMetadata'),
    str('state', { nonEmpty: true }),
  ];
  const p = firstProblem(o, common);
  if (p) return p;
  const state = o.state as string;
  // A state this version of the SDK does not know yet is kept as it is.
  if (!(TOOL_STATES as readonly string[]).includes(state)) return null;
  const rules: Rule[] = [approval(state)];
  if (state !== 'output-available' && state !== 'output-error') rules.push(absent('resultProviderMetadata', `is not allowed in state ${state}`));
  else rules.push(metadataRecord('resultProviderMetadata'));
  if (state !== 'output-available') rules.push(absent('output', `is not allowed in state ${state}`), absent('preliminary', `is only allowed in state output-available`));
  if (state !== 'output-error') rules.push(absent('errorText', `is not allowed in state ${state}`));
  if (state === 'input-streaming') rules.push(str('rawInput', { optional: true }), oneOf('inputEncoding', ['json', 'text']));
  else if (state !== 'output-error') rules.push(absent('rawInput', `is only allowed in states input-streaming and output-error`), absent('inputEncoding', 'is only allowed in state input-streaming'));
  if (state === 'output-available') rules.push(required('output', 'any JSON value'), required('input', 'any JSON value'), bool('preliminary'));
  if (state === 'output-error') rules.push(str('errorText'));
  if (state === 'input-available' || state === 'approval-requested' || state === 'approval-responded' || state === 'output-denied') {
    rules.push(required('input', 'any JSON value'));
  }
  return firstProblem(o, rules);
}

/** The first problem of one UIMessage part, or null. */
export function uiPartProblem(part: unknown): Problem | null {
  if (!isObj(part)) return { path: [], message: 'must be an object with a string type' };
  if (typeof part.type !== 'string' || part.type === '') return { path: ['type'], message: 'must be a non-empty string' };
  const type = part.type;
  if (type.startsWith('data-')) return firstProblem(part, [str('id', { optional: true }), required('data', 'any JSON value')]);
  if (type.startsWith('tool-')) return toolPart(part, false);
  if (type === 'dynamic-tool') return toolPart(part, true);
  const rules = KNOWN_PARTS[type];
  // A part type the SDK does not have yet: kept as sent.
  return rules ? firstProblem(part, rules) : null;
}

/** The first problem of one UIMessage, or null. */
export function uiMessageProblem(m: unknown): Problem | null {
  if (!isObj(m)) return { path: [], message: 'must be a UIMessage object: {id, role, parts}' };
  const p = firstProblem(m, [
    str('id', { nonEmpty: true }),
    (o) => ((o.id as string).length > 200 ? { path: ['id'], message: 'must be at most 200 characters' } : null),
    oneOf('role', UI_ROLES, false),
    (o) => (Array.isArray(o.parts) ? null : { path: ['parts'], message: 'must be an array of parts' }),
    (o) => (o.role !== 'assistant' && (o.parts as unknown[]).length === 0 ? { path: ['parts'], message: `a ${o.role} message needs at least one part` } : null),
  ]);
  if (p) return p;
  const parts = m.parts as unknown[];
  for (let i = 0; i < parts.length; i++) {
    const q = within(['parts', i], uiPartProblem(parts[i]));
    if (q) return q;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------------
// OpenAI chat completions
// ---------------------------------------------------------------------------------------------------------

export const OPENAI_ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'] as const;

function openaiContentPart(v: unknown): Problem | null {
  if (!isObj(v)) return { path: [], message: 'must be an object with a string type' };
  if (typeof v.type !== 'string' || v.type === '') return { path: ['type'], message: 'must be a non-empty string' };
  switch (v.type) {
    case 'text':
      return firstProblem(v, [str('text')]);
    case 'refusal':
      return firstProblem(v, [str('refusal')]);
    case 'image_url':
      return firstProblem(v, [object('image_url', false), (o) => within(['image_url'], firstProblem(o.image_url as Obj, [str('url')]))]);
    case 'input_audio':
      return firstProblem(v, [object('input_audio', false), (o) => within(['input_audio'], firstProblem(o.input_audio as Obj, [str('data'), str('format')]))]);
    case 'file':
      return firstProblem(v, [
        object('file', false),
        (o) => within(['file'], firstProblem(o.file as Obj, [str('file_data', { optional: true }), str('file_id', { optional: true }), str('filename', { optional: true })])),
      ]);
    case 'openai.tool_call':
      return { path: ['type'], message: 'openai.tool_call is reserved for tool calls; send them in tool_calls' };
    default:
      return null; // a content part type OpenAI adds later: kept as sent
  }
}

function openaiToolCall(v: unknown): Problem | null {
  if (!isObj(v)) return { path: [], message: 'must be an object {id, type, function}' };
  const p = firstProblem(v, [str('id'), str('type', { optional: true })]);
  if (p) return p;
  if (v.type === 'function' || v.type === undefined) {
    return firstProblem(v, [object('function', false), (o) => within(['function'], firstProblem(o.function as Obj, [str('name'), str('arguments')]))]);
  }
  if (v.type === 'custom') {
    return firstProblem(v, [object('custom', false), (o) => within(['custom'], firstProblem(o.custom as Obj, [str('name'), str('input')]))]);
  }
  return null;
}

/** The first problem of one OpenAI chat-completions message, or null. */
export function openaiMessageProblem(m: unknown): Problem | null {
  if (!isObj(m)) return { path: [], message: 'must be a chat-completions message object: {role, content, …}' };
  const p = firstProblem(m, [oneOf('role', OPENAI_ROLES, false), str('name', { optional: true })]);
  if (p) return p;
  const role = m.role as string;
  const contentNeeded = role !== 'assistant' && role !== 'function';
  if (!Object.prototype.hasOwnProperty.call(m, 'content') && contentNeeded) return { path: ['content'], message: `is required for a ${role} message (a string or an array of parts)` };
  const c = m.content;
  if (c !== undefined && c !== null && typeof c !== 'string' && !Array.isArray(c)) return { path: ['content'], message: 'must be a string, an array of content parts or null' };
  if (c === null && contentNeeded) return { path: ['content'], message: `must be a string or an array of parts for a ${role} message` };
  if (Array.isArray(c)) {
    for (let i = 0; i < c.length; i++) {
      const q = within(['content', i], openaiContentPart(c[i]));
      if (q) return q;
    }
  }
  if (has(m, 'tool_calls') && m.tool_calls !== null) {
    if (role !== 'assistant') return { path: ['tool_calls'], message: 'only an assistant message has tool calls' };
    const q = arrayOf(m, 'tool_calls', openaiToolCall);
    if (q) return q;
  }
  if (role === 'tool') return firstProblem(m, [str('tool_call_id')]);
  if (has(m, 'refusal') && m.refusal !== null && typeof m.refusal !== 'string') return { path: ['refusal'], message: 'must be a string or null' };
  return null;
}

/** The first problem of a message list (`messages.3.parts.1.type`), duplicate UIMessage ids included. */
export function listProblem(messages: unknown[], check: (m: unknown) => Problem | null, uniqueIds: boolean): Problem | null {
  const seen = new Map<string, number>();
  for (let i = 0; i < messages.length; i++) {
    const p = check(messages[i]);
    if (p) return { path: [i, ...p.path], message: p.message };
    if (uniqueIds) {
      const id = (messages[i] as { id: string }).id;
      const first = seen.get(id);
      if (first !== undefined) return { path: [i, 'id'], message: `is the id of message ${first} too; message ids must be unique` };
      seen.set(id, i);
    }
  }
  return null;
}
