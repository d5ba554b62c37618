/**
 * npm start [-- --reset] [--data-dir DIR | --memory] [--db-port N] [--api-port N] [--host H]
 * npm start -- --database-url URL [--read-url URL] [--api-port N] [--host H]   (an existing Postgres, e.g. npm run db:native)
 *
 * The project's `supabase start` without Docker: embedded Postgres with migrations applied, psql on
 * 127.0.0.1:54322, edge functions under real Deno on http://127.0.0.1:54321/functions/v1/<name>.
 * Ctrl-C (or SIGTERM) stops the Deno children, the socket and the database cleanly; so does the end of
 * the process that launched it (npm killed on its own).
 */
import { defaultDataDir } from '../devstack/target.ts';
import { intOpt, parseCli, runMain, stringOpt, UsageError } from '../ops/cli/args.ts';
import { startStack } from '../devstack/stack/index.ts';
import { watchLauncher } from '../devstack/stack/launcher.ts';

const usage = `usage: npm start -- [--reset] [--data-dir DIR | --memory | --database-url URL [--read-url URL]] [--db-port N] [--api-port N] [--host H]
  (npm keeps flags written before -- for itself: npm start -- --reset)`;

runMain(async () => {
  const tMain = Math.round(performance.now());
  // Signals are caught from the first moment: one that arrives while the stack is still starting stops
  // it as soon as it is up, instead of killing the process half-way (orphaned Deno workers).
  let signalled: string | null = null;
  let onSignal: (sig: string) => void = (sig) => {
    if (signalled) process.exit(130); // a second Ctrl-C: leave now (the exit hook still kills Deno workers)
    signalled = sig;
    console.log(`${sig}: stopping as soon as the stack is up (again to force)…`);
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  // npm killed on its own leaves us running (it does not forward the signal): stop when it is gone.
  watchLauncher((who) => onSignal(`launcher ${who} is gone`));
  const { values } = parseCli({
    usage,
    entry: 'scripts/start.ts',
    options: {
      reset: { type: 'boolean' },
      'data-dir': { type: 'string' },
      memory: { type: 'boolean' },
      'db-port': { type: 'string' },
      'api-port': { type: 'string' },
      host: { type: 'string' },
      'database-url': { type: 'string' },
      'read-url': { type: 'string' },
    },
  });
  const databaseUrl = stringOpt(values, 'database-url');
  // A read replica of that server: --read-url, or SUPABASE_DB_URL_READ (the functions' own variable).
  const readUrl = stringOpt(values, 'read-url') ?? (process.env.SUPABASE_DB_URL_READ || undefined);
  if (readUrl && !databaseUrl) throw new UsageError('--read-url (SUPABASE_DB_URL_READ) is a replica of a real server: give that server with --database-url too (the embedded database has no replicas).', usage);
  const clash = (['memory', 'data-dir', 'reset', 'db-port'] as const).filter((f) => values[f] !== undefined);
  if (databaseUrl && clash.length) throw new UsageError(`--database-url serves an existing server; drop --${clash.join(', --')}.`, usage);
  if (values.memory === true && values['data-dir'] !== undefined) throw new UsageError('--memory and --data-dir exclude each other', usage);
  // Output may go to a pipe whose reader is gone (the launcher died): that must not stop a clean shutdown.
  process.stdout.on('error', () => {});
  const memory = values.memory === true;
  const dataDir = memory ? null : (stringOpt(values, 'data-dir') ?? defaultDataDir);
  const dbPort = intOpt(values, 'db-port', 54322, 0);
  const apiPort = intOpt(values, 'api-port', 54321, 0);
  const stack = await startStack({
    ...(databaseUrl ? { databaseUrl } : {}),
    ...(readUrl ? { readUrl } : {}),
    dataDir,
    reset: values.reset === true,
    dbPort,
    apiPort,
    ...(typeof values.host === 'string' ? { host: values.host } : {}),
    log: (l) => console.log(l),
  });
  // Cold start as a user sees it: from this process starting to a function answering 200.
  const tProbe = Math.round(performance.now());
  const probe = await fetch(`${stack.functionsUrl}/sessions?limit=1`, { headers: { authorization: `Bearer ${stack.serviceRoleKey}` } });
  await probe.text();
  const firstOk = Math.round(performance.now());
  if (process.env.DEBUG) console.log({ tMain, tProbe, firstOk });
  console.log(`
Started advanced-json-chat local stack in ${stack.startupMs} ms (first 200 from a function ${firstOk} ms after launch${probe.ok ? '' : `; probe answered ${probe.status}!`}).

         API URL: ${stack.apiUrl}
   Functions URL: ${stack.functionsUrl}/<name>   (${stack.functions.join(', ')})
          DB URL: ${stack.dbUrl}
        Database: ${databaseUrl ? 'the server at DB URL (each function keeps its own connection pool)' : dataDir === null ? 'in memory (gone on exit)' : dataDir}${stack.readUrl ? `
    Read replica: ${stack.readUrl} (reads go there once it has the caller's writes)` : ''}
      JWT secret: ${stack.jwtSecret}
        anon key: ${stack.anonKey}
service_role key: ${stack.serviceRoleKey}

Press Ctrl-C to stop.`);

  await new Promise<void>((resolve) => {
    let stopping = false;
    onSignal = (sig: string) => {
      if (stopping) return;
      stopping = true;
      console.log(`\n${sig}: stopping…`);
      stack.stop().then(resolve, (e) => {
        console.error(`shutdown failed: ${(e as Error).message}`);
        resolve();
      });
    };
    if (signalled) onSignal(signalled);
  });
  console.log('stopped.');
});
