/**
 * /functions/v1/sessions — conversations (conversation_sessions: one row per conversation, id = the
 * conversation id) and their context snapshots. Metrics (message_count, token_count, last_message_at) are
 * kept by triggers; clients write only the descriptive columns.
 */
import { z } from 'zod';
import { authenticate, requireUserOrService, type Caller } from '../_shared/auth.ts';
import { asCaller, asReader } from '../_shared/db.ts';
import { HttpError, handler, json, notFound, readJson } from '../_shared/http.ts';
import { visibleAgent, visibleSession } from '../_shared/owner.ts';
import { decodeCursor, encodeCursor, jsonObject, limitParam, parseQuery, pathId, uuid } from '../_shared/validate.ts';

const status = z.enum(['active', 'idle', 'closed']);

const createBody = z
  .object({
    id: uuid.optional(),
    agent_id: uuid.nullish(),
    title: z.string().max(500).nullish(),
    status: status.optional(),
    session_state: jsonObject.optional(),
    metadata: jsonObject.optional(),
    /** service_role only: whose session this is. */
    user_id: uuid.optional(),
  })
  .strict();

const updateBody = z
  .object({
    agent_id: uuid.nullish(),
    title: z.string().max(500).nullish(),
    status: status.optional(),
    session_state: jsonObject.optional(),
    metadata: jsonObject.optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'give at least one of agent_id, title, status, session_state, metadata');

const snapshotBody = z
  .object({
    agent_id: uuid.optional(),
    /** The message window; default: the newest `window` live messages of the session. */
    message_ids: z.array(uuid).max(1000).optional(),
    window: z.number().int().min(1).max(1000).optional(),
    memory_ids: z.array(uuid).max(1000).optional(),
    context: jsonObject.optional(),
    token_count: z.number().int().min(0).max(2_147_483_647).optional(),
    token_budget: z.number().int().min(1).max(2_147_483_647).nullish(),
    build_metrics: jsonObject.optional(),
  })
  .strict();

const listQuery = z.object({ limit: limitParam.optional(), before: z.string().optional(), status: status.optional() }).strict();
const snapshotsQuery = z.object({ limit: limitParam.optional() }).strict();

const uuidArray = (ids: string[] | undefined) => (ids ? `{${ids.join(',')}}` : null);

async function create(req: Request, caller: Caller): Promise<Response> {
  const b = createBody.parse(await readJson(req));
  if (b.user_id && caller.role !== 'service_role') {
    throw new HttpError(403, 'forbidden', 'Only the service role may create sessions for another user; leave out user_id.');
  }
  return await asCaller(caller, async (tx) => {
    let owner = caller.userId ?? b.user_id ?? null;
    if (b.agent_id) {
      const agent = await visibleAgent(tx, caller, b.agent_id);
      owner = owner ?? agent.owner_id;
    }
    if (!owner) throw new HttpError(422, 'user_required', 'Creating a session as the service role needs user_id or agent_id.');
    const [row] = await tx.unsafe(
      `insert into public.conversation_sessions as s (id, user_id, agent_id, title, status, session_state, metadata)
       values (coalesce($1::uuid, gen_random_uuid()), $2, $3, $4, coalesce($5::public.session_status, 'active'), $6::text::jsonb, $7::text::jsonb)
       on conflict (id) do nothing
       returning to_jsonb(s) as session`,
      [b.id ?? null, owner, b.agent_id ?? null, b.title ?? null, b.status ?? null, JSON.stringify(b.session_state ?? {}), JSON.stringify(b.metadata ?? {})],
    );
    if (!row) throw new HttpError(409, 'already_exists', 'A session with this id already exists; pick another id or leave it out.');
    return json(201, { session: row.session });
  });
}

async function list(req: Request, url: URL, caller: Caller): Promise<Response> {
  const q = parseQuery(url, listQuery);
  const limit = q.limit ?? 50;
  const cursor = q.before !== undefined ? decodeCursor(q.before) : null;
  return await asReader(req, caller, async (tx) => {
    const rows = await tx.unsafe(
      `select to_jsonb(s) as session from public.conversation_sessions s
        where ($1::text::timestamptz is null or (s.created_at, s.id) < ($1::text::timestamptz, $2::uuid))
          and ($3::text is null or s.status = $3::text::public.session_status)
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
  const b = updateBody.parse(await readJson(req));
  return await asCaller(caller, async (tx) => {
    await visibleSession(tx, id);
    if (b.agent_id) await visibleAgent(tx, caller, b.agent_id);
    const [row] = await tx.unsafe(
      `update public.conversation_sessions s set
         agent_id = case when $2 then $3::uuid else s.agent_id end,
         title = case when $4 then $5 else s.title end,
         status = coalesce($6::public.session_status, s.status),
         session_state = coalesce($7::text::jsonb, s.session_state),
         metadata = coalesce($8::text::jsonb, s.metadata)
       where s.id = $1
       returning to_jsonb(s) as session`,
      [
        id,
        b.agent_id !== undefined,
        b.agent_id ?? null,
        b.title !== undefined,
        b.title ?? null,
        b.status ?? null,
        b.session_state ? JSON.stringify(b.session_state) : null,
        b.metadata ? JSON.stringify(b.metadata) : null,
      ],
    );
    if (!row) throw notFound('Session');
    return json(200, { session: row.session });
  });
}

async function snapshot(req: Request, id: string, caller: Caller): Promise<Response> {
  const started = performance.now();
  const b = snapshotBody.parse(await readJson(req));
  return await asCaller(caller, async (tx) => {
    const session = await visibleSession(tx, id);
    const agentId = b.agent_id ?? session.agent_id;
    if (!agentId) throw new HttpError(422, 'validation_failed', 'agent_id: the session has no agent; name the agent this context was built for.');
    const agent = await visibleAgent(tx, caller, agentId);
    // The window: given ids must all be live messages of this session; otherwise the newest `window`.
    const [win] = await tx.unsafe(
      `with chosen as (
         select m.id, m.created_at, m.metadata from public.chat_messages_v2 m
          where m.conversation_id = $1 and m.deleted_at is null
            and ($2::text::uuid[] is null or m.id = any ($2::text::uuid[]))
          order by m.created_at desc, m.id desc
          limit case when $2::text::uuid[] is null then $3::int else null end)
       select coalesce(array_agg(id order by created_at, id), '{}')::text as ids, count(*)::int as n,
              to_jsonb(min(created_at)) #>> '{}' as first_at, to_jsonb(max(created_at)) #>> '{}' as last_at,
              coalesce(sum(case when jsonb_typeof(metadata -> 'tokens') = 'number'
                                then floor((metadata ->> 'tokens')::numeric) else 0 end), 0)::bigint as tokens
         from chosen`,
      [id, uuidArray(b.message_ids), b.window ?? 20],
    );
    if (b.message_ids && win!.n !== new Set(b.message_ids.map((m) => m.toLowerCase())).size) {
      throw new HttpError(422, 'invalid_reference', 'message_ids: every id must be a live message of this session.');
    }
    if (b.memory_ids?.length) {
      const [m] = await tx.unsafe(
        `select count(*)::int as n from public.agent_memories where agent_id = $1 and id = any ($2::text::uuid[])`,
        [agent.id, uuidArray([...new Set(b.memory_ids.map((x) => x.toLowerCase()))])],
      );
      if (m!.n !== new Set(b.memory_ids.map((x) => x.toLowerCase())).size) {
        throw new HttpError(422, 'invalid_reference', "memory_ids: every id must be a memory of this session's agent.");
      }
    }
    const tokenCount = b.token_count ?? Math.min(Number(win!.tokens), 2_147_483_647);
    const metrics = { build_ms: Math.round((performance.now() - started) * 1000) / 1000, message_count: win!.n, ...(b.build_metrics ?? {}) };
    const [row] = await tx.unsafe(
      `insert into public.context_snapshots as cs
         (session_id, agent_id, user_id, message_ids, first_message_at, last_message_at, memory_ids, context,
          token_count, token_budget, build_metrics)
       values ($1, $2, $3, $4::text::uuid[], $5::text::timestamptz, $6::text::timestamptz, coalesce($7::text::uuid[], '{}'), $8::text::jsonb, $9, $10, $11::text::jsonb)
       returning to_jsonb(cs) as snapshot`,
      [
        id,
        agent.id,
        session.user_id,
        win!.ids as string,
        win!.first_at,
        win!.last_at,
        uuidArray(b.memory_ids),
        JSON.stringify(b.context ?? {}),
        tokenCount,
        b.token_budget ?? null,
        JSON.stringify(metrics),
      ],
    );
    return json(201, { snapshot: row!.snapshot });
  });
}

async function listSnapshots(req: Request, url: URL, id: string, caller: Caller): Promise<Response> {
  const q = parseQuery(url, snapshotsQuery);
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
    { method: 'POST', path: '/', handler: ({ req }, c) => create(req, c) },
    { method: 'GET', path: '/', handler: ({ req, url }, c) => list(req, url, c) },
    { method: 'GET', path: '/:id', handler: ({ req, params }, c) => get(req, pathId(params), c) },
    { method: 'PATCH', path: '/:id', handler: ({ req, params }, c) => update(req, pathId(params), c) },
    { method: 'POST', path: '/:id/snapshots', handler: ({ req, params }, c) => snapshot(req, pathId(params), c) },
    { method: 'GET', path: '/:id/snapshots', handler: ({ req, url, params }, c) => listSnapshots(req, url, pathId(params), c) },
  ]),
);
