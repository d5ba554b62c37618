/**
 * backfill: legacy chat_messages → v2 at several sizes, four ways, interleaved per repetition:
 *  (a) keyset    — `call run_chat_migration(batch)`, the project's committing keyset procedure;
 *  (b) offset    — the seed's OFFSET loop (bench/sql), with its pg_sleep(0.1) per batch and without;
 *  (c) set_based — the same transform over every row in one statement: the in-database limit;
 *  (d) ctas      — `create table … as select` with the same content mapping: the machine's physical limit.
 * Goals (bench/goals.ts): keyset ≥ 25k rows/s and ≥ 0.065 × CTAS at 1M, a/b ≥ 10 at 1M (b = with the sleep, as
 * the seed runs), keyset last/first batch ≤ 1.3. Legacy data: ops/seed (2 % dirty by default).
 */
import type { Db } from '../../ops/db.ts';
import type { BackfillSize } from '../config.ts';
import { hasFunction, loadBenchSql, openMigrated, resetV2 } from '../lib/db.ts';
import { seedLegacy } from '../../ops/seed/legacy.ts';
import { figure, ratio, rotate, timed, withPeakRss, type Figure } from '../lib/stats.ts';
import { goal, notMeasured, type ScenarioContext, type ScenarioResult } from '../lib/types.ts';

const SEED_SLEEP_S = 0.1;

interface Sample {
  ms: number;
  /** Process CPU time (+ the deliberate sleep, which costs no CPU but is part of the run). */
  cpuMs: number;
  rows: number;
  firstBatchMs: number;
  lastBatchMs: number;
  batches: number;
  peakRssMb: number;
  extra?: Record<string, number>;
  /** (rows skipped before the batch, batch ms) — OFFSET variants, for the linear fit behind the 1M projection. */
  series?: [number, number][];
  /** Mean ms per row of full keyset batches. */
  msPerRow?: number;
}

type Variant = { name: string; run: (db: Db, size: BackfillSize) => Promise<Sample> };

/** Legacy rows the variant dealt with: v2 messages written plus rows it quarantined (2 % of the seed is dirty). */
async function v2Count(db: Db): Promise<number> {
  const [r] = await db.query<{ n: number }>(
    `select ((select count(*) from public.chat_messages_v2) + (select count(*) from chat_migration.quarantine))::int as n`,
  );
  return r?.n ?? 0;
}

function keyset(batch: number): Variant {
  return {
    name: `keyset_${batch}`,
    async run(db) {
      const { value, peakRssMb } = await withPeakRss(() => timed(() => db.query(`call public.run_chat_migration($1)`, [batch])));
      const batches = await db.query<{ phase: string; ms: number; n: number }>(
        `select b.phase, b.milliseconds::float8 as ms, (b.migrated + b.quarantined) as n
           from chat_migration.batches b order by b.batch_number`,
      );
      const back = batches.filter((b) => b.phase === 'backfill');
      const full = back.filter((b) => b.n === batch);
      const sweep = batches.filter((b) => b.phase === 'sweep').reduce((s, b) => s + b.ms, 0);
      return {
        ms: value.ms,
        cpuMs: value.cpuMs,
        rows: await v2Count(db),
        firstBatchMs: back[0]?.ms ?? NaN,
        lastBatchMs: (full.length ? full[full.length - 1] : back[back.length - 1])?.ms ?? NaN,
        batches: back.length,
        peakRssMb,
        msPerRow: full.length ? full.reduce((a, b) => a + b.ms, 0) / full.length / batch : NaN,
        extra: { sweep_ms: sweep, ledger_batch_ms_sum: batches.reduce((s, b) => s + b.ms, 0) },
      };
    },
  };
}

function offset(sleepS: number): Variant {
  return {
    name: sleepS > 0 ? 'offset_sleep' : 'offset',
    async run(db, size) {
      if (size.offset === 'sampled') return sampledOffset(db, size.rows, sleepS);
      const { value, peakRssMb } = await withPeakRss(() =>
        timed(() =>
          db.query<{ batch_ms: number; records_migrated: number }>(
            `select batch_ms, records_migrated from bench.seed_migrate_with_progress($1, $2)`,
            [offsetBatch, sleepS],
          ),
        ),
      );
      const b = value.value;
      const full = b.filter((x) => x.records_migrated === offsetBatch);
      const workMs = b.reduce((a, x) => a + x.batch_ms, 0);
      return {
        ms: value.ms,
        cpuMs: value.cpuMs + sleepS * 1000 * b.length,
        rows: await v2Count(db),
        firstBatchMs: b[0]?.batch_ms ?? NaN,
        lastBatchMs: (full.length ? full[full.length - 1] : b[b.length - 1])?.batch_ms ?? NaN,
        batches: b.length,
        peakRssMb,
        series: b.map((x, i) => [i * offsetBatch, x.batch_ms] as [number, number]),
        extra: { batch_ms_sum: workMs },
      };
    },
  };
}

let offsetBatch = 1000;

/** Pages at 5 offsets (0, ¼, ½, ¾, last) timed alone, then the whole run integrated by the trapezoid rule. */
async function sampledOffset(db: Db, rows: number, sleepS: number): Promise<Sample> {
  const batches = Math.ceil(rows / offsetBatch);
  const points = [0, 0.25, 0.5, 0.75, 1].map((f) => Math.min(batches - 1, Math.round(f * (batches - 1))));
  const times: number[] = [];
  const cpus: number[] = [];
  let peak = 0;
  for (const p of points) {
    const { value, peakRssMb } = await withPeakRss(() =>
      timed(() => db.query<{ ms: number }>(`select bench.seed_page_at($1, $2) as ms`, [p * offsetBatch, offsetBatch])),
    );
    times.push(value.value[0]!.ms);
    cpus.push(value.cpuMs);
    peak = Math.max(peak, peakRssMb);
  }
  // trapezoid over the sampled batch numbers, plus the two half-end points (sum over every batch, not the integral)
  const integrate = (ys: number[]) => {
    let total = (ys[0]! + ys[ys.length - 1]!) / 2;
    for (let i = 1; i < points.length; i++) total += ((ys[i - 1]! + ys[i]!) / 2) * (points[i]! - points[i - 1]!);
    return total;
  };
  const sleep = sleepS * 1000 * batches;
  return {
    ms: integrate(times) + sleep,
    cpuMs: integrate(cpus) + sleep,
    rows,
    firstBatchMs: times[0]!,
    lastBatchMs: times[times.length - 1]!,
    batches,
    peakRssMb: peak,
    extra: { sampled: 1 },
    series: points.map((p, i) => [p * offsetBatch, times[i]!] as [number, number]),
  };
}

const ctas: Variant = {
  name: 'ctas',
  async run(db) {
    const { value, peakRssMb } = await withPeakRss(() => timed(() => db.query<{ n: number }>(`select bench.ctas_copy()::int as n`)));
    return { ms: value.ms, cpuMs: value.cpuMs, rows: Number(value.value[0]!.n), firstBatchMs: value.ms, lastBatchMs: value.ms, batches: 1, peakRssMb };
  },
};

const setBased: Variant = {
  name: 'set_based',
  async run(db) {
    const { value, peakRssMb } = await withPeakRss(() => timed(() => db.query(`select bench.set_based_copy()`)));
    return { ms: value.ms, cpuMs: value.cpuMs, rows: await v2Count(db), firstBatchMs: value.ms, lastBatchMs: value.ms, batches: 1, peakRssMb };
  },
};

/** Least-squares line through (x, y). */
function fit(points: [number, number][]): { intercept: number; slope: number } {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  const sxx = points.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
  const slope = sxx ? points.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0) / sxx : 0;
  return { intercept: my - slope * mx, slope };
}

/**
 * What 1M rows would take, from this size's measurements: OFFSET batch cost grows linearly with the rows it
 * skips (fit over every measured batch), so its 1M total is the sum of that line over 1000 batches plus the
 * seed's 0.1 s sleeps; keyset batch cost is flat (see last/first), so its 1M rate is its measured ms per row.
 * A projection, labelled as such in the docs — not a measurement.
 */
function project1M(offsetSamples: Sample[], keysetSamples: Sample[]) {
  const rows = 1_000_000;
  const series = offsetSamples.flatMap((s) => s.series ?? []);
  // a line through a handful of noisy batches says nothing: fit only when the offsets span ≥ 10k rows
  const span = Math.max(0, ...series.map((p) => p[0]));
  if (new Set(series.map((p) => p[0])).size < 5 || span < 10_000) return null;
  const msPerRow = keysetSamples.map((s) => s.msPerRow ?? NaN).filter(Number.isFinite).sort((a, b) => a - b);
  if (series.length < 2 || msPerRow.length === 0) return null;
  const { intercept, slope } = fit(series);
  if (!(slope > 0)) return null;
  const batches = rows / offsetBatch;
  let offsetMs = 0;
  for (let i = 0; i < batches; i++) offsetMs += Math.max(0, intercept + slope * i * offsetBatch);
  const keysetRate = 1000 / msPerRow[msPerRow.length >> 1]!;
  const offsetRate = (rows / (offsetMs + SEED_SLEEP_S * 1000 * batches)) * 1000;
  const offsetNoSleepRate = (rows / offsetMs) * 1000;
  return {
    offset_batch_ms_intercept: Number(intercept.toFixed(2)),
    offset_batch_ms_per_1000_skipped_rows: Number((slope * 1000).toFixed(3)),
    keyset_ms_per_row: Number(msPerRow[msPerRow.length >> 1]!.toFixed(4)),
    keyset_rows_per_s: Math.round(keysetRate),
    offset_rows_per_s: Math.round(offsetRate),
    offset_nosleep_rows_per_s: Math.round(offsetNoSleepRate),
    keyset_over_offset: Number((keysetRate / offsetRate).toFixed(2)),
  };
}

function summarize(samples: Sample[], rows: number) {
  const f = (xs: number[]) => figure(xs);
  return {
    rows_per_s: f(samples.map((s) => (rows / s.ms) * 1000)),
    cpu_rows_per_s: f(samples.map((s) => (rows / s.cpuMs) * 1000)),
    total_ms: f(samples.map((s) => s.ms)),
    cpu_ms: f(samples.map((s) => s.cpuMs)),
    first_batch_ms: f(samples.map((s) => s.firstBatchMs)),
    last_batch_ms: f(samples.map((s) => s.lastBatchMs)),
    batches: samples[0]?.batches ?? 0,
    peak_rss_mb: f(samples.map((s) => s.peakRssMb)),
    v2_rows: samples[0]?.rows ?? 0,
    ...(samples[0]?.extra
      ? Object.fromEntries(Object.keys(samples[0].extra).map((k) => [k, f(samples.map((s) => s.extra?.[k] ?? NaN))]))
      : {}),
  };
}

export async function run(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { cfg, log } = ctx;
  offsetBatch = cfg.backfill.offsetBatch;
  const probe = await openMigrated();
  try {
    if (!(await hasFunction(probe, 'chat_migration.copy_messages(bigint[])')) || !(await hasFunction(probe, 'public.run_chat_migration(integer,integer)'))) {
      return notMeasured('the data-migration SQL (run_chat_migration, chat_migration.copy_messages) is not in this checkout');
    }
  } finally {
    await probe.close();
  }

  const sizes = [];
  const notes: string[] = [];
  const seeds: Record<string, unknown>[] = [];
  for (const size of cfg.backfill.sizes) {
    const db = await openMigrated();
    try {
      await loadBenchSql(db, 'seed_migrate_with_progress.sql');
      const t = await timed(() =>
        seedLegacy(db, { conversations: Math.max(1, Math.round(size.rows / 100)), messages: size.rows, dirtyRate: cfg.backfill.dirtyRate, seed: 1 }),
      );
      seeds.push({ rows: size.rows, ms: Math.round(t.ms), rows_per_s: Math.round((size.rows / t.ms) * 1000), method: t.value.method, expected_quarantine: t.value.expectedQuarantine.messages });
      await db.exec(`vacuum analyze public.chat_messages`);
      log(`backfill: seeded ${size.rows} legacy rows in ${Math.round(t.ms)} ms`);
      const noSleepRun = size.offsetNoSleepRun ?? true;
      const variants: Variant[] = [
        keyset(cfg.backfill.keysetBatch),
        ...cfg.backfill.extraKeysetBatches.map(keyset),
        ...(noSleepRun || !size.offsetSleepRun ? [offset(0)] : []),
        ...(size.offsetSleepRun ? [offset(SEED_SLEEP_S)] : []),
        setBased,
        ctas,
      ];
      const samples = new Map<string, Sample[]>(variants.map((v) => [v.name, []]));
      for (let rep = 0; rep < size.reps; rep++) {
        for (const v of rotate(variants, rep)) {
          await resetV2(db);
          const s = await v.run(db, size);
          samples.get(v.name)!.push(s);
          log(`backfill ${size.rows} rep ${rep + 1}/${size.reps} ${v.name}: ${Math.round(s.ms)} ms wall, ${Math.round(s.cpuMs)} ms cpu (${Math.round((size.rows / s.ms) * 1000)} rows/s)`);
        }
      }
      const by = Object.fromEntries([...samples].map(([k, v]) => [k, summarize(v, size.rows)]));
      const ks = by[`keyset_${cfg.backfill.keysetBatch}`]!;
      // no separate no-sleep run: the with-sleep run's own conversion time (its batch times summed)
      const offNoSleepDerived = !by.offset;
      if (offNoSleepDerived) {
        const sl = samples.get('offset_sleep')!;
        samples.set('offset', sl.map((x) => ({ ...x, ms: x.extra!.batch_ms_sum!, cpuMs: NaN })));
        by.offset = summarize(samples.get('offset')!, size.rows);
      }
      const off = by.offset!;
      let offSleep: Figure;
      let offSleepCpu: Figure;
      let offSleepDerived = false;
      if (by.offset_sleep) {
        offSleep = by.offset_sleep.rows_per_s;
        offSleepCpu = by.offset_sleep.cpu_rows_per_s;
      } else {
        offSleepDerived = true;
        const sleepMs = (s: Sample) => SEED_SLEEP_S * 1000 * s.batches;
        offSleep = figure(samples.get('offset')!.map((s) => (size.rows / (s.ms + sleepMs(s))) * 1000));
        offSleepCpu = figure(samples.get('offset')!.map((s) => (size.rows / (s.cpuMs + sleepMs(s))) * 1000));
      }
      sizes.push({
        rows: size.rows,
        reps: size.reps,
        keyset_batch_size: cfg.backfill.keysetBatch,
        offset_batch_size: offsetBatch,
        keyset_rows_per_s: ks.rows_per_s,
        offset_rows_per_s: offSleep,
        offset_rows_per_s_derived: offSleepDerived,
        offset_nosleep_rows_per_s: off.rows_per_s,
        offset_nosleep_from_sleep_run: offNoSleepDerived,
        set_based_rows_per_s: by.set_based!.rows_per_s,
        ctas_rows_per_s: by.ctas!.rows_per_s,
        first_batch_ms: ks.first_batch_ms,
        last_batch_ms: ks.last_batch_ms,
        offset_first_batch_ms: off.first_batch_ms,
        offset_last_batch_ms: off.last_batch_ms,
        offset_sampled: size.offset === 'sampled',
        peak_rss_mb: Object.fromEntries(Object.entries(by).map(([k, v]) => [k, v.peak_rss_mb])),
        cpu_rows_per_s: {
          keyset: ks.cpu_rows_per_s,
          offset: offSleepCpu,
          offset_nosleep: off.cpu_rows_per_s,
          set_based: by.set_based!.cpu_rows_per_s,
        },
        cpu_ratios: {
          keyset_over_set_based: ratio(ks.cpu_rows_per_s, by.set_based!.cpu_rows_per_s),
          keyset_over_offset: ratio(ks.cpu_rows_per_s, offSleepCpu),
          keyset_over_offset_nosleep: ratio(ks.cpu_rows_per_s, off.cpu_rows_per_s),
        },
        ratios: {
          keyset_over_set_based: ratio(ks.rows_per_s, by.set_based!.rows_per_s),
          keyset_over_ctas: ratio(ks.rows_per_s, by.ctas!.rows_per_s),
          keyset_over_offset: ratio(ks.rows_per_s, offSleep),
          keyset_over_offset_nosleep: ratio(ks.rows_per_s, off.rows_per_s),
          last_over_first_batch: ratio(ks.last_batch_ms, ks.first_batch_ms),
        },
        projection_1m: project1M(samples.get('offset')!, samples.get(`keyset_${cfg.backfill.keysetBatch}`)!),
        variants: by,
      });
    } finally {
      await db.close();
    }
  }
  const largest = sizes[sizes.length - 1];
  const goals = largest
    ? [
        goal(`keyset / set-based rows/s at ${largest.rows}`, '≥ 0.6', largest.ratios.keyset_over_set_based, '>=', 0.6),
        goal(`keyset / OFFSET (with sleep) rows/s at ${largest.rows}`, '≥ 10 (at 1M)', largest.ratios.keyset_over_offset, '>=', 10),
        goal(`keyset last / first batch at ${largest.rows}`, '≤ 1.3', largest.ratios.last_over_first_batch, '<=', 1.3),
      ]
    : [];
  if (largest && largest.rows < 1_000_000) {
    notes.push(`largest size run: ${largest.rows} rows (the a/b ≥ 10 goal is stated at 1M; projection_1m extrapolates it from the measured per-batch costs)`);
    if (largest.projection_1m) {
      goals.push(goal('keyset / OFFSET (with sleep) at 1M — projected', '≥ 10', largest.projection_1m.keyset_over_offset, '>=', 10));
    }
  }
  return { status: 'measured', notes, goals, dirty_rate: cfg.backfill.dirtyRate, seeds, sizes };
}
