import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { dropDatabases, ensureServerTemplate } from '../devstack/templates/server.ts';
import { ensureTemplate } from '../devstack/templates/pglite.ts';

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
  const replica = process.env.AJC_TEST_REPLICA_URL;
  if (replica) {
    // A run killed while a replica test had paused WAL replay would leave the standby frozen.
    const sql = postgres(replica, { max: 1, onnotice: () => {}, connect_timeout: 15 });
    try {
      await sql`select pg_wal_replay_resume() where pg_is_in_recovery() and pg_is_wal_replay_paused()`;
    } finally {
      await sql.end({ timeout: 5 });
    }
  }
  return async () => {
    const left = await dropDatabases(server, prefix);
    if (left.length) console.log(`dropped ${left.length} database(s) left by closed-early tests`);
  };
}
