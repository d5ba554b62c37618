/**
 * dual_write: what the mirror triggers cost a legacy writer. The same legacy INSERTs with the schema mode at
 * `legacy` (no trigger) and at `dual_write` (statement trigger → chat_migration.copy_messages_safely), measured
 * interleaved: one row per statement (what the app does) and one multi-row statement. The reverse direction
 * (an app writing v2, mirrored to legacy) is measured the same way for the record. Goal: ≤ 2.2×.
 */
import type { Db } from '../../ops/db.ts';
import { hasFunction, openMigrated } from '../lib/db.ts';
import { seedLegacyMessages } from '../lib/legacy-data.ts';
import { measureLatency, type LatencyFigures } from '../lib/latency.ts';
import { figure, ratio, timed, type Figure } from '../lib/stats.ts';
import { goal, notMeasured, type ScenarioContext, type ScenarioResult } from '../lib/types.ts';

const LEGACY_INSERT = `insert into public.chat_messages
  (conversation_id, user_id, agent_id, role, content, attachments, tool_calls, metadata)
  values ($1, $2, $3, 'assistant', $4, $5::text::jsonb, $6::text::jsonb, $7::text::jsonb)`;
const LEGACY_BATCH = `insert into public.chat_messages
  (conversation_id, user_id, agent_id, role, content, attachments, tool_calls, metadata)
  select $1, $2, $3, case when g % 2 = 0 then 'user' else 'assistant' end, $4 || g, $5::text::jsonb, $6::text::jsonb, $7::text::jsonb
    from generate_series(1, $8::int) g`;
/**
 * The floor of any synchronous mirror: the legacy row and its v2 row (+ its attachment and tool-call rows)
 * written by one statement with no trigger, no validation and no ledger. Whatever a mirror does, it cannot cost
 * less than this, so floor / legacy says how much of the 2.2× goal the v2 write itself already uses.
 */
const FLOOR_INSERT = `with l as (
    insert into public.chat_messages (conversation_id, user_id, agent_id, role, content, attachments, tool_calls, metadata)
    values ($1, $2, $3, 'assistant', $4, $5::text::jsonb, $6::text::jsonb, $7::text::jsonb)
    returning *),
  v as (
    insert into public.chat_messages_v2 (conversation_id, user_id, agent_id, role, content, metadata, legacy_id, created_at)
    select l.conversation_id, l.user_id, l.agent_id, l.role::public.message_role, jsonb_build_object('type', 'text', 'text', l.content),
           l.metadata || jsonb_build_object('tokens', ceil(char_length(l.content) / 4.0)::bigint), l.id, l.created_at
      from l returning id),
  a as (
    insert into public.chat_message_attachments (message_id, position, type, name, storage_path, mime_type, size_bytes)
    select v.id, 0, 'image', 'chart.png', 'attachments/chart.png', 'image/png', 48213 from v returning 1)
  insert into public.chat_tool_calls (message_id, position, tool_call_id, tool_name, args, result)
  select v.id, 0, 'call_1', 'search', '{"query":"pglite"}'::jsonb, '{"ok":true}'::jsonb from v`;
const V2_INSERT = `insert into public.chat_messages_v2 (conversation_id, user_id, agent_id, role, content, metadata)
  values ($1, $2, $3, 'assistant', jsonb_build_object('type', 'text', 'text', $4::text), $5::text::jsonb)`;

const body = 'Here is what I found about your question. '.repeat(6);
const attachments = JSON.stringify([{ name: 'chart.png', type: 'image', storageId: 'attachments/chart.png', mimeType: 'image/png', size: 48213 }]);
const toolCalls = JSON.stringify([{ toolCallId: 'call_1', toolName: 'search', args: '{"query":"pglite"}', result: { ok: true } }]);
const metadata = JSON.stringify({ model: 'gpt-4o' });

async function setMode(db: Db, mode: string) {
  const [cur] = await db.query<{ mode: string }>(`select mode from chat_migration.mode`);
  if (cur?.mode !== mode) await db.query(`select public.set_chat_schema_mode($1)`, [mode]);
}

export async function run(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { cfg, log } = ctx;
  const db = await openMigrated();
  try {
    if (!(await hasFunction(db, 'public.set_chat_schema_mode(text)'))) {
      return notMeasured('set_chat_schema_mode (data-migration SQL) is not in this checkout');
    }
    await seedLegacyMessages(db, { rows: 2000 });
    await db.query(`call public.run_chat_migration(5000)`);
    const convs = await db.query<{ id: string; user_id: string; agent_id: string }>(
      `select id, user_id, agent_id from public.conversation_sessions order by id limit 20`,
    );
    const targets = Array.from({ length: cfg.dualWrite.singleRowInserts }, (_, i) => convs[i % convs.length]!);
    const single = (mode: string) => ({
      name: `legacy_insert_${mode}`,
      run: (c: (typeof convs)[number]) => db.query(LEGACY_INSERT, [c.id, c.user_id, c.agent_id, body, attachments, toolCalls, metadata]),
    });
    const v2 = (mode: string) => ({
      name: `v2_insert_${mode}`,
      run: (c: (typeof convs)[number]) => db.query(V2_INSERT, [c.id, c.user_id, c.agent_id, body, metadata]),
    });
    const floor = {
      name: 'legacy_plus_v2_floor',
      run: (c: (typeof convs)[number]) => db.query(FLOOR_INSERT, [c.id, c.user_id, c.agent_id, body, attachments, toolCalls, metadata]),
    };
    // A mode change alters triggers, which invalidates every cached plan on those tables: the first statements
    // after it re-plan (plpgsql uses custom plans for a cached statement's first 5 runs). Production changes the
    // mode once, so variants are interleaved in blocks — one block per mode per repetition, order alternating —
    // each after 10 untimed warm-up statements, never switching mode between two timed inserts.
    const perRep: Record<string, LatencyFigures[]> = {};
    for (let rep = 0; rep < cfg.reps; rep++) {
      for (const mode of rep % 2 ? ['dual_write', 'legacy'] : ['legacy', 'dual_write']) {
        await setMode(db, mode);
        const variants = mode === 'legacy' ? [single('legacy'), floor, v2('legacy')] : [single('dual_write'), v2('dual_write')];
        const r = await measureLatency(variants, targets, 1, undefined, 10);
        for (const [k, v] of Object.entries(r)) (perRep[k] ??= []).push(v);
      }
    }
    const med = (xs: Figure[]) => figure(xs.map((x) => x.median));
    const lat = Object.fromEntries(
      Object.entries(perRep).map(([k, xs]) => [
        k,
        { p50_ms: med(xs.map((x) => x.p50_ms)), p95_ms: med(xs.map((x) => x.p95_ms)), mean_ms: med(xs.map((x) => x.mean_ms)), p50_cpu_ms: med(xs.map((x) => x.p50_cpu_ms)) },
      ]),
    ) as Record<string, LatencyFigures>;

    // multi-row statements: per-row cost of the statement trigger amortized over a batch
    const n = cfg.dualWrite.batchRows;
    const batch: Record<string, { ms: number[]; cpu: number[] }> = { legacy: { ms: [], cpu: [] }, dual_write: { ms: [], cpu: [] } };
    for (let rep = 0; rep < cfg.reps; rep++) {
      for (const mode of rep % 2 ? ['dual_write', 'legacy'] : ['legacy', 'dual_write']) {
        await setMode(db, mode);
        const c = convs[rep % convs.length]!;
        for (let w = 0; w < 6; w++) await db.query(LEGACY_BATCH, [c.id, c.user_id, c.agent_id, body, attachments, toolCalls, metadata, 10]);
        const t = await timed(() => db.query(LEGACY_BATCH, [c.id, c.user_id, c.agent_id, body, attachments, toolCalls, metadata, n]));
        batch[mode]!.ms.push(t.ms / n);
        batch[mode]!.cpu.push(t.cpuMs / n);
      }
    }
    await setMode(db, 'legacy');
    const batchFig = Object.fromEntries(
      Object.entries(batch).map(([k, v]) => [k, { per_row_ms: figure(v.ms), per_row_cpu_ms: figure(v.cpu) }]),
    );
    const [check] = await db.query<{ legacy: number; v2: number }>(
      `select (select count(*) from public.chat_messages)::int as legacy, (select count(*) from public.chat_messages_v2)::int as v2`,
    );
    log(`dual_write: legacy ${check?.legacy} rows, v2 ${check?.v2} rows after the run`);
    const singleRatio = ratio(lat.legacy_insert_dual_write!.p50_ms, lat.legacy_insert_legacy!.p50_ms);
    const batchRatio = ratio(batchFig.dual_write!.per_row_ms, batchFig.legacy!.per_row_ms);
    return {
      status: 'measured',
      notes: [],
      goals: [
        goal('legacy insert, dual_write / legacy mode (1 row per statement, p50)', '≤ 2.2', singleRatio, '<=', 2.2),
        goal(`legacy insert, dual_write / legacy mode (${n} rows per statement, per row)`, '≤ 2.2', batchRatio, '<=', 2.2),
      ],
      single_row: lat,
      batch_rows: n,
      batch: batchFig,
      ratios: {
        single_row: singleRatio,
        single_row_cpu: ratio(lat.legacy_insert_dual_write!.p50_cpu_ms, lat.legacy_insert_legacy!.p50_cpu_ms),
        batch: batchRatio,
        batch_cpu: ratio(batchFig.dual_write!.per_row_cpu_ms, batchFig.legacy!.per_row_cpu_ms),
        floor_single_row: ratio(lat.legacy_plus_v2_floor!.p50_ms, lat.legacy_insert_legacy!.p50_ms),
        floor_single_row_cpu: ratio(lat.legacy_plus_v2_floor!.p50_cpu_ms, lat.legacy_insert_legacy!.p50_cpu_ms),
        v2_insert_single_row: ratio(lat.v2_insert_dual_write!.p50_ms, lat.v2_insert_legacy!.p50_ms),
      },
      rows_after: check,
      inserts_per_rep: targets.length,
      reps: cfg.reps,
    };
  } finally {
    await db.close();
  }
}
