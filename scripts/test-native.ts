/**
 * npm run test:native [-- --database-url URL [--replica-url URL]] [vitest arguments…]
 *
 * The native lane: every database test on a real PostgreSQL 15 server instead of PGlite. Without
 * --database-url it provisions and starts the `npm run db:native -- --replica` cluster first: the primary
 * and its streaming hot standby. Each test file then gets databases of its own, cloned from a migrated
 * template on the primary — and so on the standby too (streaming replication is cluster-wide), where the
 * read-replica tests reach the same database name (test/helpers/db.ts `replicaUrl`).
 *
 * --replica-url names a hot standby of the --database-url server (a superuser URL); without one, with
 * --database-url, the replica tests are skipped and say so.
 *
 * --database-url must be a superuser (or CREATEDB + the migrations' privileges) on a server with pgvector
 * and pgTAP; the run creates and drops only databases named ajc_t_* and one template ajc_tpl_*.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { projectRoot } from '../ops/migrations/runner.ts';
import { ensureNativeCluster, NativeUnavailableError } from '../devstack/native/cluster.ts';
import { ensureNativeReplica } from '../devstack/native/replica.ts';

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const take = (name: string): string | undefined => {
    const i = args.findIndex((a) => a === name || a.startsWith(`${name}=`));
    if (i === -1) return undefined;
    const [flag] = args.splice(i, 1);
    const value = flag!.includes('=') ? flag!.slice(flag!.indexOf('=') + 1) : args.splice(i, 1)[0];
    if (!value) throw new Error(`${name} needs a URL`);
    return value;
  };
  let url = take('--database-url');
  let replicaUrl = take('--replica-url');
  if (replicaUrl && !url) throw new Error('--replica-url names a standby of the --database-url server: give both.');
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const provisioned = !url;
  if (!url) {
    const primary = await ensureNativeCluster({ root: projectRoot, log });
    url = primary.url;
    replicaUrl = (await ensureNativeReplica({ root: projectRoot, log, primary })).url;
  }
  const safe = (u: string) => u.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
  log(`native lane: ${safe(url)}${replicaUrl ? ` (hot standby: ${safe(replicaUrl)})` : ''}`);
  const vitest = join(projectRoot, 'node_modules', '.bin', 'vitest');
  const child = spawn(vitest, ['run', ...args], {
    cwd: projectRoot,
    stdio: 'inherit',
    env: {
      ...process.env,
      AJC_TEST_SERVER_URL: url,
      ...(replicaUrl ? { AJC_TEST_REPLICA_URL: replicaUrl } : {}),
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
