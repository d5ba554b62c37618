import { randomBytes } from 'node:crypto';
import { dropDatabases, ensureServerTemplate } from '../src/db/server-template.ts';
import { ensureTemplate } from '../src/db/template.ts';

/**
 * Build the migrated template once per run so every test file can load (PGlite) or clone (native lane)
 * it in under a second. On the native lane, teardown drops whatever databases this run left behind.
 */
export default async function setup() {
  const server = process.env.AJC_TEST_SERVER_URL;
  if (!server) {
    await ensureTemplate();
    return;
  }
  process.env.AJC_TEST_RUN_ID ??= randomBytes(3).toString('hex');
  const prefix = `ajc_t_${process.env.AJC_TEST_RUN_ID}_`;
  await ensureServerTemplate(server, (l) => console.log(l));
  return async () => {
    const left = await dropDatabases(server, prefix);
    if (left.length) console.log(`dropped ${left.length} database(s) left by closed-early tests`);
  };
}
