/**
 * npm run db:types [-- --check] [--database-url URL]
 *
 * Writes types/database.types.ts from the live schema (the shape of `supabase gen types typescript`,
 * schema public). By default it introspects a freshly migrated embedded database, so the file always
 * describes exactly supabase/migrations/; with DATABASE_URL (or --database-url) it reads that database.
 * --check exits 1 with "types/database.types.ts is out of date — run npm run db:types" when they differ.
 */
import { join } from 'node:path';
import { openPostgres, type Db } from '../ops/db.ts';
import { projectRoot } from '../ops/migrations/runner.ts';
import { openMigrated } from '../devstack/templates/pglite.ts';
import { generateTypes, syncTypesFile, typesFile } from '../devstack/typegen/generate.ts';
import { parseCli, runMain, stringOpt } from '../ops/cli/args.ts';

runMain(async () => {
  const { values } = parseCli({
    usage: 'usage: npm run db:types -- [--check] [--database-url URL]',
    entry: 'scripts/db-types.ts',
    options: { check: { type: 'boolean' }, 'database-url': { type: 'string' } },
  });
  const url = stringOpt(values, 'database-url') ?? process.env.DATABASE_URL;
  const db: Db = url ? await openPostgres(url, { max: 1 }) : await openMigrated();
  let text: string;
  try {
    text = await generateTypes(db);
  } finally {
    await db.close();
  }
  const r = await syncTypesFile(text, { path: join(projectRoot, typesFile), check: values.check === true });
  (r.ok ? console.log : console.error)(r.message);
  return r.ok ? 0 : 1;
});
