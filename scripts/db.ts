/**
 * npm run db:migrate | db:status | db:rollback [-- --version V | --to V] [--archive] | db:reset [-- --no-seed]
 *
 * Targets DATABASE_URL (or --database-url) when given, otherwise the embedded database in .data/db (or
 * --data-dir). While `npm start` serves that directory, migrate / status / rollback go through its Postgres
 * port; db:reset deletes the directory, so it refuses while anything holds it. A command that creates the
 * embedded database (db:reset, or db:migrate on a new directory) applies supabase/seed.sql, as `npm start`
 * and `supabase db reset` do.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openEmbedded } from '../devstack/pglite/engine.ts';
import { DataDirInUseError, displayDir, lockHolder } from '../devstack/pglite/lock.ts';
import { applySeed, rollback, rollbackTo, status } from '../ops/migrations/runner.ts';
import { migrateWithShim } from '../devstack/platform.ts';
import { defaultDataDir, openTarget } from '../devstack/target.ts';
import { parseCli, runMain, stringOpt, UsageError, type OptionSpec } from '../ops/cli/args.ts';

const usage = `usage: npm run db:<command> -- [options]      (or: tsx scripts/db.ts <command> [options])
  migrate
  status
  rollback    [--version V | --to V] [--archive]   (--to V: V and every applied migration built on it, newest first)
  reset       [--no-seed]     (embedded database only: deletes it, migrates, applies supabase/seed.sql)
common: [--database-url URL] [--data-dir DIR]`;

const perCommand: Record<string, OptionSpec> = {
  migrate: {},
  status: {},
  rollback: { version: { type: 'string' }, to: { type: 'string' }, archive: { type: 'boolean' } },
  reset: { 'no-seed': { type: 'boolean' } },
};

runMain(async () => {
  const argv = process.argv.slice(2);
  const command = argv[0] && !argv[0].startsWith('-') ? argv[0] : undefined;
  if (command && !perCommand[command]) throw new UsageError(`unknown command ${JSON.stringify(command)}`, usage);
  const { values } = parseCli(
    {
      usage,
      entry: 'scripts/db.ts',
      positionals: 1,
      options: { 'database-url': { type: 'string' }, 'data-dir': { type: 'string' }, ...(command ? perCommand[command] : {}) },
    },
    argv,
  );
  if (!command) throw new UsageError('which command?', usage);
  const url = stringOpt(values, 'database-url') ?? process.env.DATABASE_URL;
  const dataDir = stringOpt(values, 'data-dir') ?? defaultDataDir;
  const log = (l: string) => console.log(l);

  if (command === 'reset') {
    if (url) throw new UsageError('db:reset only resets the embedded database; it never drops a server database.');
    const db = await openEmbedded({ dataDir, reset: true }).catch((e: unknown) => {
      if (!(e instanceof DataDirInUseError)) throw e;
      throw new DataDirInUseError(
        e.dir,
        e.holder,
        e.holder.stack
          ? 'stop it first (Ctrl-C in its terminal), then run npm run db:reset again — or restart it with npm start -- --reset, which does the same'
          : 'wait for it to finish or stop it, then run npm run db:reset again',
      );
    });
    try {
      log(`removed ${displayDir(dataDir)}`);
      const r = await migrateWithShim(db, { log });
      log(r.applied.length ? `${r.applied.length} migration(s) applied` : 'database is up to date');
      // Like `supabase db reset`: a reset database has the local demo data (users Alice and Bob, their agents).
      if (values['no-seed'] !== true && (await applySeed(db))) log('applied supabase/seed.sql (skip it with --no-seed)');
    } finally {
      await db.close();
    }
    return;
  }

  // A new embedded database gets the demo data whichever command creates it, as `npm start` does.
  const creating = !url && !existsSync(join(dataDir, 'PG_VERSION')) && !(await lockHolder(dataDir));
  const { db, viaStack } = await openTarget({ url, dataDir, max: 1 });
  try {
    switch (command) {
      case 'migrate': {
        const r = await migrateWithShim(db, { log });
        log(r.applied.length ? `${r.applied.length} migration(s) applied` : 'database is up to date');
        if (creating && !viaStack && (await applySeed(db))) log(`applied supabase/seed.sql (new database in ${displayDir(dataDir)})`);
        break;
      }
      case 'status': {
        for (const s of await status(db)) {
          log(`${s.applied ? '[x]' : '[ ]'} ${s.version}  ${s.name}${s.unknown ? '   (not in this checkout!)' : ''}`);
        }
        break;
      }
      case 'rollback': {
        if (typeof values.to === 'string') {
          if (typeof values.version === 'string') throw new UsageError('pass --version or --to, not both', usage);
          await rollbackTo(db, values.to, { archive: values.archive === true, log });
          break;
        }
        await rollback(db, {
          ...(typeof values.version === 'string' ? { version: values.version } : {}),
          archive: values.archive === true,
          log,
        });
        break;
      }
    }
  } finally {
    await db.close();
  }
});
