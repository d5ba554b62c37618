/**
 * npm run db:native [-- stop]
 *
 * Provisions (first time: apt packages, pgvector built from Debian's source package) and starts a throwaway
 * native PostgreSQL 15 cluster in .data/pg15, then prints exactly one line on stdout:
 *
 *   DATABASE_URL=postgresql://postgres:postgres@127.0.0.1:PORT/postgres
 *
 * Progress goes to stderr, so `export "$(npm run -s db:native)"` works. `stop` stops the server.
 */
import { parseArgs } from 'node:util';
import { ensureNativeCluster, NativeUnavailableError, stopNativeCluster } from '../src/native/cluster.ts';
import { projectRoot } from '../src/db/runner.ts';

const usage = 'usage: npm run db:native [-- stop]';

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    args: process.argv.slice(2),
    options: { help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: true,
  });
  const log = (line: string) => process.stderr.write(`${line}\n`);
  if (values.help) {
    log(usage);
    return 0;
  }
  const command = positionals[0] ?? 'start';
  if (positionals.length > 1 || !['start', 'stop'].includes(command)) {
    log(usage);
    return 2;
  }
  if (command === 'stop') {
    log((await stopNativeCluster({ root: projectRoot, log })) ? 'stopped.' : 'not running.');
    return 0;
  }
  const t0 = performance.now();
  const cluster = await ensureNativeCluster({ root: projectRoot, log });
  if (!cluster.wasRunning) log(`ready in ${((performance.now() - t0) / 1000).toFixed(1)} s (data in ${cluster.dataDir}; stop with: npm run db:native -- stop)`);
  process.stdout.write(`DATABASE_URL=${cluster.url}\n`);
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
