/**
 * npm run test:native [-- --database-url URL] [vitest arguments…]
 *
 * The native lane: every database test on a real PostgreSQL 15 server instead of PGlite. Without
 * --database-url it provisions and starts the `npm run db:native` cluster first. Each test file then gets
 * databases of its own, cloned from a migrated template on that server (test/helpers/db.ts).
 *
 * --database-url must be a superuser (or CREATEDB + the migrations' privileges) on a server with pgvector
 * and pgTAP; the run creates and drops only databases named ajc_t_* and one template ajc_tpl_*.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { projectRoot } from '../src/db/runner.ts';
import { ensureNativeCluster, NativeUnavailableError } from '../src/native/cluster.ts';

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  let url: string | undefined;
  const i = args.findIndex((a) => a === '--database-url' || a.startsWith('--database-url='));
  if (i !== -1) {
    const [flag] = args.splice(i, 1);
    url = flag!.includes('=') ? flag!.slice(flag!.indexOf('=') + 1) : args.splice(i, 1)[0];
    if (!url) throw new Error('--database-url needs a URL');
  }
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const provisioned = !url;
  url ??= (await ensureNativeCluster({ root: projectRoot, log })).url;
  const safe = url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
  log(`native lane: ${safe}`);
  const vitest = join(projectRoot, 'node_modules', '.bin', 'vitest');
  const child = spawn(vitest, ['run', ...args], {
    cwd: projectRoot,
    stdio: 'inherit',
    env: {
      ...process.env,
      AJC_TEST_SERVER_URL: url,
      AJC_TEST_RUN_ID: randomBytes(3).toString('hex'),
      // The server is the db:native cluster (not one given with --database-url): its own tests may call it.
      ...(provisioned ? { AJC_TEST_DB_NATIVE: '1' } : {}),
    },
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 130 : 1))));
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as Error;
    process.stderr.write(`error: ${e instanceof NativeUnavailableError || !process.env.DEBUG ? e.message : e.stack}\n`);
    process.exitCode = 1;
  },
);
