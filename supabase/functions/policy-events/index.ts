/**
 * /functions/v1/policy-events — policy decisions on messages (a judge's verdict, a redaction, a block …): record
 * one on a message you can see, list a conversation's newest first. Thin: authenticate, validate against the
 * contract (_shared/contract-chats.ts), call the SQL API (public.record_policy_event; public.policy_events under
 * RLS for the list), shape the answer. A message or conversation the caller cannot see is not found (404).
 */
import { authenticate, requireUserOrService, type Caller } from '../_shared/auth.ts';
import { api } from '../_shared/contract.ts';
import type { Tx } from '../_shared/db.ts';
import { asCaller, asReader } from '../_shared/db.ts';
import { body, handler, json, notFound, on } from '../_shared/http.ts';
import { visibleSession } from '../_shared/owner.ts';
import { decodeCursor, encodeCursor, query } from '../_shared/validate.ts';

/** A policy_events row in the API's words (policy_name is the policy's class, original_message_id the message). */
const EVENT = `jsonb_build_object(
  'id', e.id, 'user_id', e.user_id, 'conversation_id', e.conversation_id, 'message_id', e.original_message_id,
  'modified_message_id', e.modified_message_id, 'policy_class', e.policy_name, 'policy_config', e.policy_config,
  'event_type', e.event_type, 'decision', e.decision, 'reason', e.reason, 'metadata', e.metadata,
  'recorded_by', e.recorded_by, 'created_at', e.created_at)`;

/** A message named by uuid, or with chat_id by the chat's own id (UIMessage.id, openai:<n>); 404 when not visible. */
async function messageId(tx: Tx, chatId: string | undefined, id: string | undefined): Promise<string | null> {
  if (id === undefined) return null;
  if (chatId === undefined) return id;
  const [m] = await tx`select id from public.chat_messages_v2 where conversation_id = ${chatId} and client_message_id = ${id} and deleted_at is null`;
  if (!m) throw notFound(`Message ${id} of chat ${chatId}`);
  return m.id as string;
}

async function record(req: Request, caller: Caller): Promise<Response> {
  const b = await body(req, api.recordPolicyEvent);
  return await asCaller(caller, async (tx) => {
    const original = await messageId(tx, b.chat_id, b.message_id);
    const modified = await messageId(tx, b.chat_id, b.modified_message_id);
    const [r] = await tx.unsafe(
      `select ${EVENT} as event from public.record_policy_event(
         p_message_id => $1, p_policy_class => $2, p_event_type => $3, p_policy_config => $4::text::jsonb,
         p_metadata => $5::text::jsonb, p_modified_message_id => $6, p_decision => $7, p_reason => $8) e`,
      [original, b.policy_class, b.event_type, JSON.stringify(b.policy_config ?? {}), JSON.stringify(b.metadata ?? {}), modified, b.decision ?? null, b.reason ?? null],
    );
    return json(201, { policy_event: r!.event });
  });
}

async function list(req: Request, url: URL, caller: Caller): Promise<Response> {
  const q = query(url, api.listPolicyEvents);
  const limit = q.limit ?? 50;
  const cursor = q.before !== undefined ? decodeCursor(q.before) : null;
  return await asReader(req, caller, async (tx) => {
    await visibleSession(tx, q.conversation_id);
    const rows = await tx.unsafe(
      `select ${EVENT} as event, e.created_at::text as at from public.policy_events e
        where e.conversation_id = $1
          and ($2::text::timestamptz is null or (e.created_at, e.id) < ($2::text::timestamptz, $3::uuid))
        order by e.created_at desc, e.id desc
        limit $4`,
      [q.conversation_id, cursor?.at ?? null, cursor?.id ?? null, limit + 1],
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return json(200, {
      policy_events: page.map((r) => r.event),
      next_cursor: rows.length > limit && last ? encodeCursor({ at: last.at as string, id: (last.event as { id: string }).id }) : null,
    });
  });
}

const auth = async (req: Request) => requireUserOrService(await authenticate(req));

Deno.serve(
  handler('policy-events', auth, [
    on(api.recordPolicyEvent, ({ req }, c) => record(req, c)),
    on(api.listPolicyEvents, ({ req, url }, c) => list(req, url, c)),
  ]),
);
