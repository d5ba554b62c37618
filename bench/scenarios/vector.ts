/**
 * vector: memory search over 1536-d embeddings with a HARD, realistic distribution, cosine distance as
 * agent_memories uses it. Real embeddings are not tight balls around random centroids (recall 1.0 at
 * probes = 1 said the old data was too easy): see hardDistribution — overlapping topics (two-topic mixtures,
 * super-topics, a shared direction) and anisotropic noise (corpus-wide and per-topic directions with decaying
 * scales). Queries come from the same distribution (not from the table). Generated in JavaScript (seeded),
 * loaded by COPY.
 *
 * Everything runs on public.agent_memories (one agent holds every memory), so the project's own index and
 * `match_agent_memories` are measured, side by side with:
 *   exact        — the same query with index scans disabled (the ground truth, sequential scan);
 *   hnsw_ef_N    — the project's HNSW index (migration 20250813000000), hnsw.ef_search = N;
 *   default      — `match_agent_memories(agent, query, 10)`: the project's defaults as an app gets them;
 *   ivfflat_L_pN — an IVFFlat index with L lists (built after the HNSW phase), ivfflat.probes = N.
 * Reports recall@10 against exact and p50 / p95 latency. Goal: the default reaches recall@10 ≥ 0.95 at ≤ 1/10
 * of exact p50.
 */
import type { Db } from '../../ops/db.ts';
import { seedUsersAndAgents } from '../../ops/seed/legacy.ts';
import { benchEngine, copyRows, explain, openMigrated } from '../lib/db.ts';
import { measureLatency, type LatencyVariant } from '../lib/latency.ts';
import { gauss, ratio, rng, round, timed } from '../lib/stats.ts';
import { goal, type ScenarioContext, type ScenarioResult } from '../lib/types.ts';

const DIM = 1536;
const SUPER = 20;
const GLOBAL_RANK = 48;
const TOPIC_RANK = 16;

/**
 * The distribution. A point is a MIXTURE of two topics (a text about two things; the second topic from the same
 * super-topic 70 % of the time), plus anisotropic noise along directions shared by the whole corpus (the few
 * dominant directions of variance real embedding sets have) and along its main topic's own directions, plus a
 * little isotropic noise; every topic centroid carries a common direction (embedding anisotropy: unrelated
 * texts sit at cosine ≈ 0.2–0.3). Neighbourhoods therefore cross topic boundaries, which is what makes the
 * partitions of IVFFlat and the greedy graph walk of HNSW miss true neighbours.
 */
export function hardDistribution(topics: number, seed: number) {
  const r = rng(seed);
  const randUnit = () => {
    const v = new Float64Array(DIM);
    let n = 0;
    for (let d = 0; d < DIM; d++) n += (v[d] = gauss(r)) ** 2;
    n = Math.sqrt(n);
    for (let d = 0; d < DIM; d++) v[d]! /= n;
    return v;
  };
  const common = randUnit();
  const supers = Array.from({ length: Math.min(SUPER, topics) }, randUnit);
  const centroids = Array.from({ length: topics }, (_, t) => {
    const own = randUnit();
    const sup = supers[t % supers.length]!;
    return Float64Array.from(own, (x, d) => 0.7 * sup[d]! + 0.7 * x + 0.5 * common[d]!);
  });
  const global = Array.from({ length: GLOBAL_RANK }, randUnit);
  const globalScale = Array.from({ length: GLOBAL_RANK }, (_, j) => 0.45 / Math.sqrt(j + 1));
  const bases = Array.from({ length: topics }, () => Array.from({ length: TOPIC_RANK }, randUnit));
  const topicScale = Array.from({ length: TOPIC_RANK }, (_, j) => 0.35 / Math.sqrt(j + 1));
  const nSuper = supers.length;
  /** One point around topic t (chosen by the caller), every other choice from `g`. */
  return (g: () => number, t: number): Float64Array => {
    const t2 = g() < 0.7 ? (t + nSuper * (1 + Math.floor(g() * Math.max(1, topics / nSuper - 1)))) % topics : Math.floor(g() * topics);
    const a = 0.5 + 0.5 * g();
    const c1 = centroids[t]!;
    const c2 = centroids[t2]!;
    const v = Float64Array.from(c1, (x, d) => a * x + (1 - a) * c2[d]!);
    const add = (basis: Float64Array[], scale: number[]) => {
      for (let j = 0; j < basis.length; j++) {
        const z = gauss(g) * scale[j]!;
        const b = basis[j]!;
        for (let d = 0; d < DIM; d++) v[d]! += z * b[d]!;
      }
    };
    add(global, globalScale);
    add(bases[t]!, topicScale);
    for (let d = 0; d < DIM; d++) v[d]! += gauss(g) * 0.012;
    return v;
  };
}

/**
 * pgvector text for one vector, normalized, 5 decimals (plenty for cosine at 1536 dimensions), written as
 * integers with an exponent (`1234e-5`): formatting integers is several times faster than decimals, and at
 * 100k × 1536 numbers the text is most of the load time.
 */
function vectorText(v: Float64Array): string {
  let n = 0;
  for (const x of v) n += x * x;
  const k = 1e5 / Math.sqrt(n);
  const parts = new Array<string>(DIM);
  for (let d = 0; d < DIM; d++) parts[d] = `${Math.round(v[d]! * k)}e-5`;
  return `[${parts.join(',')}]`;
}

async function load(db: Db, rows: number, queries: number, topics: number, agentId: string, userId: string) {
  const point = hardDistribution(topics, 1536);
  const g = rng(42);
  const pick = rng(7);
  await copyRows(db, 'public.agent_memories (agent_id, user_id, memory_type, content, embedding)', async (write) => {
    let chunk = '';
    for (let i = 0; i < rows; i++) {
      chunk += `${agentId}\t${userId}\tsemantic\tmemory ${i}\t${vectorText(point(g, Math.floor(pick() * topics)))}\n`;
      if (chunk.length > 4_000_000) {
        await write(chunk);
        chunk = '';
      }
    }
    if (chunk) await write(chunk);
  });
  const q = rng(4242);
  await copyRows(db, 'bench.queries (id, embedding)', async (write) => {
    let chunk = '';
    for (let i = 0; i < queries; i++) chunk += `${i}\t${vectorText(point(q, Math.floor(pick() * topics)))}\n`;
    await write(chunk);
  });
}

export async function run(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { cfg, log } = ctx;
  const { rows, queries, clusters } = cfg.vector;
  const db = await openMigrated();
  try {
    await db.exec(`create schema if not exists bench;
      create table bench.queries (id int primary key, embedding extensions.vector(${DIM}) not null);
      set maintenance_work_mem = '${benchEngine() === 'native' ? '2GB' : '1GB'}'; set max_parallel_maintenance_workers = 1;`);
    await seedUsersAndAgents(db, { users: 1, seed: 1536 });
    const [owner] = await db.query<{ agent: string; usr: string }>(`select id as agent, owner_id as usr from public.agents order by id limit 1`);
    // the project's index (whatever the migrations made it) is rebuilt after the load: a bulk build, not 100k inserts
    const [idx] = await db.query<{ def: string }>(`select pg_get_indexdef('public.agent_memories_embedding_idx'::regclass) as def`);
    await db.exec(`drop index public.agent_memories_embedding_idx`);
    const gen = await timed(() => load(db, rows, queries, clusters, owner!.agent, owner!.usr));
    await db.query(`vacuum analyze public.agent_memories`);
    await db.query(`analyze bench.queries`);
    log(`vector: ${rows} × ${DIM} loaded in ${Math.round(gen.ms)} ms`);
    const projectBuild = await timed(() => db.query(idx!.def));
    log(`vector: project index rebuilt in ${Math.round(projectBuild.ms)} ms: ${idx!.def}`);

    const qv = `(select q.embedding from bench.queries q where q.id = $1)`;
    const Q = `select m.id from public.agent_memories m order by m.embedding operator(extensions.<=>) ${qv} limit 10`;
    const truth = new Map<number, Set<string>>();
    const qids = Array.from({ length: queries }, (_, i) => i);
    const exactRun = async (v: number) => {
      await db.exec(`set enable_indexscan = off; set enable_bitmapscan = off; set enable_seqscan = on`);
      try {
        return await db.query<{ id: string }>(Q, [v]);
      } finally {
        await db.exec(`reset enable_indexscan; reset enable_bitmapscan; reset enable_seqscan`);
      }
    };
    for (const v of qids) truth.set(v, new Set((await exactRun(v)).map((x) => x.id)));
    const hits = new Map<string, number[]>();
    const record = (name: string, target: number, value: unknown) => {
      const t = truth.get(target)!;
      const ids = (value as { id: string }[]).map((x) => x.id);
      (hits.get(name) ?? hits.set(name, []).get(name)!).push(ids.filter((id) => t.has(id)).length / 10);
    };
    const isHnsw = /using hnsw/i.test(idx!.def);
    const variants: LatencyVariant<number>[] = [{ name: 'exact', run: exactRun }];
    // ef_search variants measure the index at that setting: seq scans off, so a cost estimate that prefers the
    // exact scan at some ef_search (pgvector 0.8 prices HNSW by ef_search) cannot swap the method under the name
    const plans: Record<string, string> = {};
    if (isHnsw) {
      for (const ef of cfg.vector.efSearch) {
        await db.exec(`set hnsw.ef_search = ${ef}`);
        plans[`hnsw_ef_search_${ef}_planner_choice`] = (await explain(db, Q, [0])).split('\n').filter((l) => /Scan/.test(l)).join('; ');
        variants.push({ name: `hnsw_ef_search_${ef}`, before: () => db.exec(`set hnsw.ef_search = ${ef}; set enable_seqscan = off`), run: (v) => db.query(Q, [v]) });
      }
      await db.exec(`reset hnsw.ef_search`);
    }
    variants.push({
      name: 'default',
      before: () => db.exec(`reset hnsw.ef_search; reset ivfflat.probes; reset enable_seqscan`),
      run: (v) => db.query(`select id from public.match_agent_memories($2, ${qv}, 10)`, [v, owner!.agent]),
    });
    const lat1 = await measureLatency(variants, qids, cfg.reps, record);
    const planDefault = await explain(db, Q, [0]);

    // IVFFlat phase: the same rows, the project's index replaced by IVFFlat indexes of each size in turn
    const lat2: typeof lat1 = {};
    const builds: Record<string, number> = { project_index: round(projectBuild.ms) };
    // in a transaction that is rolled back: the drop is undone without a second HNSW build (minutes at 100k)
    await db.exec(`begin; drop index public.agent_memories_embedding_idx`);
    for (const lists of cfg.vector.lists ?? [Math.max(1, Math.round(rows / 1000))]) {
      const b = await timed(() => db.query(`create index bench_ivf on public.agent_memories using ivfflat (embedding extensions.vector_cosine_ops) with (lists = ${lists})`));
      builds[`ivfflat_${lists}`] = round(b.ms);
      log(`vector: ivfflat lists=${lists} built in ${Math.round(b.ms)} ms`);
      const iv: LatencyVariant<number>[] = cfg.vector.probes
        .filter((p) => p <= lists)
        .map((p) => ({ name: `ivfflat_${lists}_probes_${p}`, before: () => db.exec(`set ivfflat.probes = ${p}; set enable_seqscan = off`), run: (v: number) => db.query(Q, [v]) }));
      // compared with the exact scan of the first block (same table, same run, minutes apart): a second block of
      // exact scans would double the scenario's time at 100k rows
      Object.assign(lat2, await measureLatency(iv, qids, cfg.reps, record));
      await db.exec(`drop index bench_ivf; reset ivfflat.probes; reset enable_seqscan`);
    }
    // the project's index is back as the migrations made it, the IVFFlat index gone
    await db.exec(`rollback`);

    const recall = Object.fromEntries([...hits].map(([k, v]) => [k, round(v.reduce((a, b) => a + b, 0) / v.length)]));
    const exact = lat1.exact!;
    const methods = Object.entries({ ...lat1, ...lat2 })
      .map(([name, l]) => {
        const ref = exact;
        return {
          name,
          recall_at_10: recall[name] ?? (name === 'exact' ? 1 : null),
          ...l,
          latency_over_exact: ratio(l.p50_ms, ref.p50_ms),
          cpu_latency_over_exact: ratio(l.p50_cpu_ms, ref.p50_cpu_ms),
        };
      });
    const def = methods.find((m) => m.name === 'default')!;
    const notes = rows < 100_000 ? [`run with ${rows} memories (issue: 100k)`] : [];
    return {
      status: 'measured',
      notes,
      goals: [
        goal('default (match_agent_memories) recall@10', '≥ 0.95', def.recall_at_10, '>=', 0.95),
        goal('default p50 / exact p50', '≤ 0.1', def.latency_over_exact, '<=', 0.1),
      ],
      rows,
      dimensions: DIM,
      clusters,
      distribution: `two-topic mixtures of ${clusters} topics (${Math.min(SUPER, clusters)} super-topics, shared direction) + rank-${GLOBAL_RANK} corpus-wide and rank-${TOPIC_RANK} per-topic anisotropic noise`,
      queries,
      reps: cfg.reps,
      project_index: idx!.def,
      build_ms: builds,
      load_ms: round(gen.ms),
      methods,
      plan_project_index: planDefault,
      planner_choice: plans,
    };
  } finally {
    await db.close();
  }
}
