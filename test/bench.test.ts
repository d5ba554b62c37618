/**
 * Smoke test of the benchmark harness: every scenario runs at toy sizes (1 repetition, a few hundred rows) and
 * results.json / docs keep their shape. Timings are never asserted here — performance is measured by
 * `npm run bench`, not by tests.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markers } from '../bench/report.ts';
import { runBench, scenarios, writeResults, type BenchResults } from '../bench/run.ts';

const figure = expect.objectContaining({ median: expect.any(Number), min: expect.any(Number), max: expect.any(Number), n: expect.any(Number) });

describe('bench harness (toy sizes)', () => {
  let dir: string;
  let res: BenchResults;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ajc-bench-test-'));
    res = await runBench({ mode: 'toy', log: () => {} });
  }, 600_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('records the machine', () => {
    expect(res.machine).toMatchObject({
      cores: expect.any(Number),
      memory_gb: expect.any(Number),
      node: expect.stringMatching(/^v\d+/),
      pglite: expect.any(String),
      pgvector: expect.any(String),
      date: expect.any(String),
      mode: 'toy',
    });
  });

  it('answers for every scenario, measured or with a reason', () => {
    expect(Object.keys(res.scenarios).sort()).toEqual(Object.keys(scenarios).sort());
    for (const [name, s] of Object.entries(res.scenarios)) {
      expect(['measured', 'not measured'], name).toContain(s.status);
      expect(Array.isArray(s.notes)).toBe(true);
      expect(Array.isArray(s.goals)).toBe(true);
      if (s.status === 'not measured') expect(s.notes.join(' '), name).toMatch(/not measured: /);
    }
    // the SQL pieces are all in this checkout: only the process-spawning stack is skipped at toy size
    for (const name of ['backfill', 'page', 'vector', 'dual_write', 'state']) {
      expect(res.scenarios[name]!.status, `${name}: ${res.scenarios[name]!.notes.join('; ')}`).toBe('measured');
    }
  });

  it('backfill has the issue’s per-size shape', () => {
    const sizes = res.scenarios.backfill!.sizes as Record<string, unknown>[];
    expect(sizes.length).toBeGreaterThan(0);
    for (const s of sizes) {
      expect(s).toMatchObject({
        rows: expect.any(Number),
        keyset_rows_per_s: figure,
        offset_rows_per_s: figure,
        set_based_rows_per_s: figure,
        first_batch_ms: figure,
        last_batch_ms: figure,
      });
    }
    // every variant converted every legacy row
    for (const v of Object.values((sizes[0] as { variants: Record<string, { v2_rows: number }> }).variants)) {
      expect(v.v2_rows).toBe(sizes[0]!.rows);
    }
  });

  it('page, vector, dual_write and state report latencies and goals', () => {
    const page = res.scenarios.page as Record<string, any>;
    expect(page.latency.v2_page.p50_ms).toEqual(figure);
    expect(page.goals.length).toBeGreaterThan(0);
    const vector = res.scenarios.vector as Record<string, any>;
    expect(vector.methods.map((m: { name: string }) => m.name)).toContain('exact');
    for (const m of vector.methods) expect(m.recall_at_10).toBeGreaterThanOrEqual(0);
    const dual = res.scenarios.dual_write as Record<string, any>;
    expect(dual.single_row.legacy_insert_dual_write.p50_ms).toEqual(figure);
    const state = res.scenarios.state as Record<string, any>;
    expect(state.writes.save_agent_state.p50_ms).toEqual(figure);
    expect(state.reads.load_current.p50_ms).toEqual(figure);
  });

  it('writes results.json and regenerates only the marked part of the docs', async () => {
    const out = join(dir, 'results.json');
    const docs = join(dir, 'benchmarks.md');
    const { begin, end } = markers('toy');
    await writeFile(docs, `# Benchmarks\n\nhand-written intro\n\n${begin}\nstale\n${end}\n\nhand-written analysis\n`);
    await writeResults(res, out, docs);
    const json = JSON.parse(await readFile(out, 'utf8'));
    expect(Object.keys(json)).toEqual(['machine', 'scenarios']);
    const md = await readFile(docs, 'utf8');
    expect(md).toContain('hand-written intro');
    expect(md).toContain('hand-written analysis');
    expect(md).not.toContain('stale');
    expect(md).toContain('### backfill');
  });
});
