/**
 * backfill_under_load: the keyset backfill (`call run_chat_migration(batch)`, one transaction per batch) while N
 * application writers keep writing legacy rows in dual_write mode — each writer its own session, a paced loop
 * (`ratePerWriter` statements/s, like an app's users): 3 of 4 statements insert a message into one of the
 * writer's conversations (mirrored to v2 by the dual-write trigger), 1 of 4 edits an existing legacy row
 * anywhere in the table (so writers meet the backfill's batches on the same rows).
 *
 * Measured in one run, side by side:
 *  - writer latency p50 / p95 with the writers alone (idle) and during the backfill;
 *  - backfill rows/s alone (idle) and with the writers running (loaded), from the same legacy table.
 * Goals (bench/goals.ts): writer p95 during ≤ 3 × idle; backfill loaded ≥ 50 % of idle.
 * Native only: PGlite is one session, writers and backfill cannot overlap there.
 */
import type { Db } from '../../ops/db.ts';
import { seedLegacy } from '../../ops/seed/legacy.ts';
import { benchEngine, hasFunction, openMigrated, openSession, resetV2 } from '../lib/db.ts';
import { percentile, rng, round } from '../lib/stats.ts';
import { notMeasured, type ScenarioContext, type ScenarioResult } from '../lib/types.ts';

interface Owned {
  conversation_id: string;
  user_id: string;
  agent_id: string | null;
}

interface WriterStats {
  latencies: number[];
  errors: string[];
  inserts: number;
  updates: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `n` paced writer loops until `stop()`; returns their latencies. */
function startWriters(sessions: Db[], convs: Owned[], maxId: number, ratePerWriter: number) {
  let running = true;
  const stats: WriterStats = { latencies: [], errors: [], inserts: 0, updates: 0 };
  const interval = 1000 / ratePerWriter;
  const loops = sessions.map(async (s, w) => {
    const r = rng(1000 + w);
    const mine = convs.filter((_, i) => i % sessions.length === w);
    let next = performance.now() + r() * interval; // spread the writers' phases
    while (running) {
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      next += interval;
      if (!running) break;
      const t0 = performance.now();
      try {
        if (r() < 0.75 || !maxId) {
          const c = mine[Math.floor(r() * mine.length)]!;
          await s.query(
            `insert into public.chat_messages (conversation_id, user_id, agent_id, role, content, metadata)
             values ($1, $2, $3, 'user', 'A new message while the backfill runs', '{"client":"web"}'::jsonb)`,
            [c.conversation_id, c.user_id, c.agent_id],
          );
          stats.inserts++;
        } else {
          await s.query(`update public.chat_messages set content = coalesce(content, '') || ' (edited)', updated_at = now() where id = $1`, [
            1 + Math.floor(r() * maxId),
          ]);
          stats.updates++;
        }
        stats.latencies.push(performance.now() - t0);
      } catch (e) {
        stats.errors.push((e as Error).message.split('\n')[0]!);
      }
    }
  });
  return {
    stats,
    async stop() {
      running = false;
      await Promise.all(loops);
      return stats;
    },
  };
}

async function backfill(db: Db, batch: number): Promise<{ ms: number; rows: number; batches: number; maxBatchMs: number }> {
  const t0 = performance.now();
  await db.query(`call public.run_chat_migration($1)`, [batch]);
  const ms = performance.now() - t0;
  const [b] = await db.query<{ rows: number; n: number; max: number }>(
    `select coalesce(sum(migrated + quarantined), 0)::int as rows, count(*)::int as n, coalesce(max(milliseconds), 0)::float8 as max
       from chat_migration.batches`,
  );
  return { ms, rows: b!.rows, batches: b!.n, maxBatchMs: round(b!.max) };
}

const lat = (xs: number[]) => ({ n: xs.length, p50_ms: round(percentile(xs, 50)), p95_ms: round(percentile(xs, 95)), p99_ms: round(percentile(xs, 99)), max_ms: round(Math.max(...xs)) });

export async function run(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { cfg, log } = ctx;
  const u = cfg.underLoad;
  if (!u) return notMeasured('needs a real multi-session server (npm run bench -- --native or --database-url URL): PGlite is one session');
  if (benchEngine() !== 'native') return notMeasured('needs a real multi-session server: PGlite is one session');
  const db = await openMigrated();
  const sessions: Db[] = [];
  try {
    if (!(await hasFunction(db, 'public.run_chat_migration(integer,integer)'))) return notMeasured('run_chat_migration is not in this checkout');
    const seeded = await seedLegacy(db, { conversations: Math.max(u.writers, Math.round(u.rows / 100)), messages: u.rows, dirtyRate: cfg.backfill.dirtyRate, seed: 2 });
    await db.exec(`vacuum analyze public.chat_messages`);
    // each writer writes into conversations it owns: the first row of a conversation names its owner
    const convs = await db.query<Owned>(
      `select distinct on (conversation_id) conversation_id, user_id, agent_id from public.chat_messages order by conversation_id, id limit 400`,
    );
    const maxId = seeded.lastMessageId ?? 0;
    await db.query(`select public.set_chat_schema_mode('dual_write')`);
    for (let w = 0; w < u.writers; w++) sessions.push(await openSession(db));
    log(`backfill_under_load: ${u.rows} legacy rows, ${u.writers} writers × ${u.ratePerWriter}/s, dual_write`);

    // 1. writers alone
    let writers = startWriters(sessions, convs, maxId, u.ratePerWriter);
    await sleep(u.idleSeconds * 1000);
    const idle = await writers.stop();
    // 2. backfill alone (from an empty v2 side; rows the writers added are legacy rows to backfill too)
    await resetV2(db);
    const alone = await backfill(db, u.batch);
    log(`backfill_under_load: alone ${alone.rows} rows in ${Math.round(alone.ms)} ms`);
    // 3. backfill with the writers
    await resetV2(db);
    writers = startWriters(sessions, convs, maxId, u.ratePerWriter);
    await sleep(1000); // writers in their stride before the backfill starts
    const warmCount = writers.stats.latencies.length;
    const loaded = await backfill(db, u.batch);
    const during = await writers.stop();
    const duringLat = during.latencies.slice(warmCount);
    log(`backfill_under_load: loaded ${loaded.rows} rows in ${Math.round(loaded.ms)} ms; writer p95 ${round(percentile(duringLat, 95))} ms`);
    const [left] = await db.query<{ n: number }>(
      `select count(*)::int as n from public.chat_messages m
        where not exists (select 1 from public.chat_messages_v2 v where v.legacy_id = m.id)
          and not exists (select 1 from chat_migration.quarantine q where q.source_table = 'chat_messages' and q.source_id = m.id::text)`,
    );
    const idleLat = lat(idle.latencies);
    const dur = lat(duringLat);
    const rateIdle = Math.round((alone.rows / alone.ms) * 1000);
    const rateLoaded = Math.round((loaded.rows / loaded.ms) * 1000);
    return {
      status: 'measured',
      notes: [],
      goals: [],
      rows: u.rows,
      writers: u.writers,
      writer_rate_per_s: u.ratePerWriter,
      writer_mix: '3/4 insert into an owned conversation, 1/4 edit of a random legacy row; dual_write mode',
      batch_size: u.batch,
      writer_p50_ms_idle: idleLat.p50_ms,
      writer_p95_ms_idle: idleLat.p95_ms,
      writer_p50_ms_during: dur.p50_ms,
      writer_p95_ms_during: dur.p95_ms,
      backfill_rows_per_s_idle: rateIdle,
      backfill_rows_per_s_loaded: rateLoaded,
      writer_latency: { idle: idleLat, during: dur },
      writer_errors: { idle: idle.errors.length, during: during.errors.length, first: [...idle.errors, ...during.errors].slice(0, 3) },
      writer_ops: { idle: { inserts: idle.inserts, updates: idle.updates }, during: { inserts: during.inserts, updates: during.updates } },
      backfill: { idle: { ...alone, ms: round(alone.ms) }, loaded: { ...loaded, ms: round(loaded.ms) } },
      legacy_rows_left_behind: left?.n ?? null,
      ratios: {
        writer_p95_during_over_idle: round(dur.p95_ms / idleLat.p95_ms),
        backfill_loaded_over_idle: round(rateLoaded / rateIdle),
      },
    };
  } finally {
    for (const s of sessions) await s.close().catch(() => {});
    await db.close();
  }
}
