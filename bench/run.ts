/**
 * npm run bench [-- --quick] [--native | --database-url URL] [--only backfill,page,…] [--out FILE] [--docs FILE] [--no-docs]
 *                [--render results.json]   (regenerate the docs section from a result file; measures nothing)
 *                [--merge a.json,b.json]   (combine runs of disjoint --only groups into --out and the docs)
 *
 * Runs every scenario (bench/scenarios/*.ts) in this process, one after the other, writes the result file and
 * regenerates the results section of docs/benchmarks.md. On embedded PGlite by default (bench/results.json);
 * with --database-url URL (a superuser on a server with pgvector) or --native (the `npm run db:native` server,
 * provisioned and started when needed) on that server (bench/results.native.json; a native --quick run writes
 * bench/results.native-quick.json and leaves the docs alone unless --docs is given), each scenario in a throwaway
 * database cloned from the server's migrated template. A scenario whose pieces are missing, or that fails, is
 * recorded as "not measured: <reason>" and the others still run.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCli, runMain, UsageError } from '../ops/cli/args.ts';
import { projectRoot } from '../ops/migrations/runner.ts';
import { configFor, type BenchConfig, type Mode } from './config.ts';
import { benchEngine, dropScratch, engineVersions, openMigrated, useServer } from './lib/db.ts';
import { log as defaultLog, machineBasics, round, setCpuIsDatabase } from './lib/stats.ts';
import type { ScenarioContext, ScenarioResult } from './lib/types.ts';
import { applyGoals } from './goals.ts';
import { updateDocs } from './report.ts';
import * as backfill from './scenarios/backfill.ts';
import * as backfillUnderLoad from './scenarios/backfill_under_load.ts';
import * as dualWrite from './scenarios/dual_write.ts';
import * as page from './scenarios/page.ts';
import * as stack from './scenarios/stack.ts';
import * as state from './scenarios/state.ts';
import * as vector from './scenarios/vector.ts';

export const scenarios: Record<string, (ctx: ScenarioContext) => Promise<ScenarioResult>> = {
  backfill: backfill.run,
  backfill_under_load: backfillUnderLoad.run,
  page: page.run,
  vector: vector.run,
  dual_write: dualWrite.run,
  state: state.run,
  stack: stack.run,
};

export interface BenchOptions {
  mode: Mode;
  /** A superuser URL of a real server (pgvector installed); default: embedded PGlite. */
  databaseUrl?: string;
  only?: string[];
  log?: (msg: string) => void;
  /** Adjust the mode's configuration (the smoke test shrinks it further). */
  tweak?: (cfg: BenchConfig) => void;
  /** Called after every scenario with the results so far (the CLI saves them, so a long run that is stopped keeps what it measured). */
  onProgress?: (partial: BenchResults) => Promise<void>;
}

export interface BenchResults {
  machine: Record<string, unknown>;
  scenarios: Record<string, ScenarioResult>;
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: projectRoot, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

export async function runBench(opts: BenchOptions): Promise<BenchResults> {
  const log = opts.log ?? defaultLog;
  useServer(opts.databaseUrl);
  setCpuIsDatabase(!opts.databaseUrl);
  const cfg = configFor(opts.mode, benchEngine());
  opts.tweak?.(cfg);
  const t0 = performance.now();
  const probe = await openMigrated();
  const versions = await engineVersions(probe).finally(() => probe.close());
  const machine: Record<string, unknown> = {
    ...machineBasics(),
    ...versions,
    mode: cfg.mode,
    engine: cfg.engine,
    date: new Date().toISOString(),
    git_commit: gitCommit(),
    load_avg_start: loadavg().map((x) => round(x)),
    repetitions: cfg.reps,
    notes: cfg.notes,
  };
  const names = opts.only?.length ? opts.only : Object.keys(scenarios);
  const results: Record<string, ScenarioResult> = {};
  for (const name of Object.keys(scenarios)) {
    if (!names.includes(name)) {
      results[name] = { status: 'not measured', notes: ['not measured: not selected (--only)'], goals: [] };
      continue;
    }
    const s0 = performance.now();
    log(`${name}: start`);
    try {
      results[name] = await scenarios[name]!({ cfg, log });
    } catch (e) {
      const err = e as Error;
      log(`${name}: FAILED ${err.stack ?? err.message}`);
      results[name] = { status: 'not measured', notes: [`not measured: failed — ${err.message.split('\n')[0]}`], goals: [] };
      await dropScratch();
    }
    results[name]!.duration_s = round((performance.now() - s0) / 1000);
    log(`${name}: done in ${Math.round((performance.now() - s0) / 1000)} s (${results[name]!.status})`);
    if (opts.onProgress) {
      const pending = Object.fromEntries(
        Object.keys(scenarios)
          .filter((k) => !(k in results))
          .map((k) => [k, { status: 'not measured' as const, notes: ['not measured: the run stopped before this scenario'], goals: [] }]),
      );
      await opts.onProgress({ machine: { ...machine, load_avg_end: loadavg().map((x) => round(x)), duration_s: round((performance.now() - t0) / 1000) }, scenarios: { ...results, ...pending } });
    }
  }
  machine.load_avg_end = loadavg().map((x) => round(x));
  machine.duration_s = round((performance.now() - t0) / 1000);
  return { machine, scenarios: results };
}

/** The committed result of the other engine, for the side-by-side section (null when absent or unreadable). */
async function otherEngine(res: BenchResults): Promise<BenchResults | null> {
  const file = join(projectRoot, 'bench', res.machine.engine === 'native' ? 'results.json' : 'results.native.json');
  try {
    return JSON.parse(await readFile(file, 'utf8')) as BenchResults;
  } catch {
    return null;
  }
}

export async function writeResults(res: BenchResults, out: string, docs: string | null): Promise<void> {
  applyGoals(res);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(res, null, 2)}\n`);
  if (docs) {
    const other = await otherEngine(res);
    if (other) applyGoals(other);
    await updateDocs(docs, res, other ?? undefined);
  }
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) {
  runMain(async () => {
    const { values: flags } = parseCli({
      usage:
        'usage: npm run bench -- [--quick | --toy] [--native | --database-url URL] [--only backfill,page,…] [--out FILE] [--docs FILE | --no-docs] [--render FILE] [--merge a.json,b.json]',
      entry: 'bench/run.ts',
      options: {
        quick: { type: 'boolean' },
        toy: { type: 'boolean' },
        only: { type: 'string' },
        out: { type: 'string' },
        docs: { type: 'string' },
        'no-docs': { type: 'boolean' },
        render: { type: 'string' },
        merge: { type: 'string' },
        native: { type: 'boolean' },
        'database-url': { type: 'string' },
      },
    });
    let databaseUrl = typeof flags['database-url'] === 'string' ? flags['database-url'] : undefined;
    if (flags.native === true && databaseUrl) throw new UsageError('--native and --database-url are two ways to name the server: pass one');
    if (flags.native === true) {
      const { ensureNativeCluster } = await import('../devstack/native/cluster.ts');
      databaseUrl = (await ensureNativeCluster({ root: projectRoot, log: (l) => defaultLog(l) })).url;
    }
    const mode: Mode = flags.quick === true ? 'quick' : flags.toy === true ? 'toy' : 'full';
    const only = typeof flags.only === 'string' ? flags.only.split(',').map((x) => x.trim()).filter(Boolean) : undefined;
    for (const o of only ?? []) if (!(o in scenarios)) throw new UsageError(`unknown scenario ${o}; known: ${Object.keys(scenarios).join(', ')}`);
    // a native run at the issue's sizes is the committed bench/results.native.json and regenerates the docs; a
    // native --quick / --toy run is a check of the lane: its own file, the docs only when asked (--docs)
    const nativeSmoke = Boolean(databaseUrl) && mode !== 'full';
    const out =
      typeof flags.out === 'string'
        ? resolve(flags.out)
        : join(projectRoot, 'bench', !databaseUrl ? 'results.json' : nativeSmoke ? `results.native-${mode}.json` : 'results.native.json');
    const docs =
      flags['no-docs'] === true || (nativeSmoke && typeof flags.docs !== 'string')
        ? null
        : typeof flags.docs === 'string'
          ? resolve(flags.docs)
          : join(projectRoot, 'docs', 'benchmarks.md');
    if (typeof flags.merge === 'string') {
      // --merge a.json,b.json: one result file from runs of disjoint scenario groups (--only), measured scenarios win
      const parts = await Promise.all(flags.merge.split(',').map(async (f) => JSON.parse(await readFile(resolve(f), 'utf8')) as BenchResults));
      const merged: BenchResults = { machine: { ...parts[0]!.machine }, scenarios: {} };
      for (const p of parts) {
        for (const [k, v] of Object.entries(p.scenarios)) {
          if (!merged.scenarios[k] || (merged.scenarios[k]!.status !== 'measured' && v.status === 'measured')) merged.scenarios[k] = v;
        }
      }
      merged.machine.duration_s = parts.reduce((a, p) => a + (Number(p.machine.duration_s) || 0), 0);
      merged.machine.load_avg_end = parts.map((p) => p.machine.load_avg_end).pop();
      merged.machine.notes = [
        ...((parts[0]!.machine.notes as string[]) ?? []),
        `ran as ${parts.length} processes, one per scenario group (--only) (${parts.map((p) => Object.entries(p.scenarios).filter(([, v]) => v.status === 'measured').map(([k]) => k).join('+')).join(' | ')}); duration = their sum (run one after the other)`,
      ];
      await writeResults(merged, out, docs);
      defaultLog(`merged ${parts.length} result files into ${out}`);
      return;
    }
    if (typeof flags.render === 'string') {
      // --render results.json: regenerate the docs section from an existing result file, measure nothing
      const res = JSON.parse(await readFile(resolve(flags.render), 'utf8')) as BenchResults;
      await writeResults(res, resolve(flags.render), docs);
      defaultLog(`rendered ${flags.render} into ${docs}`);
      return;
    }
    const res = await runBench({ mode, ...(databaseUrl ? { databaseUrl } : {}), ...(only ? { only } : {}), onProgress: (partial) => writeResults(partial, out, docs) });
    await writeResults(res, out, docs);
    defaultLog(`wrote ${out}${docs ? ` and ${docs}` : ''} in ${res.machine.duration_s} s`);
  });
}
