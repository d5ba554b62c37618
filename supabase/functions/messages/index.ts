/**
 * /functions/v1/messages — structured chat messages (chat_messages_v2) with idempotent retries,
 * keyset pagination, versioned edits and soft deletes. RLS decides what the caller sees.
 */
import { z } from 'zod';
import { authenticate, requireUserOrService, type Caller } from '../_shared/auth.ts';
import { asCaller, asReader, type Tx } from '../_shared/db.ts';
import { HttpError, handler, json, notFound, readJson } from '../_shared/http.ts';
import { messageJson } from '../_shared/rows.ts';
import { decodeCursor, encodeCursor, jsonObject, limitParam, parseQuery, pathId, uuid } from '../_shared/validate.ts';

const textContent = z.object({ type: z.literal('text'), text: z.string() }).strict();
/** A part: an object with a string `type`, kept by reference (every other key, `__proto__` too, is stored as sent). */
const part = z.custom<{ type: string } & Record<string, unknown>>(
  (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as { type?: unknown }).type === 'string',
  'must be an object with a string `type`',
);
const partsContent = z
  .object({ type: z.literal('parts'), parts: z.array(part).min(1).max(1000) })
  .strict();
const content = z.union([z.string(), textContent, partsContent]);

const attachment = z
  .object({
    name: z.string().min(1).max(1000),
    storage_path: z.string().min(1).max(2000),
    type: z.string().max(200).nullish(),
    mime_type: z.string().max(200).nullish(),
    size_bytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullish(),
    metadata: jsonObject.optional(),
  })
  .strict();

const toolCall = z
  .object({
    tool_call_id: z.string().min(1).max(500),
    tool_name: z.string().min(1).max(500),
    args: z.unknown().optional(),
    result: z.unknown().optional(),
    text_position: z.number().int().min(0).max(2_147_483_647).nullish(),
    is_partial: z.boolean().optional(),
  })
  .strict();

const createBody = z
  .object({
    conversation_id: uuid.optional(),
    role: z.enum(['user', 'assistant', 'system', 'tool']),
    content,
    client_message_id: z.string().min(1).max(200).optional(),
    parent_message_id: uuid.nullish(),
    agent_id: uuid.nullish(),
    metadata: jsonObject.optional(),
    attachments: z.array(attachment).max(100).optional(),
    tool_calls: z.array(toolCall).max(100).optional(),
    /** Title of a conversation this message starts (ignored for an existing one). */
    title: z.string().max(500).optional(),
    /** service_role only: the user the message belongs to (users always write as themselves). */
    user_id: uuid.optional(),
  })
  .strict();

const editBody = z.object({ content, metadata: jsonObject.optional() }).strict();

const listQuery = z
  .object({ conversation_id: uuid, limit: limitParam.optional(), before: z.string().optional() })
  .strict();

const toContent = (c: z.infer<typeof content>) => (typeof c === 'string' ? { type: 'text', text: c } : c);

async function findByClientId(tx: Tx, conversationId: string, clientMessageId: string) {
  const rows = await tx.unsafe(
    `select ${messageJson} as message from public.chat_messages_v2 m
      where m.conversation_id = $1 and m.client_message_id = $2`,
    [conversationId, clientMessageId],
  );
  return rows[0]?.message ?? null;
}

async function create(req: Request, caller: Caller): Promise<Response> {
  const b = createBody.parse(await readJson(req));
  if (b.user_id && caller.role !== 'service_role') {
    throw new HttpError(403, 'forbidden', 'Only the service role may write messages for another user; leave out user_id.');
  }
  return await asCaller(caller, async (tx) => {
    if (b.agent_id) {
      const [agent] = await tx`select id from public.agents where id = ${b.agent_id}`;
      if (!agent) throw notFound('Agent');
    }
    let conversationId = b.conversation_id?.toLowerCase();
    let owner = caller.userId;
    if (conversationId) {
      // A retry of a message that already landed: hand back the same message.
      if (b.client_message_id) {
        const existing = await findByClientId(tx, conversationId, b.client_message_id);
        if (existing) return json(200, { message: existing });
      }
      const [conv] = await tx`select id, user_id from public.conversation_sessions where id = ${conversationId}`;
      if (conv) owner = conv.user_id;
      else {
        owner = caller.userId ?? b.user_id ?? null;
        if (!owner) throw new HttpError(422, 'user_required', 'Starting a conversation as the service role needs user_id.');
        // Unknown id: start the conversation under that id. An id taken by someone else inserts nothing
        // (ON CONFLICT is not filtered by RLS) and answers 404 like any conversation you cannot see.
        const inserted = await tx`
          insert into public.conversation_sessions (id, user_id, agent_id, title)
          values (${conversationId}, ${owner}, ${b.agent_id ?? null}, ${b.title ?? null})
          on conflict (id) do nothing returning id`;
        if (!inserted.length) throw notFound('Conversation');
      }
    } else {
      owner = caller.userId ?? b.user_id ?? null;
      if (!owner) throw new HttpError(422, 'user_required', 'Starting a conversation as the service role needs user_id.');
      const [conv] = await tx`
        insert into public.conversation_sessions (user_id, agent_id, title)
        values (${owner}, ${b.agent_id ?? null}, ${b.title ?? null}) returning id`;
      conversationId = conv!.id as string;
    }
    if (b.parent_message_id) {
      const [p] = await tx`select conversation_id from public.chat_messages_v2 where id = ${b.parent_message_id}`;
      if (!p) throw notFound('Parent message');
    }
    const inserted = await tx`
      insert into public.chat_messages_v2
        (conversation_id, user_id, agent_id, role, content, parent_message_id, metadata, client_message_id)
      values (${conversationId}, ${owner}, ${b.agent_id ?? null}, ${b.role}, ${JSON.stringify(toContent(b.content))}::text::jsonb,
              ${b.parent_message_id ?? null}, ${JSON.stringify(b.metadata ?? {})}::text::jsonb, ${b.client_message_id ?? null})
      on conflict (conversation_id, client_message_id) do nothing
      returning id`;
    if (!inserted.length) {
      // Lost a race with a concurrent retry carrying the same client_message_id.
      const existing = await findByClientId(tx, conversationId, b.client_message_id!);
      if (existing) return json(200, { message: existing });
      throw new HttpError(409, 'conflict', 'A message with this client_message_id is being written; retry.');
    }
    const id = inserted[0]!.id as string;
    for (const [i, a] of (b.attachments ?? []).entries()) {
      await tx`
        insert into public.chat_message_attachments (message_id, position, type, name, storage_path, mime_type, size_bytes, metadata)
        values (${id}, ${i}, ${a.type ?? null}, ${a.name}, ${a.storage_path}, ${a.mime_type ?? null},
                ${a.size_bytes ?? null}, ${JSON.stringify(a.metadata ?? {})}::text::jsonb)`;
    }
    for (const [i, t] of (b.tool_calls ?? []).entries()) {
      await tx`
        insert into public.chat_tool_calls (message_id, position, tool_call_id, tool_name, args, result, text_position, is_partial)
        values (${id}, ${i}, ${t.tool_call_id}, ${t.tool_name},
                ${t.args === undefined ? null : JSON.stringify(t.args)}::text::jsonb,
                ${t.result === undefined ? null : JSON.stringify(t.result)}::text::jsonb,
                ${t.text_position ?? null}, ${t.is_partial ?? false})`;
    }
    const [row] = await tx.unsafe(`select ${messageJson} as message from public.chat_messages_v2 m where m.id = $1`, [id]);
    return json(201, { message: row!.message });
  });
}

async function list(req: Request, url: URL, caller: Caller): Promise<Response> {
  const q = parseQuery(url, listQuery);
  const limit = q.limit ?? 50;
  const cursor = q.before !== undefined ? decodeCursor(q.before) : null;
  return await asReader(req, caller, async (tx) => {
    const [conv] = await tx`select id from public.conversation_sessions where id = ${q.conversation_id}`;
    if (!conv) throw notFound('Conversation');
    const rows = await tx.unsafe(
      `select ${messageJson} as message, to_jsonb(m.created_at) #>> '{}' as at
         from public.chat_messages_v2 m
        where m.conversation_id = $1 and m.deleted_at is null
          and ($2::text::timestamptz is null or (m.created_at, m.id) < ($2::text::timestamptz, $3::uuid))
        order by m.created_at desc, m.id desc
        limit $4`,
      [q.conversation_id, cursor?.at ?? null, cursor?.id ?? null, limit + 1],
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return json(200, {
      messages: page.map((r) => r.message),
      next_cursor: rows.length > limit && last ? encodeCursor({ at: last.at as string, id: last.message.id }) : null,
    });
  });
}

async function edit(req: Request, id: string, caller: Caller): Promise<Response> {
  const b = editBody.parse(await readJson(req));
  return await asCaller(caller, async (tx) => {
    const updated = await tx`
      update public.chat_messages_v2
         set content = ${JSON.stringify(toContent(b.content))}::text::jsonb,
             metadata = case when ${b.metadata === undefined} then metadata else metadata || ${JSON.stringify(b.metadata ?? {})}::text::jsonb end
       where id = ${id} and deleted_at is null
      returning id`;
    if (!updated.length) throw notFound('Message');
    const [row] = await tx.unsafe(`select ${messageJson} as message from public.chat_messages_v2 m where m.id = $1`, [id]);
    return json(200, { message: row!.message });
  });
}

async function remove(id: string, caller: Caller): Promise<Response> {
  return await asCaller(caller, async (tx) => {
    const [m] = await tx`select id, deleted_at from public.chat_messages_v2 where id = ${id}`;
    if (!m) throw notFound('Message');
    if (!m.deleted_at) await tx`update public.chat_messages_v2 set deleted_at = now() where id = ${id}`;
    return json(204, null);
  });
}

const auth = async (req: Request) => requireUserOrService(await authenticate(req));

Deno.serve(
  handler('messages', auth, [
    { method: 'POST', path: '/', handler: ({ req }, c) => create(req, c) },
    { method: 'GET', path: '/', handler: ({ req, url }, c) => list(req, url, c) },
    { method: 'PATCH', path: '/:id', handler: ({ req, params }, c) => edit(req, pathId(params), c) },
    { method: 'DELETE', path: '/:id', handler: ({ params }, c) => remove(pathId(params), c) },
  ]),
);
