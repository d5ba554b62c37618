/**
 * Scheduled maintenance (20250809000000): schedule_maintenance_jobs() puts the four retention and decay jobs
 * into pg_cron where it is installed, and says so and does nothing where it is not.
 *
 * pg_cron can only be created in the database named by the server setting cron.database_name (`postgres`,
 * as on Supabase), not in the per-file databases tests use. So the pg_cron half runs on the native lane in
 * THAT database, inside one transaction that is rolled back at the end — pg_cron's launcher never sees an
 * uncommitted job, and the server is left exactly as it was. The no-pg_cron half runs on both engines.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgres, type Db, type Notice, type Queryable } from '../../ops/db.ts';
import { listMigrations, listRollbacks } from '../../ops/migrations/runner.ts';
import { migrateWithShim } from '../../devstack/platform.ts';
import { databaseUrl } from '../../devstack/templates/server.ts';
import { as, createUser, onNative, openMigrated, testServerUrl } from '../helpers/db.ts';
import { runRollbacksNewerThanV2 } from '../helpers/newer-than-v2.ts';

const JOBS = ['ajc_decay_agent_memories', 'ajc_prune_state_checkpoints', 'ajc_sweep_expired_memories', 'ajc_sweep_old_snapshots'];

describe('without pg_cron (PGlite, or any database pg_cron is not installed in)', () => {
  let db: Db;
  beforeAll(async () => {
    db = await openMigrated();
  });
  afterAll(async () => {
    await db?.close();
  });

  it('schedule_maintenance_jobs says so in a NOTICE with a hint, schedules nothing and changes nothing', async () => {
    const notices: Notice[] = [];
    const off = db.onNotice((n) => notices.push(n));
    try {
      expect(await db.query(`select * from public.schedule_maintenance_jobs()`)).toEqual([]);
      expect(await db.query<{ n: number }>(`select public.unschedule_maintenance_jobs() as n`)).toEqual([{ n: 0 }]);
    } finally {
      off();
    }
    expect(notices.map((n) => n.message)).toEqual([
      expect.stringMatching(/^pg_cron is not installed in database \S+: no maintenance job scheduled$/),
      expect.stringMatching(/^pg_cron is not installed in database \S+: no maintenance job to unschedule$/),
    ]);
    expect(notices[0]!.hint).toMatch(/Enable pg_cron .* then run select \* from public\.schedule_maintenance_jobs\(\);/);
    expect(await db.query(`select to_regnamespace('cron') as cron`)).toEqual([{ cron: null }]);
  });

  it('is for the database owner only: no API role may execute either function', async () => {
    const rows = await db.query<{ fn: string; anon: boolean; authenticated: boolean; service_role: boolean }>(
      `select p.oid::regprocedure::text as fn,
              has_function_privilege('anon', p.oid, 'execute') as anon,
              has_function_privilege('authenticated', p.oid, 'execute') as authenticated,
              has_function_privilege('service_role', p.oid, 'execute') as service_role
         from pg_proc p where p.pronamespace = 'public'::regnamespace and p.proname like '%schedule_maintenance_jobs' order by 1`,
    );
    expect(rows.map((r) => r.fn)).toEqual(['schedule_maintenance_jobs(text,text,text,text)', 'unschedule_maintenance_jobs()']);
    for (const r of rows) expect(r).toMatchObject({ anon: false, authenticated: false, service_role: false });
    const uid = await createUser(db);
    await expect(as(db, { role: 'authenticated', sub: uid }, (tx) => tx.query(`select * from public.schedule_maintenance_jobs()`))).rejects.toMatchObject({
      code: '42501',
    });
  });
});

/** Thrown to roll the whole pg_cron test back; anything else is a real failure. */
const ROLL_BACK = new Error('roll back');

// Native lane only: pg_cron is a server extension (preloaded by `npm run db:native`); PGlite has none.
describe.skipIf(!onNative)('with pg_cron (native lane, in the cron database, rolled back)', () => {
  let cronUrl: string;
  let cronDatabase: string;
  beforeAll(async () => {
    const admin = await openPostgres(testServerUrl!, { max: 1 });
    try {
      cronDatabase = (await admin.query<{ db: string }>(`select current_setting('cron.database_name') as db`))[0]!.db;
    } finally {
      await admin.close();
    }
    cronUrl = databaseUrl(testServerUrl!, cronDatabase);
  });

  /**
   * Runs `body` in one transaction on the cron database with the project migrated, then rolls it all back.
   * A new session each time: pg_cron caches cron.job's OID per session, and after a rolled-back
   * `create extension pg_cron` the next one in the same session fails ("could not open relation with OID").
   */
  async function inRolledBackCronDb(body: (tx: Queryable, migrateHere: () => Promise<void>) => Promise<void>) {
    let failure: unknown;
    const cron = await openPostgres(cronUrl, { max: 1 });
    await cron
      .transaction(async (tx) => {
        // The runner in this same transaction: each file's own transaction becomes part of this one.
        const here: Db = { kind: 'postgres', ...tx, transaction: (fn) => fn(tx), onNotice: () => () => false, close: async () => {} };
        try {
          await tx.exec(`create extension if not exists pg_cron`);
          const migrateHere = async () => void (await migrateWithShim(here));
          await migrateHere();
          await body(tx, migrateHere);
        } catch (e) {
          failure = e;
        }
        throw ROLL_BACK;
      })
      .catch((e: unknown) => {
        if (e !== ROLL_BACK) throw e;
      })
      .finally(() => cron.close());
    if (failure) throw failure;
  }

  const ours = (tx: Queryable) =>
    tx.query<{ jobid: number; jobname: string; schedule: string; command: string; database: string; username: string }>(
      `select jobid, jobname::text, schedule, command, database, username from cron.job where jobname = any($1::text[]) order by jobname`,
      [JOBS],
    );

  it('schedules the four jobs once, reschedules them in place, refuses a bad schedule, unschedules them', async () => {
    await inRolledBackCronDb(async (tx) => {
      const first = await tx.query<{ job_name: string; schedule: string; command: string; jobid: number }>(
        `select * from public.schedule_maintenance_jobs() order by job_name`,
      );
      expect(first.map((r) => [r.job_name, r.schedule, r.command])).toEqual([
        ['ajc_decay_agent_memories', '17 3 * * *', 'select public.decay_agent_memories()'],
        ['ajc_prune_state_checkpoints', '37 3 * * *', 'select public.prune_state_checkpoints()'],
        ['ajc_sweep_expired_memories', '7 * * * *', 'select public.sweep_expired_memories(10000)'],
        ['ajc_sweep_old_snapshots', '27 3 * * *', 'select public.sweep_old_snapshots()'],
      ]);
      const jobs = await ours(tx);
      expect(jobs.map((j) => [j.jobid, j.jobname, j.schedule, j.command])).toEqual(first.map((r) => [r.jobid, r.job_name, r.schedule, r.command]));
      expect(new Set(jobs.map((j) => `${j.database} ${j.username}`))).toEqual(new Set([`${cronDatabase} postgres`]));

      // Idempotent: the same four jobs (same ids), with the new time.
      await tx.query(`select * from public.schedule_maintenance_jobs(p_decay_memories => '0 4 * * *')`);
      const again = await ours(tx);
      expect(again.map((j) => j.jobid)).toEqual(jobs.map((j) => j.jobid));
      expect(again.find((j) => j.jobname === 'ajc_decay_agent_memories')!.schedule).toBe('0 4 * * *');

      for (const bad of ['every night', null]) {
        await tx.query(`savepoint bad_schedule`);
        await expect(tx.query(`select * from public.schedule_maintenance_jobs(p_sweep_old_snapshots => $1)`, [bad])).rejects.toMatchObject({
          code: 'AJC04',
          message: `invalid schedule for ajc_sweep_old_snapshots: ${bad === null ? 'null' : `'${bad}'`}`,
          hint: expect.stringMatching(/cron expression in UTC such as '17 3 \* \* \*'/),
        });
        await tx.query(`rollback to savepoint bad_schedule`);
      }

      // Every scheduled command is SQL that runs as the job's owner would run it.
      for (const j of again) expect(await tx.query(j.command)).toHaveLength(1);

      expect(await tx.query(`select public.unschedule_maintenance_jobs() as n`)).toEqual([{ n: 4 }]);
      expect(await ours(tx)).toEqual([]);
      expect(await tx.query(`select public.unschedule_maintenance_jobs() as n`)).toEqual([{ n: 0 }]);
    });
  });

  it('its rollback, and the whole-v2 rollback, unschedule the jobs before dropping what they call', async () => {
    const rollbacks = new Map((await listRollbacks()).map((r) => [r.version, r.path]));
    const versions = (await listMigrations()).map((m) => m.version);
    expect(versions).toContain('20250809000000');
    await inRolledBackCronDb(async (tx, migrateHere) => {
      await tx.query(`select * from public.schedule_maintenance_jobs()`);
      expect(await ours(tx)).toHaveLength(4);
      await tx.exec(await readFile(rollbacks.get('20250809000000')!, 'utf8'));
      expect(await ours(tx)).toEqual([]);
      expect(await tx.query(`select to_regprocedure('public.schedule_maintenance_jobs(text,text,text,text)') as f`)).toEqual([{ f: null }]);
      expect(await tx.query(`select count(*)::int as n from supabase_migrations.schema_migrations where version = '20250809000000'`)).toEqual([{ n: 0 }]);

      await migrateHere();
      await tx.query(`select * from public.schedule_maintenance_jobs()`);
      expect(await ours(tx)).toHaveLength(4);
      await runRollbacksNewerThanV2(tx);
      await tx.exec(await readFile(rollbacks.get('20250805074444')!, 'utf8'));
      expect(await ours(tx)).toEqual([]);
      expect(await tx.query(`select to_regclass('public.agent_memories') as t`)).toEqual([{ t: null }]);
    });
  });
});
