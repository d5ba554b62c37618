/**
 * Measurement primitives shared by every scenario: a figure is the median of ≥ N repetitions with its
 * min and max; variants of one comparison are interleaved inside each repetition so drift (GC, WASM heap
 * growth, page cache) hits them alike.
 */
import { cpus, totalmem } from 'node:os';

export interface Figure {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function figure(samples: number[]): Figure {
  if (samples.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median: round(median), min: round(s[0]!), max: round(s[s.length - 1]!), n: s.length };
}

/** The p-th percentile (0..100) by nearest rank. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[rank]!;
}

export function round(x: number, digits = 3): number {
  if (!Number.isFinite(x)) return x;
  const abs = Math.abs(x);
  const d = abs >= 100 ? 1 : abs >= 1 ? 2 : digits + 1;
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

/** Ratio of two medians, rounded. */
export function ratio(a: Figure | number, b: Figure | number): number {
  const x = typeof a === 'number' ? a : a.median;
  const y = typeof b === 'number' ? b : b.median;
  return round(x / y);
}

let cpuIsDatabase = true;
/**
 * Whether this process's CPU time is the database's work: true on PGlite (in-process WASM), false on a server
 * (another process), where CPU figures are recorded as NaN (null in results.json) and goals use wall-clock time.
 */
export function setCpuIsDatabase(v: boolean): void {
  cpuIsDatabase = v;
}
export const cpuCounts = () => cpuIsDatabase;

/**
 * Wall-clock AND process CPU time of `fn`. PGlite runs inside this process (WASM on the main thread), so CPU time
 * is the database's work and barely moves when other processes compete for the cores — wall time does.
 */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; cpuMs: number; value: T }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { ms, cpuMs: cpuIsDatabase ? (c.user + c.system) / 1000 : NaN, value };
}

/** Samples the process RSS every `everyMs` while `fn` runs; PGlite lives in this process, so RSS is the database's too. */
export async function withPeakRss<T>(fn: () => Promise<T>, everyMs = 25): Promise<{ value: T; peakRssMb: number; baseRssMb: number }> {
  const baseRss = process.memoryUsage.rss();
  let peak = baseRss;
  const timer = setInterval(() => {
    const r = process.memoryUsage.rss();
    if (r > peak) peak = r;
  }, everyMs);
  try {
    const value = await fn();
    const r = process.memoryUsage.rss();
    if (r > peak) peak = r;
    return { value, peakRssMb: round(peak / 2 ** 20), baseRssMb: round(baseRss / 2 ** 20) };
  } finally {
    clearInterval(timer);
  }
}

/** Rotates the variant order each repetition so no variant always runs first (warm caches, fresh heap). */
export function rotate<T>(items: T[], rep: number): T[] {
  const k = rep % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** Deterministic PRNG (mulberry32) so every run measures the same data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal from a uniform source (Box–Muller). */
export function gauss(r: () => number): number {
  const u = 1 - r();
  const v = r();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

export function machineBasics() {
  const c = cpus();
  return {
    cores: c.length,
    cpu_model: c[0]?.model ?? 'unknown',
    memory_gb: round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

export function log(msg: string): void {
  if (process.env.BENCH_SILENT) return;
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}
