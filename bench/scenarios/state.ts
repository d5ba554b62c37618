/**
 * state: versioned agent state. Writes — `save_agent_state` (advisory lock + optimistic check + versioning
 * trigger) vs a plain INSERT into a bare table of the same shape (no trigger), with the trigger-only path
 * (a plain INSERT into agent_states) alongside; reads — the current version of a stream, as GET /agent-state
 * queries it, vs a primary-key lookup. Streams already hold `versionsPerStream` versions, so "current" has
 * history to skip. Goals: save ≤ 2 × plain insert; load current ≤ 1.2 × PK lookup.
 */
import { hasFunction, openMigrated, explain } from '../lib/db.ts';
import { createUsersAndAgents } from '../lib/legacy-data.ts';
import { measureLatency } from '../lib/latency.ts';
import { ratio, rng } from '../lib/stats.ts';
import { goal, notMeasured, type ScenarioContext, type ScenarioResult } from '../lib/types.ts';

const TYPES = ['local', 'shared', 'session', 'persistent'];
const NIL = '00000000-0000-0000-0000-000000000000';
/** The stream predicate of supabase/functions/agent-state (matches the partial unique index). */
const STREAM_WHERE = `st.agent_id = $1 and coalesce(st.user_id, '${NIL}') = coalesce($2::uuid, '${NIL}') and st.state_type = $3
  and coalesce(st.session_id, '${NIL}') = coalesce($4::uuid, '${NIL}')`;
const LOAD_CURRENT = `select to_jsonb(st) as state from public.agent_states st where ${STREAM_WHERE} and st.is_current`;
const LOAD_PK = `select to_jsonb(st) as state from public.agent_states st where st.id = $1`;

/** An AgentState like the legacy blobs carry (≈ 2 KB). */
function agentState(i: number) {
  return JSON.stringify({
    user_input: `question number ${i}`,
    focus: ['billing', 'refunds'],
    step_count: i,
    last_tool_result: { tool: 'search', ok: true, items: [1, 2, 3] },
    conversation_history: Array.from({ length: 8 }, (_, k) => ({
      role: k % 2 ? 'assistant' : 'user',
      content: `message ${k} of step ${i}: ` + 'lorem ipsum dolor sit amet '.repeat(6),
      timestamp: '2025-08-01T10:00:00Z',
    })),
    memory_context: [{ source: 'kb', content: 'refund policy', relevance_score: 0.8, type: 'fact' }],
  });
}

export async function run(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { cfg, log } = ctx;
  const db = await openMigrated();
  try {
    if (!(await hasFunction(db, 'public.save_agent_state(uuid,text,jsonb,uuid,integer)'))) {
      return notMeasured('save_agent_state (schema v2 API) is not in this checkout');
    }
    const { streams, versionsPerStream, ops } = cfg.state;
    const agents = Math.ceil(streams / TYPES.length);
    await createUsersAndAgents(db, agents);
    const agentIds = (await db.query<{ id: string }>(`select id from public.agents order by id`)).map((r) => r.id);
    const list = Array.from({ length: streams }, (_, i) => ({ agent: agentIds[Math.floor(i / TYPES.length)]!, type: TYPES[i % TYPES.length]! }));
    for (let v = 0; v < versionsPerStream; v++) {
      await db.query(
        `insert into public.agent_states (agent_id, state_type, state)
         select a, t::public.state_type, $3::text::jsonb from unnest($1::uuid[], $2::text[]) as s (a, t)`,
        [list.map((s) => s.agent), list.map((s) => s.type), agentState(v)],
      );
    }
    // the bare table: same columns and indexes, no triggers; the writer supplies version, is_current and hash
    await db.exec(`create schema if not exists bench;
      create table bench.states_bare (like public.agent_states including defaults including indexes including constraints);`);
    await db.exec(`analyze public.agent_states`);
    log(`state: ${streams} streams × ${versionsPerStream} versions`);

    const r = rng(7);
    const targets = Array.from({ length: ops }, () => Math.floor(r() * streams));
    const version = new Map<number, number>(list.map((_, i) => [i, versionsPerStream]));
    let bareVersion = 0;
    const st = agentState(999);
    const writes = await measureLatency(
      [
        {
          name: 'bare_insert',
          run: (i: number) =>
            db.query(
              `insert into bench.states_bare (agent_id, state_type, state, state_hash, version, is_current)
               values ($1, $2, $3::text::jsonb, encode(sha256(convert_to($3, 'UTF8')), 'hex'), $4, false)`,
              [list[i]!.agent, list[i]!.type, st, ++bareVersion],
            ),
        },
        {
          name: 'plain_insert_agent_states',
          run: async (i: number) => {
            await db.query(`insert into public.agent_states (agent_id, state_type, state) values ($1, $2, $3::text::jsonb)`, [
              list[i]!.agent,
              list[i]!.type,
              st,
            ]);
            version.set(i, version.get(i)! + 1);
          },
        },
        {
          name: 'save_agent_state',
          run: async (i: number) => {
            await db.query(`select version from public.save_agent_state($1, $2, $3::text::jsonb, null, $4)`, [
              list[i]!.agent,
              list[i]!.type,
              st,
              version.get(i)!,
            ]);
            version.set(i, version.get(i)! + 1);
          },
        },
      ],
      targets,
      cfg.reps,
    );
    const ids = await db.query<{ id: string }>(`select id from public.agent_states where not is_current order by id limit $1`, [ops]);
    const reads = await measureLatency(
      [
        { name: 'load_current', run: (i: number) => db.query(LOAD_CURRENT, [list[i]!.agent, null, list[i]!.type, null]) },
        { name: 'pk_lookup', run: (i: number) => db.query(LOAD_PK, [ids[i % ids.length]!.id]) },
      ],
      targets,
      cfg.reps,
    );
    const plan = await explain(db, LOAD_CURRENT, [list[0]!.agent, null, list[0]!.type, null]);
    const saveRatio = ratio(writes.save_agent_state!.p50_ms, writes.bare_insert!.p50_ms);
    const loadRatio = ratio(reads.load_current!.p50_ms, reads.pk_lookup!.p50_ms);
    return {
      status: 'measured',
      notes: ['run as postgres (RLS bypassed); the edge function adds RLS and its own transaction to both sides'],
      goals: [
        goal('save_agent_state / plain insert (p50)', '≤ 2', saveRatio, '<=', 2),
        goal('load current / PK lookup (p50)', '≤ 1.2', loadRatio, '<=', 1.2),
      ],
      streams,
      versions_per_stream: versionsPerStream,
      ops_per_rep: ops,
      reps: cfg.reps,
      writes,
      reads,
      ratios: {
        save_over_plain_insert: saveRatio,
        save_over_plain_insert_cpu: ratio(writes.save_agent_state!.p50_cpu_ms, writes.bare_insert!.p50_cpu_ms),
        save_over_trigger_insert: ratio(writes.save_agent_state!.p50_ms, writes.plain_insert_agent_states!.p50_ms),
        load_current_over_pk: loadRatio,
        load_current_over_pk_cpu: ratio(reads.load_current!.p50_cpu_ms, reads.pk_lookup!.p50_cpu_ms),
      },
      plan_load_current: plan,
    };
  } finally {
    await db.close();
  }
}
