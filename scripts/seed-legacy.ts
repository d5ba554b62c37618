/**
 * npm run seed:legacy -- --conversations N --messages M [--dirty-rate p] [--seed S] [--users U]
 *                        [--database-url URL] [--data-dir DIR]
 *
 * Fills the legacy tables with realistic, deterministic, dirty data, generated inside the database
 * (ops/seed/legacy.ts + legacy.sql). M is the total number of chat_messages rows, spread over N conversations.
 * Appends: a second run (same seed or another) adds new conversations; users and agents of a seed that exist are
 * skipped. For a clean slate, `npm run db:reset` with npm start stopped, or `npm start -- --reset`.
 * While `npm start` holds the data directory, it seeds through the stack's Postgres port.
 */
import { defaultDataDir, openTarget } from '../devstack/target.ts';
import { intOpt, parseCli, runMain, stringOpt, UsageError } from '../ops/cli/args.ts';
import { createProgress } from '../ops/cli/progress.ts';
import { seedLegacy } from '../ops/seed/legacy.ts';

const usage = `usage: npm run seed:legacy -- --conversations N --messages M [--dirty-rate p] [--seed S] [--users U]
                              [--database-url URL] [--data-dir DIR]`;

runMain(async () => {
  const { values } = parseCli({
    usage,
    entry: 'scripts/seed-legacy.ts',
    options: {
      conversations: { type: 'string' },
      messages: { type: 'string' },
      'dirty-rate': { type: 'string' },
      seed: { type: 'string' },
      users: { type: 'string' },
      'database-url': { type: 'string' },
      'data-dir': { type: 'string' },
    },
  });
  const conversations = intOpt(values, 'conversations', 100);
  const messages = intOpt(values, 'messages', conversations * 20);
  if (messages < conversations) throw new UsageError('--messages is the total number of messages; it must be ≥ --conversations', usage);
  const dirtyRate = values['dirty-rate'] === undefined ? 0.05 : Number(values['dirty-rate']);
  if (!(dirtyRate >= 0 && dirtyRate <= 1)) throw new UsageError(`--dirty-rate must be between 0 and 1 (got ${String(values['dirty-rate'])})`, usage);
  const seed = intOpt(values, 'seed', 1, 0);
  const users = values.users !== undefined ? intOpt(values, 'users', 1) : undefined;
  const url = stringOpt(values, 'database-url') ?? process.env.DATABASE_URL;
  const { db, where } = await openTarget({ url, dataDir: stringOpt(values, 'data-dir') ?? defaultDataDir, max: 1 });
  try {
    console.log(`seeding ${messages} messages in ${conversations} conversations (dirty rate ${dirtyRate}, seed ${seed}) into ${where}`);
    const bar = createProgress({ label: 'seed', total: messages });
    const r = await seedLegacy(db, {
      conversations,
      messages,
      dirtyRate,
      seed,
      ...(users !== undefined ? { users } : {}),
      onProgress: (done) => bar.update(done),
    });
    bar.stop();
    console.log(
      `seeded ${r.messages} messages (ids ${r.firstMessageId}..${r.lastMessageId}), ${r.conversations} conversations ` +
        `(+${r.stateOnlyConversations} only in chat_states), ${r.chatStates} chat_states, ${r.users} users (${r.usersCreated} new), ${r.agents} agents ` +
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
