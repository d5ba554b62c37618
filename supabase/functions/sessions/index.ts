/**
 * /functions/v1/sessions — conversations (conversation_sessions: one row per conversation, id = the
 * conversation id) and their context snapshots. Thin: authenticate, validate against the contract
 * (_shared/contract-sessions.ts), call the SQL API (public.create_conversation_session,
 * update_conversation_session, create_context_snapshot), shape the answer. Metrics (message_count,
 * token_count, last_message_at) are kept by triggers.
 */
import { authenticate, requireUserOrService, type Caller } from '../_shared/auth.ts';
import { api } from '../_shared/contract.ts';
import { asCaller, asReader } from '../_shared/db.ts';
import { body, HttpError, handler, json, notFound, on } from '../_shared/http.ts';
import { visibleSession } from '../_shared/owner.ts';
import { decodeCursor, encodeCursor, pathId, query } from '../_shared/validate.ts';

const jsonb = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
const uuidArray = (ids: string[] | undefined) => (ids ? `{${ids.join(',')}}` : null);

async function create(req: Request, caller: Caller): Promise<Response> {
  const b = await body(req, api.createSession);
  if (b.user_id && caller.role !== 'service_role') {
    throw new HttpError(403, 'forbidden', 'Only the service role may create sessions for another user; leave out user_id.');
  }
  return await asCaller(caller, async (tx) => {
    const [row] = await tx.unsafe(
      `select to_jsonb(s) as session from public.create_conversation_session(
         p_id => $1, p_agent_id => $2, p_title => $3, p_status => coalesce($4::public.session_status, 'active'),
         p_session_state => $5::text::jsonb, p_metadata => $6::text::jsonb, p_user_id => $7) s`,
      [b.id ?? null, b.agent_id ?? null, b.title ?? null, b.status ?? null, jsonb(b.session_state ?? {}), jsonb(b.metadata ?? {}), b.user_id ?? null],
    );
    return json(201, { session: row!.session });
  });
}

async function list(req: Request, url: URL, caller: Caller): Promise<Response> {
  const q = query(url, api.listSessions);
  const limit = q.limit ?? 50;
  const cursor = q.before !== undefined ? decodeCursor(q.before) : null;
  return await asReader(req, caller, async (tx) => {
    const rows = await tx.unsafe(
      `select to_jsonb(s) as session from public.conversation_sessions s
        where ($1::text::timestamptz is null or (s.created_at, s.id) < ($1::text::timestamptz, $2::uuid))
          and ($3::public.session_status is null or s.status = $3::public.session_status)
        order by s.created_at desc, s.id desc limit $4`,
      [cursor?.at ?? null, cursor?.id ?? null, q.status ?? null, limit + 1],
    );
    const page = rows.slice(0, limit).map((r) => r.session as { id: string; created_at: string });
    const last = page[page.length - 1];
    return json(200, { sessions: page, next_cursor: rows.length > limit && last ? encodeCursor({ at: last.created_at, id: last.id }) : null });
  });
}

async function get(req: Request, id: string, caller: Caller): Promise<Response> {
  return await asReader(req, caller, async (tx) => {
    const [row] = await tx`select to_jsonb(s) as session from public.conversation_sessions s where s.id = ${id}`;
    if (!row) throw notFound('Session');
    return json(200, { session: row.session });
  });
}

async function update(req: Request, id: string, caller: Caller): Promise<Response> {
  const b = await body(req, api.updateSession);
  return await asCaller(caller, async (tx) => {
    // The keys present are the fields to change (a null agent_id or title clears it).
    const [row] = await tx.unsafe(`select to_jsonb(s) as session from public.update_conversation_session($1, $2::text::jsonb) s`, [id, jsonb(b)]);
    return json(200, { session: row!.session });
  });
}

async function snapshot(req: Request, id: string, caller: Caller): Promise<Response> {
  const b = await body(req, api.snapshot);
  return await asCaller(caller, async (tx) => {
    const [row] = await tx.unsafe(
      `select to_jsonb(cs) as snapshot from public.create_context_snapshot(
         p_session_id => $1, p_agent_id => $2, p_message_ids => $3::text::uuid[], p_window => coalesce($4::integer, 20),
         p_memory_ids => $5::text::uuid[], p_context => $6::text::jsonb, p_token_count => $7, p_token_budget => $8,
         p_build_metrics => $9::text::jsonb) cs`,
      [
        id,
        b.agent_id ?? null,
        uuidArray(b.message_ids),
        b.window ?? null,
        uuidArray(b.memory_ids),
        jsonb(b.context ?? {}),
        b.token_count ?? null,
        b.token_budget ?? null,
        jsonb(b.build_metrics ?? {}),
      ],
    );
    return json(201, { snapshot: row!.snapshot });
  });
}

async function listSnapshots(req: Request, url: URL, id: string, caller: Caller): Promise<Response> {
  const q = query(url, api.listSnapshots);
  return await asReader(req, caller, async (tx) => {
    await visibleSession(tx, id);
    const rows = await tx`
      select to_jsonb(cs) as snapshot from public.context_snapshots cs
       where cs.session_id = ${id} order by cs.created_at desc, cs.id desc limit ${q.limit ?? 50}`;
    return json(200, { snapshots: rows.map((r) => r.snapshot) });
  });
}

const auth = async (req: Request) => requireUserOrService(await authenticate(req));

Deno.serve(
  handler('sessions', auth, [
    on(api.createSession, ({ req }, c) => create(req, c)),
    on(api.listSessions, ({ req, url }, c) => list(req, url, c)),
    on(api.getSession, ({ req, params }, c) => get(req, pathId(params), c)),
    on(api.updateSession, ({ req, params }, c) => update(req, pathId(params), c)),
    on(api.snapshot, ({ req, params }, c) => snapshot(req, pathId(params), c)),
    on(api.listSnapshots, ({ req, url, params }, c) => listSnapshots(req, url, pathId(params), c)),
  ]),
);
