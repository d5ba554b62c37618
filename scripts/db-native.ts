/**
 * npm run db:native [-- --replica] [-- stop]
 *
 * Provisions (first time: apt packages, pgvector built from Debian's source package) and starts a throwaway
 * native PostgreSQL 15 cluster in .data/pg15, then prints exactly one line on stdout:
 *
 *   DATABASE_URL=postgresql://postgres:postgres@127.0.0.1:PORT/postgres
 *
 * With --replica it also starts a streaming hot standby of it in .data/pg15-replica and prints a second line
 *
 *   DATABASE_URL_REPLICA=postgresql://postgres:postgres@127.0.0.1:PORT2/postgres
 *
 * Progress goes to stderr, so `export "$(npm run -s db:native)"` (one line) and
 * `export $(npm run -s db:native -- --replica)` (two) work. `stop` stops the standby and the primary.
 */
import { parseArgs } from 'node:util';
import { ensureNativeCluster, NativeUnavailableError, stopNativeCluster } from '../devstack/native/cluster.ts';
import { projectRoot } from '../ops/migrations/runner.ts';
import { ensureNativeReplica, stopNativeReplica } from '../devstack/native/replica.ts';

const usage = 'usage: npm run db:native [-- --replica | -- stop]';

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    args: process.argv.slice(2),
    options: { help: { type: 'boolean', short: 'h' }, replica: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  const log = (line: string) => process.stderr.write(`${line}\n`);
  if (values.help) {
    log(usage);
    return 0;
  }
  const command = positionals[0] ?? 'start';
  if (positionals.length > 1 || !['start', 'stop'].includes(command) || (command === 'stop' && values.replica)) {
    log(usage);
    return 2;
  }
  if (command === 'stop') {
    // The standby first: stopped after its primary, it would only retry the connection until then.
    const replica = await stopNativeReplica({ root: projectRoot, log });
    const primary = await stopNativeCluster({ root: projectRoot, log });
    log(primary || replica ? `stopped${replica ? ' (primary and standby)' : ''}.` : 'not running.');
    return 0;
  }
  const t0 = performance.now();
  const cluster = await ensureNativeCluster({ root: projectRoot, log });
  const replica = values.replica ? await ensureNativeReplica({ root: projectRoot, log, primary: cluster }) : null;
  if (!cluster.wasRunning || (replica && !replica.wasRunning)) {
    const where = replica ? `${cluster.dataDir} and ${replica.dataDir}` : cluster.dataDir;
    log(`ready in ${((performance.now() - t0) / 1000).toFixed(1)} s (data in ${where}; stop with: npm run db:native -- stop)`);
  }
  process.stdout.write(`DATABASE_URL=${cluster.url}\n`);
  if (replica) process.stdout.write(`DATABASE_URL_REPLICA=${replica.url}\n`);
  return 0;
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
