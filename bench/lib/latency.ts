/**
 * Interleaved latency measurement: per repetition, each target is run once by every variant (order rotated),
 * so each variant sees the same targets under the same conditions. Per repetition we keep p50 / p95 / mean;
 * the reported figure is the median of those over repetitions, with min and max.
 */
import { cpuCounts, figure, percentile, rotate, type Figure } from './stats.ts';

export interface LatencyVariant<T> {
  name: string;
  /** Untimed preparation before each timed call (e.g. `set ivfflat.probes`). */
  before?: () => Promise<void>;
  run: (target: T) => Promise<unknown>;
}

export interface LatencyFigures {
  p50_ms: Figure;
  p95_ms: Figure;
  mean_ms: Figure;
  /** Process CPU time per call (PGlite is in-process): robust when other processes load the machine. */
  p50_cpu_ms: Figure;
}

export async function measureLatency<T>(
  variants: LatencyVariant<T>[],
  targets: T[],
  reps: number,
  onResult?: (variant: string, target: T, value: unknown) => void,
  warmup = 1,
): Promise<Record<string, LatencyFigures>> {
  const perRep = new Map<string, { p50: number[]; p95: number[]; mean: number[]; cpu: number[] }>(
    variants.map((v) => [v.name, { p50: [], p95: [], mean: [], cpu: [] }]),
  );
  // one untimed warm-up pass: plans cached, pages in memory (a server would be warm too)
  for (const v of variants) {
    for (let w = 0; w < warmup; w++) {
      await v.before?.();
      await v.run(targets[w % targets.length]!);
    }
  }
  for (let rep = 0; rep < reps; rep++) {
    const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
    const cpu = new Map<string, number[]>(variants.map((v) => [v.name, []]));
    for (let i = 0; i < targets.length; i++) {
      for (const v of rotate(variants, rep + i)) {
        await v.before?.();
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        const value = await v.run(targets[i]!);
        samples.get(v.name)!.push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        cpu.get(v.name)!.push(cpuCounts() ? (c.user + c.system) / 1000 : NaN);
        if (rep === 0) onResult?.(v.name, targets[i]!, value);
      }
    }
    for (const [name, xs] of samples) {
      const agg = perRep.get(name)!;
      agg.p50.push(percentile(xs, 50));
      agg.p95.push(percentile(xs, 95));
      agg.mean.push(xs.reduce((a, b) => a + b, 0) / xs.length);
      agg.cpu.push(percentile(cpu.get(name)!, 50));
    }
  }
  return Object.fromEntries(
    [...perRep].map(([name, a]) => [name, { p50_ms: figure(a.p50), p95_ms: figure(a.p95), mean_ms: figure(a.mean), p50_cpu_ms: figure(a.cpu) }]),
  );
}
