/**
 * /functions/v1/messages — structured chat messages (chat_messages_v2) with idempotent retries, keyset
 * pagination, versioned edits and soft deletes. Thin: authenticate, validate against the contract
 * (_shared/contract-messages.ts), call the SQL API (public.post_chat_message, the view
 * public.chat_messages_expanded), shape the answer. RLS decides what the caller sees.
 */
import { authenticate, requireUserOrService, type Caller } from '../_shared/auth.ts';
import { api } from '../_shared/contract.ts';
import { asCaller, asReader } from '../_shared/db.ts';
import { body, HttpError, handler, json, notFound, on } from '../_shared/http.ts';
import { decodeCursor, encodeCursor, pathId, query } from '../_shared/validate.ts';

const toContent = (c: string | object) => (typeof c === 'string' ? { type: 'text', text: c } : c);
const jsonb = (v: unknown) => (v === undefined ? null : JSON.stringify(v));

async function create(req: Request, caller: Caller): Promise<Response> {
  const b = await body(req, api.sendMessage);
  if (b.user_id && caller.role !== 'service_role') {
    throw new HttpError(403, 'forbidden', 'Only the service role may write messages for another user; leave out user_id.');
  }
  return await asCaller(caller, async (tx) => {
    const [r] = await tx.unsafe(
      `select p.message, p.created from public.post_chat_message(
         p_role => $1, p_content => $2::text::jsonb, p_conversation_id => $3, p_client_message_id => $4,
         p_parent_message_id => $5, p_agent_id => $6, p_metadata => $7::text::jsonb, p_attachments => $8::text::jsonb,
         p_tool_calls => $9::text::jsonb, p_title => $10, p_user_id => $11) p`,
      [
        b.role,
        jsonb(toContent(b.content)),
        b.conversation_id ?? null,
        b.client_message_id ?? null,
        b.parent_message_id ?? null,
        b.agent_id ?? null,
        jsonb(b.metadata ?? {}),
        jsonb(b.attachments ?? []),
        jsonb(b.tool_calls ?? []),
        b.title ?? null,
        b.user_id ?? null,
      ],
    );
    return json(r!.created ? 201 : 200, { message: r!.message });
  });
}

async function list(req: Request, url: URL, caller: Caller): Promise<Response> {
  const q = query(url, api.listMessages);
  const limit = q.limit ?? 50;
  const cursor = q.before !== undefined ? decodeCursor(q.before) : null;
  return await asReader(req, caller, async (tx) => {
    const [conv] = await tx`select id from public.conversation_sessions where id = ${q.conversation_id}`;
    if (!conv) throw notFound('Conversation');
    const rows = await tx.unsafe(
      `select e.message from public.chat_messages_expanded e
        where e.conversation_id = $1 and e.deleted_at is null
          and ($2::text::timestamptz is null or (e.created_at, e.id) < ($2::text::timestamptz, $3::uuid))
        order by e.created_at desc, e.id desc
        limit $4`,
      [q.conversation_id, cursor?.at ?? null, cursor?.id ?? null, limit + 1],
    );
    const page = rows.slice(0, limit).map((r) => r.message as { id: string; created_at: string });
    const last = page[page.length - 1];
    // created_at is Postgres' own text of the timestamp (microseconds kept): the cursor round-trips exactly.
    return json(200, { messages: page, next_cursor: rows.length > limit && last ? encodeCursor({ at: last.created_at, id: last.id }) : null });
  });
}

async function edit(req: Request, id: string, caller: Caller): Promise<Response> {
  const b = await body(req, api.editMessage);
  return await asCaller(caller, async (tx) => {
    const updated = await tx`
      update public.chat_messages_v2
         set content = ${jsonb(toContent(b.content))}::text::jsonb,
             metadata = case when ${b.metadata === undefined} then metadata else metadata || ${jsonb(b.metadata ?? {})}::text::jsonb end
       where id = ${id} and deleted_at is null
      returning id`;
    if (!updated.length) throw notFound('Message');
    const [row] = await tx`select e.message from public.chat_messages_expanded e where e.id = ${id}`;
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
    on(api.sendMessage, ({ req }, c) => create(req, c)),
    on(api.listMessages, ({ req, url }, c) => list(req, url, c)),
    on(api.editMessage, ({ req, params }, c) => edit(req, pathId(params), c)),
    on(api.deleteMessage, ({ params }, c) => remove(pathId(params), c)),
  ]),
);
