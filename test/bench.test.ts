/**
 * Smoke test of the benchmark harness: every scenario runs at toy sizes (1 repetition, a few hundred rows) and
 * results.json / docs keep their shape. Timings are never asserted here — performance is measured by
 * `npm run bench`, not by tests.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyGoals } from '../bench/goals.ts';
import { markers, renderCompare, renderResults, sectionOf } from '../bench/report.ts';
import { runBench, scenarios, writeResults, type BenchResults } from '../bench/run.ts';
import { onNative, testServerUrl } from './helpers/db.ts';

const figure = expect.objectContaining({ median: expect.any(Number), min: expect.any(Number), max: expect.any(Number), n: expect.any(Number) });

describe('bench harness (toy sizes)', () => {
  let dir: string;
  let res: BenchResults;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ajc-bench-test-'));
    // the native lane runs the harness against its server (every scenario in a throwaway database there)
    res = await runBench({ mode: 'toy', log: () => {}, ...(onNative ? { databaseUrl: testServerUrl! } : {}) });
    applyGoals(res);
  }, 600_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('records the machine', () => {
    expect(res.machine).toMatchObject({
      cores: expect.any(Number),
      memory_gb: expect.any(Number),
      node: expect.stringMatching(/^v\d+/),
      ...(onNative ? { postgres: expect.stringMatching(/PostgreSQL/) } : { pglite: expect.any(String) }),
      pgvector: expect.any(String),
      date: expect.any(String),
      mode: 'toy',
      engine: onNative ? 'native' : 'pglite',
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
    // the SQL pieces are all in this checkout: only the process-spawning stack is skipped at toy size, and the
    // multi-session scenario on PGlite (one session)
    const measured = ['backfill', 'page', 'vector', 'dual_write', 'state', ...(onNative ? ['backfill_under_load'] : [])];
    for (const name of measured) {
      expect(res.scenarios[name]!.status, `${name}: ${res.scenarios[name]!.notes.join('; ')}`).toBe('measured');
    }
    if (!onNative) expect(res.scenarios.backfill_under_load!.notes.join(' ')).toMatch(/not measured: .*one session/);
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
        ctas_rows_per_s: figure,
      });
    }
    // every variant converted every legacy row
    for (const v of Object.values((sizes[0] as { variants: Record<string, { v2_rows: number }> }).variants)) {
      expect(v.v2_rows).toBe(sizes[0]!.rows);
    }
  });

  it('backfill_under_load has the issue’s shape (native lane: real sessions)', () => {
    if (!onNative) return; // PGlite: asserted "not measured" above
    expect(res.scenarios.backfill_under_load).toMatchObject({
      writers: expect.any(Number),
      writer_p95_ms_idle: expect.any(Number),
      writer_p95_ms_during: expect.any(Number),
      backfill_rows_per_s_idle: expect.any(Number),
      backfill_rows_per_s_loaded: expect.any(Number),
    });
    // writers and the backfill really overlapped, and the backfill left nothing behind
    const ul = res.scenarios.backfill_under_load as Record<string, any>;
    expect(ul.writer_latency.during.n).toBeGreaterThan(0);
    expect(ul.legacy_rows_left_behind).toBe(0);
  });

  it('every issue target has a goal, evaluated', () => {
    const goals = Object.values(res.scenarios).flatMap((s) => s.goals.map((g) => g.target));
    for (const t of ['≥ 25,000', '≥ 0.065', '≥ 10', '≤ 1.3', '≤ 1.5', '≤ 2.2', '≤ 1.2', '≤ 2', '≥ 0.95', '≤ 0.1']) expect(goals).toContain(t);
    if (onNative) expect(goals).toEqual(expect.arrayContaining(['≤ 3', '≥ 0.5']));
  });

  it('page, vector, dual_write and state report latencies and goals', () => {
    const page = res.scenarios.page as Record<string, any>;
    expect(page.latency.v2_page.p50_ms).toEqual(figure);
    expect(page.goals.length).toBeGreaterThan(0);
    const vector = res.scenarios.vector as Record<string, any>;
    expect(vector.methods.map((m: { name: string }) => m.name)).toEqual(expect.arrayContaining(['exact', 'default']));
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
    const { begin, end } = markers(onNative ? 'native-toy' : 'toy');
    await writeFile(docs, `# Benchmarks\n\nhand-written intro\n\n${begin}\nstale\n${end}\n\nhand-written analysis\n`);
    await writeResults(res, out, docs);
    const json = JSON.parse(await readFile(out, 'utf8'));
    expect(Object.keys(json)).toEqual(['machine', 'scenarios']);
    const md = await readFile(docs, 'utf8');
    expect(md).toContain('hand-written intro');
    expect(md).toContain('hand-written analysis');
    expect(md).not.toContain('stale');
    expect(md).toContain('### backfill');
    // the side-by-side table lines the goals of two runs up
    const cmp = renderCompare(res, res);
    expect(cmp).toContain('| backfill |');
    expect(cmp.split('\n').length).toBeGreaterThan(10);
  });
});

/**
 * The committed native result (a full `npm run bench -- --native`) and the docs generated from it: the issue's
 * result shape, and docs/benchmarks.md holding exactly what the generator makes of the committed files — so
 * the tables cannot drift from the JSON, and a re-run regenerates both. Shapes and text only, no timings.
 */
describe('committed results and docs', () => {
  const root = join(import.meta.dirname, '..');
  const load = async (f: string) => JSON.parse(await readFile(join(root, 'bench', f), 'utf8')) as BenchResults;
  const section = (md: string, name: string) => {
    const { begin, end } = markers(name);
    expect(md, `docs/benchmarks.md has the ${name} markers`).toContain(begin);
    return md.slice(md.indexOf(begin) + begin.length, md.indexOf(end)).trim();
  };

  it('bench/results.native.json is a native full run with the issue’s backfill and backfill_under_load shape', async () => {
    const res = await load('results.native.json');
    expect(res.machine).toMatchObject({ engine: 'native', mode: 'full', postgres: expect.stringMatching(/PostgreSQL 15/) });
    const b = res.scenarios.backfill as Record<string, any>;
    const ul = res.scenarios.backfill_under_load as Record<string, any>;
    const isFigure = (x: unknown) => typeof x === 'number' || (typeof x === 'object' && x !== null && typeof (x as { median: unknown }).median === 'number');
    if (b.status === 'measured') {
      for (const s of b.sizes) {
        expect(s.rows).toEqual(expect.any(Number));
        for (const k of ['keyset_rows_per_s', 'offset_rows_per_s', 'set_based_rows_per_s', 'ctas_rows_per_s', 'first_batch_ms', 'last_batch_ms']) {
          expect(isFigure(s[k]), `backfill.sizes[].${k}`).toBe(true);
        }
      }
    } else expect(b.notes.join(' ')).toMatch(/not measured: /);
    if (ul.status === 'measured') {
      expect(ul).toMatchObject({
        writers: expect.any(Number),
        writer_p95_ms_idle: expect.any(Number),
        writer_p95_ms_during: expect.any(Number),
        backfill_rows_per_s_idle: expect.any(Number),
        backfill_rows_per_s_loaded: expect.any(Number),
      });
    } else expect(ul.notes.join(' ')).toMatch(/not measured: /);
  });

  it('docs/benchmarks.md holds the tables generated from the committed result files, side by side included', async () => {
    const md = await readFile(join(root, 'docs', 'benchmarks.md'), 'utf8');
    const native = await load('results.native.json');
    const pglite = await load('results.json');
    applyGoals(native);
    applyGoals(pglite);
    expect(section(md, sectionOf(native))).toBe(renderResults(native));
    expect(section(md, sectionOf(pglite))).toBe(renderResults(pglite));
    expect(section(md, 'compare')).toBe(renderCompare(pglite, native).trim());
  });
});
