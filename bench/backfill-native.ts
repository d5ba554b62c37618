/**
 * The backfill engineer's measuring tool for issue 11, on a real server (native PostgreSQL 15): everything the
 * backfill's design was decided on, reproducible. Not part of `npm run bench` (bench/run.ts and its results files
 * are the harness); it prints one JSON object per measurement.
 *
 *   npx tsx bench/backfill-native.ts --database-url URL prepare [--rows 1000000] [--dirty 0.02]
 *   npx tsx bench/backfill-native.ts --database-url URL speed      # keyset (the CLI's driver and the procedure), CTAS
 *   npx tsx bench/backfill-native.ts --database-url URL offset     # the seed's OFFSET function, whole run (no sleep)
 *   npx tsx bench/backfill-native.ts --database-url URL offset-sample  # the same, projected from 11 sampled pages
 *   npx tsx bench/backfill-native.ts --database-url URL profile    # where a 5,000-row batch's time goes
 *   npx tsx bench/backfill-native.ts --database-url URL load [--writers 8] [--rate 25] [--seconds 20]
 *   npx tsx bench/backfill-native.ts --database-url URL dualwrite [--n 2000]
 *
 * `load` and `dualwrite` run in dual_write mode on a clone; `load` measures the writers' p95 idle and during an
 * adaptive backfill (the CLI's driver), and the backfill's rows/s without and with the writers.
 *
 * `prepare` seeds a template database (`bfm_seed_<rows>`: every migration, then the legacy seeder) once; every
 * other command clones it (`create database … template`), measures, and drops the clone, so runs start equal.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openPostgres, type Db } from '../ops/db.ts';
import { intOpt, parseCli, runMain, stringOpt } from '../ops/cli/args.ts';
import { projectRoot } from '../ops/migrations/runner.ts';
import { seedLegacy } from '../ops/seed/legacy.ts';
import { createScratchDatabase, databaseUrl, ensureServerTemplate } from '../devstack/templates/server.ts';

const usage = `usage: npx tsx bench/backfill-native.ts --database-url URL <prepare|speed|offset|offset-sample|profile|load|dualwrite> [--rows N] [--dirty p] [--writers N] [--rate N] [--seconds N] [--n N] [--batch N] [--seed NAME]`;

const out = (o: Record<string, unknown>) => console.log(JSON.stringify(o));
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function admin(url: string) {
  return openPostgres(url, { max: 1 });
}

async function clone(server: string, seedName: string, tag: string) {
  return createScratchDatabase(server, `bfm_run_${tag}_${process.pid}`, seedName);
}

async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await f();
  return { ms: performance.now() - t0, value };
}

/** Batch log of the latest run: first / last full backfill batch, count, sum. */
async function batchStats(db: Db) {
  const rows = await db.query<{ phase: string; ms: number; n: number; size: number }>(
    `select phase, milliseconds::float8 as ms, (migrated + quarantined) as n, batch_size as size
       from chat_migration.batches where run_id = (select max(id) from chat_migration.runs) order by batch_number`,
  );
  const back = rows.filter((b) => b.phase === 'backfill');
  const full = back.filter((b) => b.n === b.size);
  const first = back[0];
  const last = full[full.length - 1] ?? back[back.length - 1];
  const ms = (xs: typeof rows) => xs.reduce((a, b) => a + b.ms, 0);
  return {
    batches: back.length,
    first_batch_ms: first ? round(first.ms) : null,
    last_batch_ms: last ? round(last.ms) : null,
    last_over_first: first && last ? round(last.ms / first.ms, 2) : null,
    batch_ms_sum: round(ms(rows)),
    sizes: [...new Set(back.map((b) => b.size))].slice(0, 12),
  };
}

const CTAS = `create table public.ctas_limit as
  select gen_random_uuid() as id, m.conversation_id, m.user_id, m.agent_id,
         chat_migration.map_role(m.role) as role,
         jsonb_build_object('type', 'text', 'text', coalesce(m.content, '')) as content,
         chat_migration.v2_metadata(m.metadata, coalesce(m.content, '')) as metadata,
         m.id as legacy_id, m.created_at, coalesce(m.updated_at, m.created_at) as updated_at
    from public.chat_messages m`;

runMain(async () => {
  const { values, positionals } = parseCli(
    {
      usage,
      entry: 'bench/backfill-native.ts',
      positionals: 1,
      options: {
        'database-url': { type: 'string' },
        rows: { type: 'string' },
        dirty: { type: 'string' },
        writers: { type: 'string' },
        rate: { type: 'string' },
        seconds: { type: 'string' },
        n: { type: 'string' },
        batch: { type: 'string' },
        what: { type: 'string' },
        seed: { type: 'string' },
      },
    },
    process.argv.slice(2),
  );
  const server = stringOpt(values, 'database-url') ?? process.env.DATABASE_URL;
  if (!server) throw new Error('--database-url URL (a superuser on the native server) is required');
  const rows = intOpt(values, 'rows', 1_000_000);
  // --seed NAME: measure on another prepared template (e.g. one seeded before a change, for before/after in one run)
  const seedName = stringOpt(values, 'seed') ?? `bfm_seed_${rows}`;
  const command = positionals[0];

  if (command === 'prepare') {
    const tpl = await ensureServerTemplate(server);
    const a = await admin(server);
    await a.exec(`drop database if exists ${seedName}`).catch(async () => {
      await a.exec(`alter database ${seedName} with is_template false`);
      await a.exec(`drop database if exists ${seedName}`);
    });
    await a.exec(`create database ${seedName} template ${tpl}`);
    const db = await openPostgres(databaseUrl(server, seedName), { max: 1 });
    const t = await timed(() =>
      seedLegacy(db, { conversations: Math.round(rows / 100), messages: rows, dirtyRate: Number(values.dirty ?? 0.02), seed: 2 }),
    );
    await db.exec(`vacuum analyze`);
    await db.close();
    await a.exec(`alter database ${seedName} with is_template true`);
    await a.close();
    out({ prepared: seedName, rows, seed_ms: round(t.ms), expected: t.value.expectedQuarantine });
    return;
  }

  const run = async <T>(tag: string, f: (db: Db, url: string) => Promise<T>): Promise<T> => {
    const c = await clone(server, seedName, tag);
    const db = await openPostgres(c.url, { max: 1 });
    try {
      await db.exec(`checkpoint`);
      return await f(db, c.url);
    } finally {
      await db.close();
      await c.drop();
    }
  };

  if (command === 'speed') {
    const what = (stringOpt(values, 'what') ?? 'ctas,procedure,driver').split(',');
    const batch = values.batch === undefined ? null : intOpt(values, 'batch', 1);
    if (what.includes('ctas')) {
      await run('ctas', async (db) => {
        const t = await timed(() => db.exec(CTAS));
        out({ variant: 'ctas', rows, ms: round(t.ms), rows_per_s: Math.round((rows / t.ms) * 1000) });
      });
    }
    if (what.includes('procedure')) {
      await run('proc', async (db) => {
        const t = await timed(() => db.query(`call public.run_chat_migration($1)`, [batch ?? 5000]));
        out({ variant: `run_chat_migration(${batch ?? 5000})`, rows, ms: round(t.ms), rows_per_s: Math.round((rows / t.ms) * 1000), ...(await batchStats(db)) });
      });
    }
    if (what.includes('driver')) {
      const { runMigration } = await import('../ops/data-migration/driver.ts');
      await run('driver', async (db) => {
        const t = await timed(() => runMigration(db, { ...(batch ? { batchSize: batch } : {}), skipStates: true }));
        out({ variant: `driver (data:migrate${batch ? ` --batch-size ${batch}` : ''})`, rows, ms: round(t.ms), rows_per_s: Math.round((rows / t.ms) * 1000), ...(await batchStats(db)) });
      });
    }
    return;
  }

  if (command === 'offset') {
    await run('offset', async (db) => {
      await db.exec(await readFile(join(projectRoot, 'bench', 'sql', 'seed_migrate_with_progress.sql'), 'utf8'));
      const t = await timed(() =>
        db.query<{ batch_ms: number }>(`select batch_ms from bench.seed_migrate_with_progress(1000, 0)`),
      );
      const b = t.value;
      out({
        variant: 'seed OFFSET function, batch 1000, no sleep (one transaction)',
        rows,
        ms: round(t.ms),
        rows_per_s: Math.round((rows / t.ms) * 1000),
        with_seed_sleep_rows_per_s: Math.round((rows / (t.ms + 100 * b.length)) * 1000),
        first_batch_ms: round(b[0]?.batch_ms ?? NaN),
        last_batch_ms: round(b[b.length - 1]?.batch_ms ?? NaN),
        batches: b.length,
      });
    });
    return;
  }

  if (command === 'offset-sample') {
    // The whole OFFSET run is O(rows²) and takes the better part of an hour on a loaded machine; this samples
    // one 1,000-row page (the seed's page query + the same copy, rolled back) at 11 offsets and integrates
    // over the 1,000 pages (trapezoids). A projection, labelled as one.
    await run('offs', async (db) => {
      const page = 1000;
      const at = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99].map((f) => Math.round((f * rows) / page) * page);
      const ms: number[] = [];
      for (const off of at) {
        let t = 0;
        await db
          .transaction(async (tx) => {
            t = (await timed(() => tx.query(
              `select chat_migration.copy_messages(array(select (p.m).id from (select m from public.chat_messages m
                                                     order by m.id limit ${page} offset ${off}) as p order by 1))`))).ms;
            throw new Error('rollback');
          })
          .catch((e: Error) => {
            if (e.message !== 'rollback') throw e;
          });
        ms.push(t);
      }
      let total = 0;
      for (let i = 1; i < at.length; i++) total += ((ms[i - 1]! + ms[i]!) / 2) * ((at[i]! - at[i - 1]!) / page);
      total += ms.at(-1)! * ((rows - at.at(-1)!) / page);
      out({
        variant: 'seed OFFSET function, batch 1000, no sleep — projected from 11 sampled pages',
        rows,
        page_ms: Object.fromEntries(at.map((o, i) => [o, round(ms[i]!)])),
        projected_ms: round(total),
        projected_rows_per_s: Math.round((rows / total) * 1000),
        with_seed_sleep_rows_per_s: Math.round((rows / (total + 100 * (rows / page))) * 1000),
      });
    });
    return;
  }

  if (command === 'profile') {
    await run('profile', async (db) => {
      // the rows of a batch in the middle of the table
      const [mid] = await db.query<{ lo: number }>(`select (min(id) + max(id)) / 2 as lo from public.chat_messages`);
      const lo = Number(mid!.lo);
      const ids = `array(select id from public.chat_messages where id > ${lo} order by id limit 5000)`;
      // warm the session sample: the real thing once, rolled back
      const variants: [string, string[]][] = [
        ['copy_messages (the batch statement)', [`select chat_migration.copy_messages(${ids})`]],
        [
          'bare insert into chat_messages_v2 (sessions first)',
          [
            `insert into public.conversation_sessions (id, user_id, agent_id)
             select distinct on (conversation_id) conversation_id, user_id, agent_id from public.chat_messages
              where id = any (${ids}) on conflict do nothing`,
            `insert into public.chat_messages_v2 (conversation_id, user_id, agent_id, role, content, metadata, legacy_id, created_at)
             select m.conversation_id, m.user_id, m.agent_id, coalesce(chat_migration.map_role(m.role), 'user')::public.message_role,
                    jsonb_build_object('type', 'text', 'text', coalesce(m.content, '')), coalesce(m.metadata, '{}'), m.id, m.created_at
               from public.chat_messages m where m.id = any (${ids})`,
          ],
        ],
      ];
      for (const [name, stmts] of variants) {
        const times: number[] = [];
        for (let rep = 0; rep < 4; rep++) {
          let ms = 0;
          await db
            .transaction(async (tx) => {
              for (const [i, s] of stmts.entries()) {
                const t = await timed(() => tx.exec(s));
                if (i === stmts.length - 1 || stmts.length === 1) ms += t.ms;
              }
              throw new Error('rollback');
            })
            .catch((e: Error) => {
              if (e.message !== 'rollback') throw e;
            });
          times.push(ms);
        }
        times.sort((a, b) => a - b);
        out({ profile: name, median_ms: round(times[1]!), min_ms: round(times[0]!), reps: times.length });
      }
    });
    return;
  }

  const p95 = (xs: number[]) => {
    const a = [...xs].sort((x, y) => x - y);
    return a.length ? a[Math.min(a.length - 1, Math.floor(a.length * 0.95))]! : NaN;
  };
  const p50 = (xs: number[]) => {
    const a = [...xs].sort((x, y) => x - y);
    return a.length ? a[Math.floor(a.length / 2)]! : NaN;
  };
  /** One legacy insert into an existing conversation, as the application does it. */
  const insertSql = `insert into public.chat_messages (conversation_id, user_id, agent_id, role, content, metadata)
                     select conversation_id, user_id, agent_id, 'user', 'bench ' || $2::int, '{}'::jsonb
                       from public.chat_messages where id = $1`;

  if (command === 'dualwrite') {
    const n = intOpt(values, 'n', 2000);
    await run('dw', async (db) => {
      const [{ lo, hi }] = (await db.query<{ lo: string; hi: string }>(`select min(id) as lo, max(id) as hi from public.chat_messages`)) as [{ lo: string; hi: string }];
      const ids = Array.from({ length: n }, (_, i) => Number(lo) + ((i * 7919) % (Number(hi) - Number(lo))));
      const measure = async () => {
        const ms: number[] = [];
        for (const [i, id] of ids.entries()) {
          const t = await timed(() => db.query(insertSql, [id, i]));
          ms.push(t.ms);
        }
        return ms;
      };
      await measure(); // warm-up, legacy
      const legacy = await measure();
      await db.query(`select public.set_chat_schema_mode('dual_write')`);
      await measure(); // warm-up, dual_write
      const dual = await measure();
      out({
        variant: 'single-row legacy insert, one session',
        n,
        legacy_p50_ms: round(p50(legacy), 3),
        dual_write_p50_ms: round(p50(dual), 3),
        legacy_mean_ms: round(legacy.reduce((a, b) => a + b, 0) / n, 3),
        dual_write_mean_ms: round(dual.reduce((a, b) => a + b, 0) / n, 3),
        ratio_p50: round(p50(dual) / p50(legacy), 2),
      });
    });
    return;
  }

  if (command === 'load') {
    const writers = intOpt(values, 'writers', 8);
    const rate = intOpt(values, 'rate', 25); // inserts per second per writer
    const seconds = intOpt(values, 'seconds', 20);
    await run('load', async (db, url) => {
      await db.query(`select public.set_chat_schema_mode('dual_write')`);
      const [{ lo, hi }] = (await db.query<{ lo: string; hi: string }>(`select min(id) as lo, max(id) as hi from public.chat_messages`)) as [{ lo: string; hi: string }];
      const sessions = await Promise.all(Array.from({ length: writers }, () => openPostgres(url, { max: 1 })));
      const write = async (stop: () => boolean) => {
        const lat: number[] = [];
        await Promise.all(sessions.map(async (s, w) => {
          let i = 0;
          while (!stop()) {
            const t0 = performance.now();
            const id = Number(lo) + ((w * 104729 + i * 7919) % (Number(hi) - Number(lo)));
            await s.query(insertSql, [id, i++]);
            const ms = performance.now() - t0;
            lat.push(ms);
            await sleep(Math.max(0, 1000 / rate - ms));
          }
        }));
        return lat;
      };
      const window = async <T>(f: (stop: () => boolean) => Promise<T>) => {
        const end = Date.now() + seconds * 1000;
        return f(() => Date.now() > end);
      };
      const { runMigration } = await import('../ops/data-migration/driver.ts');
      const backfillFor = async (stop: () => boolean) => {
        const before = await db.query<{ n: string }>(`select coalesce(sum(migrated + quarantined), 0) as n from chat_migration.batches`);
        const t = await timed(() => runMigration(db, { skipStates: true, shouldStop: stop }));
        const after = await db.query<{ n: string }>(`select coalesce(sum(migrated + quarantined), 0) as n from chat_migration.batches`);
        return (Number(after[0]!.n) - Number(before[0]!.n)) / (t.ms / 1000);
      };
      try {
        const idle = await window(write);
        const rpsIdle = await window(backfillFor);
        const [during, rpsLoaded] = await window((stop) => Promise.all([write(stop), backfillFor(stop)]));
        const sizes = await db.query<{ size: number; why: string | null }>(
          `select next_batch_size as size, coalesce(size_reason, pause_reason) as why from chat_migration.batches
            where size_reason is not null or pause_reason is not null order by id desc limit 5`);
        out({
          scenario: 'backfill_under_load',
          writers,
          rate_per_writer: rate,
          seconds,
          writer_p95_ms_idle: round(p95(idle), 2),
          writer_p95_ms_during: round(p95(during), 2),
          backfill_rows_per_s_idle: Math.round(rpsIdle),
          backfill_rows_per_s_loaded: Math.round(rpsLoaded),
          last_size_changes: sizes,
        });
      } finally {
        await Promise.all(sessions.map((s) => s.close()));
      }
    });
    return;
  }

  throw new Error(`unknown command ${command}`);
});
