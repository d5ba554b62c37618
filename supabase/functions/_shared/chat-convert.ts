/**
 * Converting a stored chat between the two client formats, for GET /chats/:id when the chat (or part of it) was
 * saved in the other one. A message is returned exactly as sent when it was saved in the format asked for; the
 * conversions below are for the rest, and lose what the other format cannot express (the table in
 * docs/chat-clients.md). zod-free and Deno-free.
 *
 *  - UIMessage → OpenAI: system → system (text parts joined); user → user with content parts (text, image files as
 *    image_url, other files as file); assistant → assistant with the text joined and its tool parts as tool_calls
 *    (arguments = JSON of the input), followed by one tool message per tool part with an output or an error.
 *    reasoning, sources, data-*, step-start and parts of unknown types have no OpenAI form and are left out.
 *  - OpenAI → UIMessage: system / developer → system; user → user (text, image_url → file, file → file);
 *    assistant → assistant with a text part and a tool-<name> part per tool call (input = the arguments parsed,
 *    state input-available, or output-available / output-error once a tool message answers it); tool messages
 *    fold into the tool part they answer. Ids: the stored message id (openai:<n>).
 */

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A stored message as load_chat gives it: how it was saved (ui | openai | native) and the message itself. */
export interface StoredMessage {
  format: 'ui' | 'openai' | 'native';
  client_message_id: string | null;
  message: Obj;
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

const textOf = (parts: unknown[]): string =>
  parts.filter((p): p is Obj => isObj(p) && p.type === 'text' && typeof p.text === 'string').map((p) => p.text as string).join('');

/** One UIMessage as OpenAI chat-completions messages (an assistant message may bring tool messages with it). */
export function uiToOpenAI(m: Obj): Obj[] {
  const parts = Array.isArray(m.parts) ? (m.parts as unknown[]) : [];
  if (m.role === 'system') return [{ role: 'system', content: textOf(parts) }];
  if (m.role === 'user') {
    const content: Obj[] = [];
    for (const p of parts) {
      if (!isObj(p)) continue;
      if (p.type === 'text') content.push({ type: 'text', text: p.text });
      else if (p.type === 'file' && typeof p.mediaType === 'string' && p.mediaType.startsWith('image/')) content.push({ type: 'image_url', image_url: { url: p.url } });
      else if (p.type === 'file') content.push({ type: 'file', file: { file_data: p.url, ...(typeof p.filename === 'string' ? { filename: p.filename } : {}) } });
    }
    return [{ role: 'user', content }];
  }
  const calls: Obj[] = [];
  const answers: Obj[] = [];
  for (const p of parts) {
    if (!isObj(p) || typeof p.type !== 'string' || typeof p.toolCallId !== 'string') continue;
    if (!p.type.startsWith('tool-') && p.type !== 'dynamic-tool') continue;
    const name = p.type === 'dynamic-tool' ? String(p.toolName) : p.type.slice(5);
    calls.push({ id: p.toolCallId, type: 'function', function: { name, arguments: JSON.stringify(p.input ?? {}) } });
    if (p.state === 'output-available') answers.push({ role: 'tool', tool_call_id: p.toolCallId, content: typeof p.output === 'string' ? p.output : JSON.stringify(p.output) });
    if (p.state === 'output-error') answers.push({ role: 'tool', tool_call_id: p.toolCallId, content: String(p.errorText) });
  }
  const text = textOf(parts);
  return [{ role: 'assistant', content: text === '' && calls.length ? null : text, ...(calls.length ? { tool_calls: calls } : {}) }, ...answers];
}

function openaiUserParts(content: unknown): Obj[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (!Array.isArray(content)) return [];
  const parts: Obj[] = [];
  for (const c of content) {
    if (!isObj(c)) continue;
    if (c.type === 'text') parts.push({ type: 'text', text: c.text });
    else if (c.type === 'image_url' && isObj(c.image_url)) {
      const url = String(c.image_url.url);
      parts.push({ type: 'file', mediaType: /^data:([^;,]+)/.exec(url)?.[1] ?? 'image/*', url });
    } else if (c.type === 'file' && isObj(c.file) && typeof c.file.file_data === 'string') {
      const url = c.file.file_data;
      parts.push({ type: 'file', mediaType: /^data:([^;,]+)/.exec(url)?.[1] ?? 'application/octet-stream', url, ...(typeof c.file.filename === 'string' ? { filename: c.file.filename } : {}) });
    } else if (c.type === 'input_audio' && isObj(c.input_audio)) {
      const format = String(c.input_audio.format);
      parts.push({ type: 'file', mediaType: `audio/${format}`, url: `data:audio/${format};base64,${String(c.input_audio.data)}` });
    }
  }
  return parts;
}

/** A chat's stored messages in the format asked for: each one as sent where the formats agree, else converted. */
export function convertChat(rows: StoredMessage[], to: 'ui' | 'openai'): Obj[] {
  if (to === 'openai') return rows.flatMap((r) => (r.format === 'openai' ? [r.message] : uiToOpenAI(r.message)));
  const out: Obj[] = [];
  const toolParts = new Map<string, Obj>();
  for (const r of rows) {
    if (r.format !== 'openai') {
      out.push(r.message);
      continue;
    }
    const m = r.message;
    const id = r.client_message_id ?? `openai:${out.length}`;
    if (m.role === 'tool' || m.role === 'function') {
      const part = toolParts.get(String(m.tool_call_id ?? m.name));
      if (part) {
        const text = typeof m.content === 'string' ? m.content : textOf(Array.isArray(m.content) ? m.content : []);
        Object.assign(part, { state: 'output-available', output: parseJson(text) });
      }
      continue;
    }
    if (m.role === 'system' || m.role === 'developer') {
      out.push({ id, role: 'system', parts: [{ type: 'text', text: typeof m.content === 'string' ? m.content : textOf(Array.isArray(m.content) ? m.content : []) }] });
    } else if (m.role === 'user') {
      out.push({ id, role: 'user', parts: openaiUserParts(m.content) });
    } else {
      const parts: Obj[] = [];
      const text = typeof m.content === 'string' ? m.content : textOf(Array.isArray(m.content) ? m.content : []);
      if (text !== '') parts.push({ type: 'text', text, state: 'done' });
      for (const tc of Array.isArray(m.tool_calls) ? m.tool_calls : []) {
        if (!isObj(tc) || typeof tc.id !== 'string') continue;
        const fn = isObj(tc.function) ? tc.function : isObj(tc.custom) ? { name: tc.custom.name, arguments: tc.custom.input } : {};
        const part: Obj = { type: `tool-${String(fn.name ?? 'unknown')}`, toolCallId: tc.id, state: 'input-available', input: parseJson(String(fn.arguments ?? '{}')) };
        toolParts.set(tc.id, part);
        parts.push(part);
      }
      out.push({ id, role: 'assistant', parts });
    }
  }
  return out;
}
