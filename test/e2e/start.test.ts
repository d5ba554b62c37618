/**
 * `npm start` as a user runs it: the CLI prints the URLs and keys, psql-style clients reach the database,
 * the functions answer with the printed service_role key, and SIGTERM stops everything with exit code 0.
 * On the native lane it is `npm start -- --database-url URL` on a fresh (empty) database of the server:
 * the stack migrates and seeds it, and serves it without socket or proxy.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import postgres from 'postgres';
import { expect, it } from 'vitest';
import { projectRoot } from '../../ops/migrations/runner.ts';
import { onNative, openEmpty } from '../helpers/db.ts';

it('starts, serves, prints its keys and stops cleanly on SIGTERM', async () => {
  const server = onNative ? await openEmpty() : null;
  const where = server ? ['--database-url', server.url!] : ['--memory', '--db-port', '0'];
  const child = spawn(join(projectRoot, 'node_modules', '.bin', 'tsx'), ['scripts/start.ts', ...where, '--api-port', '0'], {
    cwd: projectRoot,
    env: { ...process.env, DEBUG: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 150_000;
    while (!out.includes('Press Ctrl-C') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    expect(out).toContain('Press Ctrl-C');
    expect(out).toMatch(/first 200 from a function \d+ ms after launch\)/);
    const dbUrl = /DB URL: (\S+)/.exec(out)![1]!;
    const fnUrl = /Functions URL: (\S+)\/<name>/.exec(out)![1]!;
    const service = /service_role key: (\S+)/.exec(out)![1]!;
    expect(/anon key: (\S+)/.exec(out)![1]).toMatch(/^eyJ/);

    const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
    try {
      const [row] = await sql`select count(*)::int as n from supabase_migrations.schema_migrations`;
      expect(row!.n).toBeGreaterThanOrEqual(5);
      if (server) {
        // A database with no migrations yet is seeded like a new `npm start` data directory.
        expect(out).toContain('applied supabase/seed.sql');
        const [seeded] = await sql`select count(*)::int as n from public.agents`;
        expect(seeded!.n).toBeGreaterThan(0);
      }
    } finally {
      await sql.end({ timeout: 1 });
    }
    const res = await fetch(`${fnUrl}/sessions?limit=1`, { headers: { authorization: `Bearer ${service}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ sessions: expect.any(Array) });
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
  expect(out).toContain('stopped.');
  await server?.close();
}, 200_000);
