/**
 * `npm run db:native`: what it prints, what it starts, and what it says on a machine that cannot have it.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openPostgres } from '../ops/db.ts';
import { projectRoot } from '../ops/migrations/runner.ts';
import { unavailableReason } from '../devstack/native/provision.ts';

function dbNative(args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(join(projectRoot, 'node_modules', '.bin', 'tsx'), ['scripts/db-native.ts', ...args], { cwd: projectRoot, timeout: 300_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

describe('where the native lane cannot be provisioned', () => {
  it('says why in one sentence and points to DATABASE_URL', () => {
    const missing = ['postgresql-15-cron'];
    const noRoot = unavailableReason(missing, { platform: 'linux', aptGet: true, root: false })!;
    expect(noRoot).toMatch(/^The native lane needs root \(run it with sudo\) to install PostgreSQL 15 .*\(missing here: postgresql-15-cron\); point DATABASE_URL \(or --database-url\) at an existing PostgreSQL 15\+ server with pgvector instead — everything else keeps working on PGlite\.$/);
    expect(noRoot.split('. ')).toHaveLength(1);
    expect(unavailableReason(missing, { platform: 'darwin', aptGet: false, root: true })).toMatch(/^The native lane needs a Debian or Ubuntu machine with apt-get /);
    expect(unavailableReason(missing, { platform: 'linux', aptGet: false, root: true })).toMatch(/needs a Debian or Ubuntu machine with apt-get/);
    expect(unavailableReason(missing, { platform: 'linux', aptGet: true, root: true })).toBeNull();
    expect(unavailableReason([], { platform: 'darwin', aptGet: false, root: false })).toBeNull();
  });
});

// Only where `npm run test:native` provisioned its server with db:native itself (it sets AJC_TEST_DB_NATIVE):
// elsewhere calling it would install packages as root, which `npm test` promises never to do; and with
// test:native --database-url the lane runs on a server db:native did not make.
describe.skipIf(!process.env.AJC_TEST_DB_NATIVE)('npm run db:native (the running cluster of this lane)', () => {
  it('prints exactly one DATABASE_URL line, the same on every call while it runs, for a PostgreSQL 15 shaped like Supabase', async () => {
    const first = await dbNative();
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^DATABASE_URL=postgresql:\/\/postgres:postgres@127\.0\.0\.1:\d+\/postgres\n$/);
    const again = await dbNative();
    expect(again.stdout).toBe(first.stdout);
    expect(first.stdout.trim().slice('DATABASE_URL='.length)).toBe(process.env.AJC_TEST_SERVER_URL);

    const db = await openPostgres(first.stdout.trim().slice('DATABASE_URL='.length), { max: 1 });
    try {
      const [s] = await db.query<Record<string, string | boolean>>(`
        select current_setting('server_version_num') as version, current_setting('shared_preload_libraries') as preload,
               current_setting('search_path') as search_path, current_setting('cron.database_name') as cron_db,
               current_setting('TimeZone') as tz, current_setting('listen_addresses') as listen,
               (select rolsuper from pg_roles where rolname = current_user) as superuser,
               (select default_version from pg_available_extensions where name = 'vector') as vector,
               (select default_version is not null from pg_available_extensions where name = 'pgtap') as pgtap`);
      expect(s).toEqual({
        version: expect.stringMatching(/^15\d{4}$/),
        preload: 'pg_cron',
        search_path: '"$user", public, extensions',
        cron_db: 'postgres',
        tz: 'UTC',
        listen: '127.0.0.1',
        superuser: true,
        vector: '0.8.0',
        pgtap: true,
      });
    } finally {
      await db.close();
    }
  });

  it('rejects an unknown command with its usage', async () => {
    const r = await dbNative(['restart']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/usage: npm run db:native \[-- --replica \| -- stop\]/);
    expect((await dbNative(['stop', '--replica'])).code).toBe(2); // stop always stops both
  });

  it('with --replica also prints DATABASE_URL_REPLICA: a streaming hot standby of that server, the same on every call', async () => {
    const first = await dbNative(['--replica']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^DATABASE_URL=postgresql:\/\/postgres:postgres@127\.0\.0\.1:\d+\/postgres\nDATABASE_URL_REPLICA=postgresql:\/\/postgres:postgres@127\.0\.0\.1:\d+\/postgres\n$/);
    expect((await dbNative(['--replica'])).stdout).toBe(first.stdout);
    const [primaryUrl, replicaUrl] = first.stdout.trim().split('\n').map((l) => l.slice(l.indexOf('=') + 1));
    expect(primaryUrl).toBe(process.env.AJC_TEST_SERVER_URL);
    expect(replicaUrl).toBe(process.env.AJC_TEST_REPLICA_URL);
    expect(replicaUrl).not.toBe(primaryUrl);

    const primary = await openPostgres(primaryUrl!, { max: 1 });
    const standby = await openPostgres(replicaUrl!, { max: 1 });
    const table = `ajc_replica_probe_${process.pid}`;
    try {
      expect(await standby.query(`select pg_is_in_recovery() as standby, (select status from pg_stat_wal_receiver) as receiver,
                                          current_setting('hot_standby_feedback') as feedback, current_setting('server_version_num') as version`)).toEqual([
        { standby: true, receiver: 'streaming', feedback: 'on', version: expect.stringMatching(/^15\d{4}$/) },
      ]);
      // The primary streams to it through the slot that keeps the WAL it has not received.
      expect(await primary.query(`select r.state, s.slot_name::text, s.active from pg_stat_replication r join pg_replication_slots s on s.active_pid = r.pid
                                   where r.application_name = 'ajc_replica'`)).toEqual([{ state: 'streaming', slot_name: 'ajc_replica', active: true }]);
      // A committed row arrives; the standby refuses writes of its own.
      await primary.exec(`create table public.${table} (v int); insert into public.${table} values (42);`);
      let seen: unknown[] = [];
      // (up to 30 s: test/e2e/replica.test.ts may have replay paused for a moment in the other worker)
      for (let i = 0; i < 1500 && !seen.length; i++) {
        seen = await standby.query(`select v from public.${table}`).catch(() => []);
        if (!seen.length) await new Promise((r) => setTimeout(r, 20));
      }
      expect(seen).toEqual([{ v: 42 }]);
      await expect(standby.query(`insert into public.${table} values (1)`)).rejects.toMatchObject({ code: '25006' });
    } finally {
      await primary.exec(`drop table if exists public.${table}`).catch(() => {});
      await primary.close();
      await standby.close();
    }
  });
});
