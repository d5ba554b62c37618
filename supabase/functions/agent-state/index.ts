/**
 * /functions/v1/agent-state — versioned agent state (append-only agent_states), history, checkpoints
 * and restores. A stream is (agent, user, state_type, session); every save is a new version, and
 * `expected_version` turns a save into a compare-and-set that answers 409 when someone saved first.
 * Requests are validated against the contract (_shared/contract-agent-state.ts), which also gives the routes.
 */
import { authenticate, requireUserOrService, type Caller } from '../_shared/auth.ts';
import { api } from '../_shared/contract.ts';
import { asCaller, asReader, type Tx } from '../_shared/db.ts';
import { body, HttpError, handler, json, notFound, on } from '../_shared/http.ts';
import { visibleAgent, visibleSession } from '../_shared/owner.ts';
import { decodeVersionCursor, encodeVersionCursor, pathId, query } from '../_shared/validate.ts';

const stateJson = `to_jsonb(st)`;
const NIL = '00000000-0000-0000-0000-000000000000';

/** A state stream as the SQL API defines it: the stream's user is auth.uid() (null for the service role). */
interface Stream {
  agentId: string;
  userId: string | null;
  stateType: string;
  sessionId: string | null;
}

async function resolveStream(tx: Tx, caller: Caller, q: { agent_id: string; state_type: string; session_id?: string | null | undefined }): Promise<Stream> {
  const agent = await visibleAgent(tx, caller, q.agent_id);
  if (q.session_id) await visibleSession(tx, q.session_id);
  return { agentId: agent.id, userId: caller.userId, stateType: q.state_type, sessionId: q.session_id ?? null };
}

const streamWhere = `st.agent_id = $1 and coalesce(st.user_id, '${NIL}') = coalesce($2::uuid, '${NIL}') and st.state_type = $3
  and coalesce(st.session_id, '${NIL}') = coalesce($4::uuid, '${NIL}')`;
const streamParams = (s: Stream) => [s.agentId, s.userId, s.stateType, s.sessionId];

async function current(tx: Tx, s: Stream) {
  const [r] = await tx.unsafe(`select ${stateJson} as state from public.agent_states st where ${streamWhere} and st.is_current`, streamParams(s));
  return r?.state ?? null;
}

async function getState(req: Request, url: URL, caller: Caller): Promise<Response> {
  const q = query(url, api.getState);
  return await asReader(req, caller, async (tx) => {
    let st: unknown;
    if (q.state_type) {
      st = await current(tx, await resolveStream(tx, caller, { ...q, state_type: q.state_type }));
    } else {
      await visibleAgent(tx, caller, q.agent_id);
      if (q.session_id) await visibleSession(tx, q.session_id);
      const [r] = await tx.unsafe(
        `select ${stateJson} as state from public.agent_states st
          where st.agent_id = $1 and coalesce(st.user_id, '${NIL}') = coalesce($2::uuid, '${NIL}') and st.is_current
            and ($3::uuid is null or st.session_id = $3::uuid)
          order by st.created_at desc, st.version desc, st.id desc limit 1`,
        [q.agent_id, caller.userId, q.session_id ?? null],
      );
      st = r?.state;
    }
    // An agent (and session) you own with nothing saved yet is a stream at version 0, not an error:
    // `state: null`, so a client can get-or-create (save with expected_version 0).
    return json(200, { state: st ?? null });
  });
}

async function putState(req: Request, caller: Caller): Promise<Response> {
  const b = await body(req, api.saveState);
  return await asCaller(caller, async (tx) => {
    await resolveStream(tx, caller, b);
    // save_agent_state checks expected_version under the stream's advisory lock (AJC01 → 409).
    const [r] = await tx.unsafe(
      `select ${stateJson} as state from public.save_agent_state($1, $2, $3::text::jsonb, $4, $5) st`,
      [b.agent_id, b.state_type, JSON.stringify(b.state), b.session_id ?? null, b.expected_version ?? null],
    );
    return json(200, { state: r!.state });
  });
}

async function history(req: Request, url: URL, caller: Caller): Promise<Response> {
  const q = query(url, api.stateHistory);
  const limit = q.limit ?? 50;
  const before = q.before !== undefined ? decodeVersionCursor(q.before) : null;
  return await asReader(req, caller, async (tx) => {
    const s = await resolveStream(tx, caller, q);
    const rows = await tx.unsafe(
      `select ${stateJson} as state from public.agent_states st
        where ${streamWhere} and ($5::int is null or st.version < $5::int)
        order by st.version desc limit $6`,
      [...streamParams(s), before, limit + 1],
    );
    const page = rows.slice(0, limit).map((r) => r.state as { version: number });
    const last = page[page.length - 1];
    return json(200, { states: page, next_cursor: rows.length > limit && last ? encodeVersionCursor(last.version) : null });
  });
}

async function createCheckpoint(req: Request, caller: Caller): Promise<Response> {
  const b = await body(req, api.checkpoint);
  return await asCaller(caller, async (tx) => {
    await resolveStream(tx, caller, b);
    if (b.snapshot_id) {
      const [snap] = await tx`select id from public.context_snapshots where id = ${b.snapshot_id} and agent_id = ${b.agent_id}`;
      if (!snap) throw notFound('Snapshot');
    }
    const [row] = await tx.unsafe(
      `select to_jsonb(c) as checkpoint
         from public.create_state_checkpoint($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8::text::timestamptz, $9) c`,
      [
        b.agent_id,
        b.state_type,
        b.session_id ?? null,
        b.checkpoint_type ?? 'manual',
        b.label ?? null,
        b.snapshot_id ?? null,
        JSON.stringify(b.metadata ?? {}),
        b.retain_until ?? null,
        b.parent_checkpoint_id ?? null,
      ],
    );
    return json(201, { checkpoint: row!.checkpoint });
  });
}

async function listCheckpoints(req: Request, url: URL, caller: Caller): Promise<Response> {
  const q = query(url, api.listCheckpoints);
  return await asReader(req, caller, async (tx) => {
    await visibleAgent(tx, caller, q.agent_id);
    // Another user's session answers 404 here as on every other endpoint, not an empty list.
    if (q.session_id) await visibleSession(tx, q.session_id);
    const rows = await tx`
      select to_jsonb(c) as checkpoint from public.state_checkpoints c
       where c.agent_id = ${q.agent_id} and (${q.session_id ?? null}::uuid is null or c.session_id = ${q.session_id ?? null}::uuid)
       order by c.created_at desc, c.id desc limit ${q.limit ?? 50}`;
    return json(200, { checkpoints: rows.map((r) => r.checkpoint) });
  });
}

async function restore(req: Request, id: string, caller: Caller): Promise<Response> {
  const b = await body(req, api.restore);
  return await asCaller(caller, async (tx) => {
    const [c] = await tx`select c.id, st.version from public.state_checkpoints c join public.agent_states st on st.id = c.state_id where c.id = ${id}`;
    if (!c) throw notFound('Checkpoint');
    const [r] = await tx.unsafe(`select ${stateJson} as state from public.restore_state_checkpoint($1) st`, [id]);
    const st = r!.state as { version: number };
    // A restore is a new version; with expected_version it is a compare-and-set like PUT (the
    // transaction rolls back, restore included).
    if (b.expected_version !== null && b.expected_version !== undefined && st.version !== b.expected_version + 1) {
      throw new HttpError(409, 'version_conflict', `The state is at version ${st.version - 1}, not ${b.expected_version}: reload it and decide again.`);
    }
    return json(200, { state: st, restored_from: { checkpoint_id: c.id, version: c.version } });
  });
}

const auth = async (req: Request) => requireUserOrService(await authenticate(req));

Deno.serve(
  handler('agent-state', auth, [
    on(api.getState, ({ req, url }, c) => getState(req, url, c)),
    on(api.saveState, ({ req }, c) => putState(req, c)),
    on(api.stateHistory, ({ req, url }, c) => history(req, url, c)),
    on(api.listCheckpoints, ({ req, url }, c) => listCheckpoints(req, url, c)),
    on(api.checkpoint, ({ req }, c) => createCheckpoint(req, c)),
    on(api.restore, ({ req, params }, c) => restore(req, pathId(params), c)),
  ]),
);
