/**
 * npm run db:migrate | db:reset | db:status | db:rollback [-- --version V] [--archive]
 *
 * Targets DATABASE_URL (or --database-url) when given, otherwise the embedded database in .data/db
 * (the one `npm start` serves; stop it first, or point --database-url at its socket).
 */
import { rm } from 'node:fs/promises';
import { openDb } from '../src/db/engine.ts';
import { migrate, rollback, status } from '../src/db/runner.ts';
import { defaultDataDir, parseFlags, runMain, UsageError } from '../src/cli/args.ts';

runMain(async () => {
  const { flags, positional } = parseFlags(process.argv.slice(2));
  const command = positional[0];
  const url = typeof flags['database-url'] === 'string' ? flags['database-url'] : process.env.DATABASE_URL;
  const dataDir = typeof flags['data-dir'] === 'string' ? flags['data-dir'] : defaultDataDir;
  const log = (l: string) => console.log(l);
  if (command === 'reset') {
    if (url) throw new UsageError('db:reset only resets the embedded database; it never drops a server database.');
    await rm(dataDir, { recursive: true, force: true });
    log(`removed ${dataDir}`);
  }
  const db = await openDb({ url, dataDir });
  try {
    switch (command) {
      case 'migrate':
      case 'reset': {
        const r = await migrate(db, { log });
        log(r.applied.length ? `${r.applied.length} migration(s) applied` : 'database is up to date');
        break;
      }
      case 'status': {
        for (const s of await status(db)) {
          log(`${s.applied ? '[x]' : '[ ]'} ${s.version}  ${s.name}${s.unknown ? '   (not in this checkout!)' : ''}`);
        }
        break;
      }
      case 'rollback': {
        await rollback(db, {
          ...(typeof flags.version === 'string' ? { version: flags.version } : {}),
          archive: flags.archive === true,
          log,
        });
        break;
      }
      default:
        throw new UsageError('usage: tsx scripts/db.ts migrate|reset|status|rollback [--version V] [--archive] [--database-url URL]');
    }
  } finally {
    await db.close();
  }
});
