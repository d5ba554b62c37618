/**
 * /functions/v1/agents — the agents a user owns (public.agents), so a client can start without psql:
 * create one, then hang memories, state, checkpoints and sessions on it. Owner-only through RLS
 * (owner_id = auth.uid()); another user's agent answers 404 like one that does not exist. Deleting an
 * agent deletes its memories, states, checkpoints and snapshots (foreign keys cascade); messages and
 * sessions stay, with agent_id set to null. Requests are validated against the contract
 * (_shared/contract-agents.ts), which also gives the routes.
 */
import { authenticate, requireUserOrService, type Caller } from '../_shared/auth.ts';
import { api } from '../_shared/contract.ts';
import { asCaller, asReader } from '../_shared/db.ts';
import { body, HttpError, handler, json, notFound, on } from '../_shared/http.ts';
import { decodeCursor, encodeCursor, pathId, query } from '../_shared/validate.ts';

async function create(req: Request, caller: Caller): Promise<Response> {
  const b = await body(req, api.createAgent);
  if (b.owner_id && caller.role !== 'service_role') {
    throw new HttpError(403, 'forbidden', 'Only the service role may create agents for another user; leave out owner_id.');
  }
  const owner = caller.userId ?? b.owner_id ?? null;
  if (!owner) throw new HttpError(422, 'user_required', 'Creating an agent as the service role needs owner_id.');
  return await asCaller(caller, async (tx) => {
    // RLS (with check owner_id = auth.uid()) keeps users to their own id; an owner_id the service role
    // names that is not a user fails the foreign key (422 invalid_reference).
    const [row] = await tx.unsafe(
      `insert into public.agents as a (owner_id, name, config) values ($1, $2, $3::text::jsonb) returning to_jsonb(a) as agent`,
      [owner, b.name, JSON.stringify(b.config ?? {})],
    );
    return json(201, { agent: row!.agent });
  });
}

async function list(req: Request, url: URL, caller: Caller): Promise<Response> {
  const q = query(url, api.listAgents);
  if (q.owner_id && caller.role !== 'service_role') {
    throw new HttpError(403, 'forbidden', 'Only the service role may list agents by owner; you see your own agents without owner_id.');
  }
  const limit = q.limit ?? 50;
  const cursor = q.before !== undefined ? decodeCursor(q.before) : null;
  return await asReader(req, caller, async (tx) => {
    // RLS keeps a user to their own agents; `to_jsonb(a.created_at)` keeps microseconds for the cursor.
    const rows = await tx.unsafe(
      `select to_jsonb(a) as agent, to_jsonb(a.created_at) #>> '{}' as at from public.agents a
        where ($1::text::timestamptz is null or (a.created_at, a.id) < ($1::text::timestamptz, $2::uuid))
          and ($3::uuid is null or a.owner_id = $3::uuid)
        order by a.created_at desc, a.id desc limit $4`,
      [cursor?.at ?? null, cursor?.id ?? null, q.owner_id ?? null, limit + 1],
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return json(200, {
      agents: page.map((r) => r.agent),
      next_cursor: rows.length > limit && last ? encodeCursor({ at: last.at as string, id: last.agent.id }) : null,
    });
  });
}

async function get(req: Request, id: string, caller: Caller): Promise<Response> {
  return await asReader(req, caller, async (tx) => {
    const [row] = await tx`select to_jsonb(a) as agent from public.agents a where a.id = ${id}`;
    if (!row) throw notFound('Agent');
    return json(200, { agent: row.agent });
  });
}

async function update(req: Request, id: string, caller: Caller): Promise<Response> {
  const b = await body(req, api.updateAgent);
  return await asCaller(caller, async (tx) => {
    const [row] = await tx.unsafe(
      `update public.agents a set
         name = coalesce($2, a.name),
         config = coalesce($3::text::jsonb, a.config)
       where a.id = $1
       returning to_jsonb(a) as agent`,
      [id, b.name ?? null, b.config ? JSON.stringify(b.config) : null],
    );
    if (!row) throw notFound('Agent');
    return json(200, { agent: row.agent });
  });
}

async function remove(id: string, caller: Caller): Promise<Response> {
  return await asCaller(caller, async (tx) => {
    const deleted = await tx`delete from public.agents where id = ${id} returning id`;
    if (!deleted.length) throw notFound('Agent');
    return json(204, null);
  });
}

const auth = async (req: Request) => requireUserOrService(await authenticate(req));

Deno.serve(
  handler('agents', auth, [
    on(api.createAgent, ({ req }, c) => create(req, c)),
    on(api.listAgents, ({ req, url }, c) => list(req, url, c)),
    on(api.getAgent, ({ req, params }, c) => get(req, pathId(params), c)),
    on(api.updateAgent, ({ req, params }, c) => update(req, pathId(params), c)),
    on(api.deleteAgent, ({ params }, c) => remove(pathId(params), c)),
  ]),
);
