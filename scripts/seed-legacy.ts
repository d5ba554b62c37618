/**
 * npm run seed:legacy -- --conversations N --messages M [--dirty-rate p] [--seed S] [--users U]
 *                        [--database-url URL] [--data-dir DIR]
 *
 * Fills the legacy tables with realistic, deterministic, dirty data (src/seed/legacy.ts). M is the total
 * number of chat_messages rows, spread over N conversations. Appends; run `npm run db:reset` for a clean slate.
 */
import { openDb } from '../src/db/engine.ts';
import { defaultDataDir, intFlag, parseFlags, runMain, UsageError } from '../src/cli/args.ts';
import { createProgress } from '../src/cli/progress.ts';
import { seedLegacy } from '../src/seed/legacy.ts';

runMain(async () => {
  const { flags } = parseFlags(process.argv.slice(2));
  if (flags.help) {
    console.log('usage: npm run seed:legacy -- --conversations N --messages M [--dirty-rate p] [--seed S] [--users U] [--database-url URL]');
    return;
  }
  const conversations = intFlag(flags, 'conversations', 100);
  const messages = intFlag(flags, 'messages', conversations * 20);
  if (messages < conversations) throw new UsageError('--messages is the total number of messages; it must be ≥ --conversations');
  const dirtyRate = flags['dirty-rate'] === undefined ? 0.05 : Number(flags['dirty-rate']);
  if (!(dirtyRate >= 0 && dirtyRate <= 1)) throw new UsageError(`--dirty-rate must be between 0 and 1 (got ${String(flags['dirty-rate'])})`);
  const seed = intFlag(flags, 'seed', 1, 0);
  const url = typeof flags['database-url'] === 'string' ? flags['database-url'] : process.env.DATABASE_URL;
  const dataDir = typeof flags['data-dir'] === 'string' ? flags['data-dir'] : defaultDataDir;
  const db = await openDb({ url, dataDir, max: 1 });
  try {
    console.log(`seeding ${messages} messages in ${conversations} conversations (dirty rate ${dirtyRate}, seed ${seed}) into ${url ? 'DATABASE_URL' : dataDir}`);
    const bar = createProgress({ label: 'seed', total: messages });
    const r = await seedLegacy(db, {
      conversations,
      messages,
      dirtyRate,
      seed,
      ...(flags.users !== undefined ? { users: intFlag(flags, 'users', 1) } : {}),
      onProgress: (done) => bar.update(done),
    });
    bar.stop();
    console.log(
      `seeded ${r.messages} messages (ids ${r.firstMessageId}..${r.lastMessageId}), ${r.conversations} conversations ` +
        `(+${r.stateOnlyConversations} only in chat_states), ${r.chatStates} chat_states, ${r.users} users, ${r.agents} agents ` +
        `in ${(r.ms / 1000).toFixed(1)} s (${Math.round(r.rowsPerSecond)} rows/s, ${r.method})`,
    );
    const dirty = Object.entries(r.dirt).filter(([, n]) => n > 0);
    if (dirty.length) console.log(`dirt: ${dirty.map(([k, n]) => `${k}=${n}`).join(' ')}`);
    console.log(
      `expected quarantine: ${r.expectedQuarantine.messages} messages, ${r.expectedQuarantine.states} chat_states; ` +
        `expected migrated messages: ${r.expectedMigrated}`,
    );
  } finally {
    await db.close();
  }
});
