import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openPostgres, type Db } from '../../ops/db.ts';
import { serveSocket } from '../../devstack/pglite/socket.ts';
import { messageDirtKinds, quarantineDirtKinds, quarantineReasonPatterns, seedLegacy, stateDirtKinds } from '../../ops/seed/legacy.ts';
import { onNative, openMigrated } from '../helpers/db.ts';
import { openMigrated as openPGliteMigrated } from '../../devstack/templates/pglite.ts';
import { pgliteOf } from '../../devstack/pglite/engine.ts';

// One database for the file (loading the template is the slow part); emptied before each test.
let db: Db;
beforeAll(async () => {
  db = await openMigrated();
});
afterAll(async () => {
  await db.close();
});
const empty = () =>
  db.exec(`truncate auth.users, public.agents, public.chat_messages, public.chat_states restart identity cascade`);
beforeEach(empty);

/** A content hash of everything the seeder writes, in id order. */
async function fingerprint(db: Db) {
  const r = await db.query<{ m: string; s: string; u: string; a: string }>(`
    select (select md5(string_agg(to_jsonb(m)::text, '|' order by id)) from public.chat_messages m) as m,
           (select md5(string_agg(to_jsonb(s)::text, '|' order by conversation_id)) from public.chat_states s) as s,
           (select md5(string_agg(id::text || email, '|' order by id)) from auth.users) as u,
           (select md5(string_agg(to_jsonb(a)::text, '|' order by id)) from public.agents a) as a`);
  return r[0]!;
}

describe('seed:legacy generator', () => {
  it('is deterministic: same seed, same bytes; another seed, other data', async () => {
    const opts = { conversations: 40, messages: 600, dirtyRate: 0.2, seed: 7 };
    const ra = await seedLegacy(db, opts);
    const fa = await fingerprint(db);
    await empty();
    const rb = await seedLegacy(db, opts);
    expect(await fingerprint(db)).toEqual(fa);
    await empty();
    await seedLegacy(db, { ...opts, seed: 8 });
    expect((await fingerprint(db)).m).not.toEqual(fa.m);
    const { ms: _a, rowsPerSecond: _b, ...restA } = ra;
    const { ms: _c, rowsPerSecond: _d, ...restB } = rb;
    expect(restA).toEqual(restB);
    expect(ra.messages).toBe(600);
    expect(ra.lastMessageId! - ra.firstMessageId! + 1).toBe(600);
  });

  it('writes every kind of dirt, and its expected quarantine matches the migration rules exactly', async () => {
    const r = await seedLegacy(db, { conversations: 60, messages: 2500, dirtyRate: 0.3, seed: 3 });
    for (const k of messageDirtKinds) expect(r.dirt[k], k).toBeGreaterThan(0);
    const dirty = Object.values(r.dirt).reduce((x, y) => x + y, 0);
    expect(dirty / r.messages).toBeGreaterThan(0.22);
    expect(dirty / r.messages).toBeLessThan(0.38);
    expect(r.expectedQuarantine.messages).toBe(quarantineDirtKinds.reduce((n, k) => n + r.dirt[k], 0));

    // The SQL's own shape classifier agrees with the generator's bookkeeping (tenancy aside: that needs owners).
    const tenancy = r.dirt.conversation_owned_by_other_user + r.dirt.agent_owned_by_other_user;
    const bad = await db.query<{ n: number }>(
      `select count(*)::int as n from public.chat_messages
        where chat_migration.message_problem(role, metadata, attachments, tool_calls, partial_tool_calls) is not null`,
    );
    expect(bad[0]!.n).toBe(r.expectedQuarantine.messages - tenancy);
    const badStates = await db.query<{ n: number }>(
      `select count(*)::int as n from public.chat_states where chat_migration.try_jsonb(content) is null`,
    );
    expect(badStates[0]!.n).toBe(r.expectedQuarantine.states);
    for (const k of stateDirtKinds) expect(r.stateDirt[k], k).toBeGreaterThan(0);

    // …and so does the migration itself: run it, then count what it quarantined, reason by reason.
    await db.query(`call public.run_chat_migration(500)`);
    await db.query(`select * from public.migrate_chat_states()`);
    const actual: Record<string, number> = {};
    for (const [kind, pattern] of Object.entries(quarantineReasonPatterns)) {
      const [row] = await db.query<{ n: number }>(
        `select count(*)::int as n from chat_migration.quarantine where resolved_at is null and reason like $1`, [pattern]);
      if (row!.n > 0) actual[kind] = row!.n;
    }
    expect(actual).toEqual(r.expectedQuarantine.byReason);
    const [total] = await db.query<{ n: number; v2: number }>(
      `select (select count(*)::int from chat_migration.quarantine) as n,
              (select count(*)::int from public.chat_messages_v2 where legacy_id is not null) as v2`);
    expect(total!.n).toBe(r.expectedQuarantine.messages + r.expectedQuarantine.states);
    expect(total!.v2).toBe(r.expectedMigrated);

    const shape = await db.query<Record<string, number>>(`
      select count(*) filter (where role in ('human', 'ai', 'bot', 'function'))::int as aliases,
             count(*) filter (where content is null)::int as null_content,
             count(*) filter (where char_length(content) >= 50000)::int as big,
             count(*) filter (where content ~ '[\\u0590-\\u08ff]')::int as rtl,
             count(*) filter (where content ~ '[\\U0001F300-\\U0001FAFF]')::int as emoji,
             count(*) filter (where jsonb_typeof(tool_calls -> 0 -> 'args') = 'string')::int as string_args,
             count(*) filter (where jsonb_typeof(attachments) = 'object')::int as object_attachments,
             count(*) filter (where metadata ? 'tokens')::int as with_tokens,
             count(*) filter (where metadata is not null and not metadata ? 'tokens')::int as without_tokens,
             count(distinct conversation_id)::int as conversations
        from public.chat_messages`);
    const s = shape[0]!;
    for (const k of Object.keys(s)) expect(s[k], k).toBeGreaterThan(0);
    expect(s.conversations).toBe(60);
    // State blobs: valid ones parse to the legacy AgentState shape.
    const states = await db.query<{ ok: number; total: number }>(`
      select count(*) filter (where (chat_migration.try_jsonb(content) ?& array['user_input', 'focus', 'step_count',
               'last_tool_result', 'conversation_history', 'memory_context']))::int as ok, count(*)::int as total
        from public.chat_states`);
    expect(states[0]!.ok).toBe(states[0]!.total - r.expectedQuarantine.states);
  });

  it('writes the same bytes on every engine and through postgres.js (the generator runs in the database)', async () => {
    // On the native lane `db` is a PostgreSQL 15 server database and the reference is PGlite beside it; on PGlite
    // the same database is seeded again through a pglite-socket and postgres.js (parameters, transactions).
    const reference = onNative ? await openPGliteMigrated() : db;
    const opts = { conversations: 20, messages: 400, dirtyRate: 0.3, seed: 9 };
    try {
      const a = await seedLegacy(reference, opts);
      const fa = await fingerprint(reference);
      if (!onNative) await empty();
      const socket = onNative ? null : await serveSocket(pgliteOf(db)!);
      const remote = socket ? await openPostgres(socket.url, { max: 1 }) : db;
      try {
        const b = await seedLegacy(remote, opts);
        expect(b.expectedQuarantine).toEqual(a.expectedQuarantine);
        expect(b.dirt).toEqual(a.dirt);
      } finally {
        if (socket) {
          await remote.close();
          await socket.stop();
        }
      }
      expect(await fingerprint(db)).toEqual(fa);
    } finally {
      if (reference !== db) await reference.close();
    }
  });

  it('a second run with the same seed appends new conversations and skips the existing users', async () => {
    const opts = { conversations: 12, messages: 200, dirtyRate: 0.1, seed: 4 };
    const first = await seedLegacy(db, opts);
    const second = await seedLegacy(db, opts);
    expect(first.usersCreated).toBe(first.users);
    expect(second.usersCreated).toBe(0);
    expect(second.messages).toBe(200);
    expect(second.firstMessageId).toBe(first.lastMessageId! + 1);
    const [c] = await db.query<{ convs: number; users: number; msgs: number }>(
      `select count(distinct conversation_id)::int as convs, (select count(*)::int from auth.users) as users, count(*)::int as msgs
         from public.chat_messages`);
    expect(c).toEqual({ convs: 24, users: first.users, msgs: 400 });
  });

  it('with dirty rate 0 everything is clean', async () => {
    const r = await seedLegacy(db, { conversations: 10, messages: 300, dirtyRate: 0 });
    expect(r.expectedQuarantine).toEqual({ messages: 0, states: 0, byReason: {} });
    expect(r.expectedMigrated).toBe(300);
  });
});
