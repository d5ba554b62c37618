/**
 * What each mode runs. `full` is sized for ≤ 30 min and `quick` for ≤ 90 s on a 2-core machine; `toy` is the
 * smoke test's (seconds, shapes only). Every reduction from the sizes is listed in `notes` and lands in
 * results.json and docs/benchmarks.md.
 */
export type Mode = 'quick' | 'full' | 'toy';

export interface BackfillSize {
  rows: number;
  /** Repetitions at this size (≥ 5 except where a note says otherwise). */
  reps: number;
  /** 'run' = the whole OFFSET function; 'sampled' = pages timed at 5 offsets and integrated (O(n²) at 1M). */
  offset: 'run' | 'sampled';
  /** Measure the seed's pg_sleep(0.1) variant by running it (else derived: no-sleep time + 0.1 s × batches). */
  offsetSleepRun: boolean;
}

export interface BenchConfig {
  mode: Mode;
  reps: number;
  backfill: { sizes: BackfillSize[]; keysetBatch: number; offsetBatch: number; extraKeysetBatches: number[] };
  page: { rows: number; queries: number };
  vector: { rows: number; queries: number; clusters: number; probes: number[]; hnsw: boolean; efSearch: number[] };
  dualWrite: { singleRowInserts: number; batchRows: number };
  state: { streams: number; versionsPerStream: number; ops: number };
  stack: { enabled: boolean; coldStarts: number; clients: number; requestsPerClient: number };
  notes: string[];
}

export function configFor(mode: Mode): BenchConfig {
  if (mode === 'toy') {
    return {
      mode,
      reps: 1,
      backfill: { sizes: [{ rows: 300, reps: 1, offset: 'run', offsetSleepRun: true }], keysetBatch: 100, offsetBatch: 100, extraKeysetBatches: [] },
      page: { rows: 300, queries: 5 },
      vector: { rows: 200, queries: 3, clusters: 4, probes: [1, 2], hnsw: true, efSearch: [40] },
      dualWrite: { singleRowInserts: 5, batchRows: 20 },
      state: { streams: 3, versionsPerStream: 3, ops: 5 },
      stack: { enabled: false, coldStarts: 1, clients: 2, requestsPerClient: 1 },
      notes: ['toy sizes (smoke test): shapes only, the figures mean nothing'],
    };
  }
  if (mode === 'quick') {
    return {
      mode,
      reps: 5,
      backfill: {
        sizes: [
          { rows: 10_000, reps: 5, offset: 'run', offsetSleepRun: true },
          { rows: 50_000, reps: 3, offset: 'run', offsetSleepRun: false },
        ],
        keysetBatch: 5000,
        offsetBatch: 1000,
        extraKeysetBatches: [],
      },
      page: { rows: 50_000, queries: 100 },
      vector: { rows: 5_000, queries: 20, clusters: 50, probes: [1, 2, 4, 8, 16, 32], hnsw: true, efSearch: [40] },
      dualWrite: { singleRowInserts: 100, batchRows: 1000 },
      state: { streams: 50, versionsPerStream: 20, ops: 100 },
      stack: { enabled: true, coldStarts: 1, clients: 50, requestsPerClient: 2 },
      notes: [
        'quick: backfill at 10k (5 reps) and 50k (3 reps); the OFFSET-with-sleep figure at 50k is derived (no-sleep time + 0.1 s × batches), not run',
        'quick: page among 50k v2 messages (issue: 1M); vector 5k memories (issue: 100k), HNSW with default ef_search only',
        'quick: stack cold start measured once; 50 clients × 2 requests per endpoint',
      ],
    };
  }
  return {
    mode,
    reps: 5,
    backfill: {
      sizes: [
        { rows: 10_000, reps: 5, offset: 'run', offsetSleepRun: true },
        { rows: 100_000, reps: 5, offset: 'run', offsetSleepRun: false },
        { rows: 1_000_000, reps: 3, offset: 'sampled', offsetSleepRun: false },
      ],
      keysetBatch: 5000,
      offsetBatch: 1000,
      extraKeysetBatches: [1000],
    },
    page: { rows: 1_000_000, queries: 200 },
    vector: { rows: 20_000, queries: 50, clusters: 100, probes: [1, 2, 4, 8, 16, 32], hnsw: true, efSearch: [40, 100] },
    dualWrite: { singleRowInserts: 300, batchRows: 5000 },
    state: { streams: 200, versionsPerStream: 50, ops: 300 },
    stack: { enabled: true, coldStarts: 5, clients: 50, requestsPerClient: 10 },
    notes: [
      'full: backfill at 1M runs 3 repetitions (not 5) and times the OFFSET baseline by sampling pages at 5 offsets (the full O(n²) run takes hours); with-sleep figures above 10k are derived (no-sleep + 0.1 s × batches)',
      'full: vector at 20k memories (issue: 100k) — building HNSW over 100k × 1536 in single-threaded WASM alone exceeds the 30-minute budget',
    ],
  };
}
