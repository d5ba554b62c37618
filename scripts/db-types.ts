/**
 * npm run db:types [-- --check] [--database-url URL]
 *
 * Writes types/database.types.ts with the real Supabase CLI (`supabase gen types typescript`, offline;
 * devstack/typegen.ts). By default it reads a freshly migrated embedded database served on a temporary
 * socket, so the file always describes exactly supabase/migrations/; with DATABASE_URL (or --database-url)
 * it reads that database. --check exits 1 with "types are out of date, run npm run db:types" when they differ.
 */
import { join } from 'node:path';
import { parseCli, runMain, stringOpt } from '../ops/cli/args.ts';
import { projectRoot } from '../ops/migrations/runner.ts';
import { openMigrated } from '../devstack/templates/pglite.ts';
import { generateTypes, generateTypesFor, syncTypesFile, typesFile } from '../devstack/typegen.ts';

runMain(async () => {
  const { values } = parseCli({
    usage: 'usage: npm run db:types -- [--check] [--database-url URL]',
    entry: 'scripts/db-types.ts',
    options: { check: { type: 'boolean' }, 'database-url': { type: 'string' } },
  });
  const url = stringOpt(values, 'database-url') ?? process.env.DATABASE_URL;
  let text: string;
  if (url) text = await generateTypes(url);
  else {
    const db = await openMigrated();
    try {
      text = await generateTypesFor(db);
    } finally {
      await db.close();
    }
  }
  const r = await syncTypesFile(text, { path: join(projectRoot, typesFile), check: values.check === true });
  (r.ok ? console.log : console.error)(r.message);
  return r.ok ? 0 : 1;
});
