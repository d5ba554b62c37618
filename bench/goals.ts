/**
 * The goals, evaluated from a scenario's figures in one place (runs, --render and --merge all use it).
 * Each goal carries the ratio on process CPU time (`value`, what decides met / missed) and on wall-clock time
 * (`wall`). On PGlite CPU time decides because the benchmark machine is shared: other processes stretch
 * wall-clock time of whichever variant runs longer, which inflates ratios; CPU time is the database's own work
 * (PGlite runs in-process). On a server the database is other processes, so CPU figures are null and wall-clock
 * decides — every ratio compares variants measured side by side in one run. Targets: issue 11, item 2.
 */
import type { Goal } from './lib/types.ts';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Any = any;

function g(name: string, target: string, cmp: '<=' | '>=', bound: number, cpu: number | null | undefined, wall?: number | null): Goal & { wall: number | null } {
  const value = cpu !== null && cpu !== undefined && Number.isFinite(cpu) ? cpu : (wall ?? null);
  const ok = value === null || !Number.isFinite(value) ? null : cmp === '<=' ? value <= bound : value >= bound;
  return { name, target, value: value === null || !Number.isFinite(value) ? null : value, met: ok, wall: wall ?? null };
}

const r = (a: Any, b: Any) => (a && b && Number.isFinite(a.median) && Number.isFinite(b.median) && b.median ? Number((a.median / b.median).toFixed(3)) : null);

/**
 * 1M projection on CPU time. The sampled OFFSET pages give the *shape* of the batch cost (intercept + slope per
 * skipped row, measured seconds apart under the same load); the variant's total CPU time at this size fixes its
 * level. Keyset is flat (last/first ≈ 1), so its 1M rate is its measured CPU rate. Only from sampled runs that
 * reach ≥ 10k rows deep with a positive slope.
 */
export function projectCpu(size: Any): Any {
  const p = size?.projection_1m;
  const off = size?.variants?.offset;
  if (!p || !off || size.rows < 10_000 || !(p.offset_batch_ms_per_1000_skipped_rows > 0) || !(p.offset_batch_ms_intercept > 0)) return null;
  // CPU time is measured on PGlite only (in-process); a native run has wall times, and at 1M its sampled OFFSET
  // figure is already the goal's own measure
  if (!(off.cpu_ms?.median > 0) || !(size.cpu_rows_per_s?.keyset?.median > 0)) return null;
  const batchRows = size.offset_batch_size ?? 1000;
  const rel = p.offset_batch_ms_per_1000_skipped_rows / 1000 / p.offset_batch_ms_intercept; // per skipped row, relative to a batch at offset 0
  const sum = (batches: number) => {
    let t = 0;
    for (let i = 0; i < batches; i++) t += 1 + rel * i * batchRows;
    return t;
  };
  const batchesHere = Math.ceil(size.rows / batchRows);
  const c0 = off.cpu_ms.median / sum(batchesHere); // CPU ms of a batch at offset 0
  const batches1M = 1_000_000 / batchRows;
  const offsetMs = c0 * sum(batches1M);
  const keysetRate = size.cpu_rows_per_s?.keyset?.median;
  const offsetRate = (1_000_000 / (offsetMs + 100 * batches1M)) * 1000;
  return {
    cpu_ms_per_batch_at_offset_0: Number(c0.toFixed(1)),
    skip_cost_per_1000_rows_relative: Number((rel * 1000).toFixed(4)),
    keyset_rows_per_s: Math.round(keysetRate),
    offset_rows_per_s: Math.round(offsetRate),
    offset_nosleep_rows_per_s: Math.round((1_000_000 / offsetMs) * 1000),
    keyset_over_offset: Number((keysetRate / offsetRate).toFixed(2)),
  };
}

export function goalsFor(name: string, s: Any): Goal[] {
  if (!s || s.status !== 'measured') return s?.goals ?? [];
  switch (name) {
    case 'backfill': {
      const big = s.sizes?.[s.sizes.length - 1];
      if (!big) return [];
      const at = big.rows >= 1_000_000 ? 'at 1M' : `at ${big.rows} (goal: at 1M)`;
      const out = [
        g(`keyset rows/s ${at} (wall)`, '≥ 25,000', '>=', 25_000, null, big.keyset_rows_per_s?.median),
        g(`keyset / CTAS rows/s ${at}`, '≥ 0.065', '>=', 0.065, big.cpu_ratios?.keyset_over_ctas, big.ratios?.keyset_over_ctas),
        g(`keyset / OFFSET + sleep rows/s ${at}`, '≥ 10', '>=', 10, big.cpu_ratios?.keyset_over_offset, big.ratios?.keyset_over_offset),
        g(`keyset last / first batch ${at} (wall)`, '≤ 1.3', '<=', 1.3, null, big.ratios?.last_over_first_batch),
        g(`keyset / set-based rows/s ${at}`, '≥ 0.6', '>=', 0.6, big.cpu_ratios?.keyset_over_set_based, big.ratios?.keyset_over_set_based),
      ];
      const proj = big.offset_sampled ? projectCpu(big) : null;
      if (proj) out.push(g('keyset / OFFSET + sleep at 1M — projected from the sampled OFFSET curve', '≥ 10', '>=', 10, proj.keyset_over_offset, big.projection_1m.keyset_over_offset));
      return out;
    }
    case 'backfill_under_load':
      return [
        g(`writer p95 during / idle (${s.writers} writers, wall)`, '≤ 3', '<=', 3, null, s.ratios?.writer_p95_during_over_idle),
        g('backfill rows/s loaded / idle (wall)', '≥ 0.5', '>=', 0.5, null, s.ratios?.backfill_loaded_over_idle),
      ];
    case 'page': {
      const l = s.latency;
      const at = s.rows >= 1_000_000 ? 'at 1M' : `at ${s.rows} (goal: at 1M)`;
      return [
        g(`newest-50 page / PK lookup (p50) ${at}`, '≤ 1.5', '<=', 1.5, r(l.v2_page?.p50_cpu_ms, l.pk_lookup?.p50_cpu_ms), r(l.v2_page?.p50_ms, l.pk_lookup?.p50_ms)),
        g('same, aggregated in the database (no rows shipped)', '≤ 1.5', '<=', 1.5, r(l.v2_page_in_db?.p50_cpu_ms, l.pk_lookup_in_db?.p50_cpu_ms), r(l.v2_page_in_db?.p50_ms, l.pk_lookup_in_db?.p50_ms)),
      ];
    }
    case 'vector': {
      const def = s.methods?.find((m: Any) => m.name === 'default');
      const exact = s.methods?.find((m: Any) => m.name === 'exact');
      if (!def || !exact) return s.goals ?? [];
      const at = s.rows >= 100_000 ? 'over 100k × 1536' : `over ${s.rows} × 1536 (goal: 100k)`;
      return [
        g(`default (match_agent_memories) recall@10 ${at}`, '≥ 0.95', '>=', 0.95, def.recall_at_10, def.recall_at_10),
        g(`default p50 / exact p50 ${at}`, '≤ 0.1', '<=', 0.1, r(def.p50_cpu_ms, exact.p50_cpu_ms), r(def.p50_ms, exact.p50_ms)),
      ];
    }
    case 'dual_write': {
      const l = s.single_row;
      return [
        g('v2 insert (with session metrics) / legacy insert (p50)', '≤ 1.5', '<=', 1.5, r(l.v2_insert_legacy?.p50_cpu_ms, l.legacy_insert_legacy?.p50_cpu_ms), r(l.v2_insert_legacy?.p50_ms, l.legacy_insert_legacy?.p50_ms)),
        g('legacy insert, dual_write / legacy mode (1 row per statement, p50)', '≤ 2.2', '<=', 2.2, r(l.legacy_insert_dual_write?.p50_cpu_ms, l.legacy_insert_legacy?.p50_cpu_ms), r(l.legacy_insert_dual_write?.p50_ms, l.legacy_insert_legacy?.p50_ms)),
        g(`legacy insert, dual_write / legacy mode (${s.batch_rows} rows per statement, per row)`, '≤ 2.2', '<=', 2.2, r(s.batch?.dual_write?.per_row_cpu_ms, s.batch?.legacy?.per_row_cpu_ms), r(s.batch?.dual_write?.per_row_ms, s.batch?.legacy?.per_row_ms)),
      ];
    }
    case 'state': {
      const w = s.writes;
      const rd = s.reads;
      return [
        g('save_agent_state / plain insert (p50)', '≤ 2', '<=', 2, r(w.save_agent_state?.p50_cpu_ms, w.bare_insert?.p50_cpu_ms), r(w.save_agent_state?.p50_ms, w.bare_insert?.p50_ms)),
        g('load current / PK lookup (p50)', '≤ 1.2', '<=', 1.2, r(rd.load_current?.p50_cpu_ms, rd.pk_lookup?.p50_cpu_ms), r(rd.load_current?.p50_ms, rd.pk_lookup?.p50_ms)),
      ];
    }
    default:
      return s.goals ?? [];
  }
}

/** Re-evaluates every scenario's goals in place. */
export function applyGoals(res: { scenarios: Record<string, Any> }): void {
  for (const [name, s] of Object.entries(res.scenarios)) {
    if (s?.status === 'measured') s.goals = goalsFor(name, s);
  }
}
