/**
 * /functions/v1/chats — what chat clients send, stored losslessly: AI SDK UIMessage chats (PUT / GET /chats/:id,
 * POST /chats/:id/messages) and OpenAI chat-completions transcripts (PUT with format openai, GET ?format=openai,
 * POST /chats/:id/turns). Thin: authenticate, validate against the contract (_shared/contract-chats.ts: the
 * first problem of a message comes back as a 422 naming its index and path), call the SQL API (public.save_chat,
 * append_chat_message, record_chat_turn, load_chat), shape the answer. RLS decides what the caller sees: another
 * user's chat is not found (404).
 */
import { authenticate, requireUserOrService, type Caller } from '../_shared/auth.ts';
import { convertChat, type StoredMessage } from '../_shared/chat-convert.ts';
import { api } from '../_shared/contract.ts';
import { asCaller, asReader } from '../_shared/db.ts';
import { body, HttpError, handler, json, on } from '../_shared/http.ts';
import { pathId, query } from '../_shared/validate.ts';

const jsonb = (v: unknown) => (v === undefined ? null : JSON.stringify(v));

function onlyService(caller: Caller, userId: string | undefined): void {
  if (userId && caller.role !== 'service_role') {
    throw new HttpError(403, 'forbidden', 'Only the service role may write chats for another user; leave out user_id.');
  }
}

async function save(req: Request, id: string, caller: Caller): Promise<Response> {
  const b = await body(req, api.saveChat);
  onlyService(caller, b.user_id);
  return await asCaller(caller, async (tx) => {
    const [r] = await tx.unsafe(
      `select public.save_chat(p_conversation_id => $1, p_messages => $2::text::jsonb, p_format => $3, p_agent_id => $4,
                               p_title => $5, p_user_id => $6) as saved`,
      [id, jsonb(b.messages), b.format ?? 'ui', b.agent_id ?? null, b.title ?? null, b.user_id ?? null],
    );
    return json(200, { chat_id: id, saved: r!.saved as number });
  });
}

async function load(req: Request, url: URL, id: string, caller: Caller): Promise<Response> {
  const q = query(url, api.loadChat);
  return await asReader(req, caller, async (tx) => {
    const rows = await tx`select format, client_message_id, message from public.load_chat(${id})`;
    return json(200, { messages: convertChat(rows as unknown as StoredMessage[], q.format ?? 'ui') });
  });
}

async function append(req: Request, id: string, caller: Caller): Promise<Response> {
  const b = await body(req, api.appendMessage);
  onlyService(caller, b.user_id);
  return await asCaller(caller, async (tx) => {
    const [r] = await tx.unsafe(
      `select a.message, a.created from public.append_chat_message(p_conversation_id => $1, p_message => $2::text::jsonb,
                                 p_agent_id => $3, p_title => $4, p_user_id => $5) a`,
      [id, jsonb(b.message), b.agent_id ?? null, b.title ?? null, b.user_id ?? null],
    );
    return json(r!.created ? 201 : 200, { message: r!.message });
  });
}

async function turn(req: Request, id: string, caller: Caller): Promise<Response> {
  const b = await body(req, api.recordTurn);
  onlyService(caller, b.user_id);
  return await asCaller(caller, async (tx) => {
    const rows = await tx.unsafe(
      `select t.client_message_id from public.record_chat_turn(p_conversation_id => $1, p_request => $2::text::jsonb,
                                 p_response => $3::text::jsonb, p_agent_id => $4, p_title => $5, p_user_id => $6) t`,
      [id, jsonb(b.request), jsonb(b.response), b.agent_id ?? null, b.title ?? null, b.user_id ?? null],
    );
    return json(201, { chat_id: id, saved: rows.length, message_ids: rows.map((r) => r.client_message_id as string) });
  });
}

const auth = async (req: Request) => requireUserOrService(await authenticate(req));

Deno.serve(
  handler('chats', auth, [
    on(api.saveChat, ({ req, params }, c) => save(req, pathId(params), c)),
    on(api.loadChat, ({ req, url, params }, c) => load(req, url, pathId(params), c)),
    on(api.appendMessage, ({ req, params }, c) => append(req, pathId(params), c)),
    on(api.recordTurn, ({ req, params }, c) => turn(req, pathId(params), c)),
  ]),
);
