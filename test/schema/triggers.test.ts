/** Triggers: updated_at, message versions + revisions, session metrics, content CHECK, parent threads. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../ops/db.ts';
import { as, openMigrated } from '../helpers/db.ts';
import { createWorld, expectError, type World } from './fixtures.ts';

let db: Db;
let A: World;
let B: World;

beforeAll(async () => {
  db = await openMigrated();
  A = await createWorld(db);
  B = await createWorld(db);
});
afterAll(async () => {
  await db?.close();
});

const session = async (id: string) =>
  (
    await db.query<{ message_count: number; token_count: number; last_message_at: Date | null }>(
      `select message_count, token_count::int as token_count, last_message_at from public.conversation_sessions where id = $1`,
      [id],
    )
  )[0]!;

async function newSession(w: World): Promise<string> {
  const rows = await db.query<{ id: string }>(
    `insert into public.conversation_sessions (user_id, agent_id) values ($1, $2) returning id`,
    [w.uid, w.agentId],
  );
  return rows[0]!.id;
}

describe('content check', () => {
  const valid = [
    { type: 'text', text: '' },
    { type: 'text', text: 'hi' },
    { type: 'parts', parts: [{ type: 'text', text: 'a' }] },
    { type: 'parts', parts: [{ type: 'image', url: 'https://x' }, { type: 'text', text: 'b' }] },
  ];
  const invalid = [
    'text', 1, null, [], {}, { type: 'text' }, { type: 'text', text: 1 }, { type: 'text', text: 'a', extra: true },
    { type: 'parts' }, { type: 'parts', parts: [] }, { type: 'parts', parts: {} }, { type: 'parts', parts: ['a'] },
    { type: 'parts', parts: [{ text: 'no type' }] }, { type: 'parts', parts: [{ type: 'text' }] },
    { type: 'parts', parts: [{ type: 'text', text: 'a' }], x: 1 }, { type: 'markdown', text: 'a' },
  ];
  it('accepts text and parts content', async () => {
    for (const c of valid) {
      const r = await db.query<{ ok: boolean }>(`select public.is_valid_message_content($1::jsonb) as ok`, [JSON.stringify(c)]);
      expect(r[0]!.ok, JSON.stringify(c)).toBe(true);
    }
  });
  it('the CHECK uses an inlinable private twin that agrees with the public function', async () => {
    const extra = [
      { type: 'parts', parts: [[{ type: 'text', text: 'a' }]] }, { type: 'parts', parts: [{ type: ['text'], text: 'a' }] },
      { type: 'parts', parts: [{ type: 'text', text: null }] }, { type: 'parts', parts: [{ type: 1 }] },
      { type: 'parts', parts: [{ type: 'image' }, { type: 'text', text: ['a'] }] }, { type: 'parts', parts: [null] },
      { type: ['text'], text: 'a' }, { type: 'text', text: { a: 1 } }, { type: 'parts', parts: [{ type: 'text', text: 'a' }, 1] },
    ];
    for (const c of [...valid, ...invalid, ...extra]) {
      const [r] = await db.query<{ pub: boolean | null; twin: boolean | null }>(
        `select public.is_valid_message_content($1::jsonb) as pub, chat_private.is_valid_message_content($1::jsonb) as twin`,
        [JSON.stringify(c)],
      );
      expect(r!.twin, JSON.stringify(c)).toBe(r!.pub);
    }
    const [d] = await db.query<{ def: string }>(
      `select pg_get_constraintdef(oid) as def from pg_constraint where conname = 'chat_messages_v2_content_check'`,
    );
    expect(d!.def).toMatch(/chat_private\.is_valid_message_content/);
    const [f] = await db.query<{ strict: boolean; config: string[] | null }>(
      `select proisstrict as strict, proconfig as config from pg_proc where oid = 'chat_private.is_valid_message_content(jsonb)'::regprocedure`,
    );
    expect(f).toEqual({ strict: false, config: null });
  });
  it('rejects every other shape, in the function and in the table', async () => {
    for (const c of invalid) {
      const r = await db.query<{ ok: boolean | null }>(`select public.is_valid_message_content($1::jsonb) as ok`, [JSON.stringify(c)]);
      expect(r[0]!.ok, JSON.stringify(c)).not.toBe(true);
    }
    const err = await expectError(db, { role: 'authenticated', sub: A.uid }, (tx) =>
      tx.query(`insert into public.chat_messages_v2 (conversation_id, user_id, role, content) values ($1, $2, 'user', '{"type":"text"}')`, [
        A.sessionId,
        A.uid,
      ]),
    );
    expect(err.code).toBe('23514');
    expect(err.message).toMatch(/chat_messages_v2_content_check/);
  });
});

describe('updated_at', () => {
  it('is stamped on update for sessions, messages and memories, whatever the writer sets', async () => {
    for (const [table, id] of [
      ['conversation_sessions', A.sessionId],
      ['chat_messages_v2', A.messageId],
      ['agent_memories', A.memoryId],
    ] as const) {
      await db.query(`update public.${table} set updated_at = '2000-01-01' where id = $1`, [id]);
      const r = await db.query<{ fresh: boolean }>(`select updated_at > now() - interval '1 minute' as fresh from public.${table} where id = $1`, [id]);
      expect(r[0]!.fresh, table).toBe(true);
    }
  });
});

describe('message edits', () => {
  it('bump version and keep the previous content as a revision', async () => {
    const sid = await newSession(A);
    const [m] = await db.query<{ id: string; version: number }>(
      `insert into public.chat_messages_v2 (conversation_id, user_id, role, content) values ($1, $2, 'user', '{"type":"text","text":"v1"}') returning id, version`,
      [sid, A.uid],
    );
    expect(m!.version).toBe(1);
    await as(db, { role: 'authenticated', sub: A.uid }, async (tx) => {
      await tx.query(`update public.chat_messages_v2 set content = '{"type":"text","text":"v2"}' where id = $1`, [m!.id]);
      await tx.query(`update public.chat_messages_v2 set metadata = '{"note": 1}' where id = $1`, [m!.id]); // not an edit
      await tx.query(`update public.chat_messages_v2 set content = '{"type":"parts","parts":[{"type":"text","text":"v3"}]}' where id = $1`, [m!.id]);
    });
    const [now] = await db.query<{ version: number; content: unknown }>(`select version, content from public.chat_messages_v2 where id = $1`, [m!.id]);
    expect(now).toEqual({ version: 3, content: { type: 'parts', parts: [{ type: 'text', text: 'v3' }] } });
    const revs = await as(db, { role: 'authenticated', sub: A.uid }, (tx) =>
      tx.query<{ version: number; content: { text: string }; edited_by: string }>(
        `select version, content, edited_by from public.chat_message_revisions where message_id = $1 order by version`,
        [m!.id],
      ),
    );
    expect(revs.map((r) => [r.version, r.content.text])).toEqual([[1, 'v1'], [2, 'v2']]);
    expect(revs.every((r) => r.edited_by === A.uid)).toBe(true);
    // B sees none of it
    const seen = await as(db, { role: 'authenticated', sub: B.uid }, (tx) =>
      tx.query(`select 1 from public.chat_message_revisions where message_id = $1`, [m!.id]),
    );
    expect(seen).toEqual([]);
  });

  it('ignore a hand-set version and refuse to move a message to another conversation', async () => {
    await db.query(`update public.chat_messages_v2 set version = 42 where id = $1`, [A.messageId]);
    const [r] = await db.query<{ version: number }>(`select version from public.chat_messages_v2 where id = $1`, [A.messageId]);
    expect(r!.version).toBe(2);
    const other = await newSession(A);
    const err = await expectError(db, { role: 'service_role' }, (tx) =>
      tx.query(`update public.chat_messages_v2 set conversation_id = $2 where id = $1`, [A.messageId, other]),
    );
    expect(err.code).toBe('AJC08');
    expect(err.hint).toMatch(/Insert a copy/);
  });

  it('keep threads inside their conversation', async () => {
    const other = await newSession(A);
    const err = await expectError(db, { role: 'authenticated', sub: A.uid }, (tx) =>
      tx.query(
        `insert into public.chat_messages_v2 (conversation_id, user_id, role, content, parent_message_id) values ($1, $2, 'user', '{"type":"text","text":"x"}', $3)`,
        [other, A.uid, A.messageId],
      ),
    );
    expect(err.code).toBe('AJC12');
    // B cannot thread onto A's message either
    const errB = await expectError(db, { role: 'authenticated', sub: B.uid }, (tx) =>
      tx.query(
        `insert into public.chat_messages_v2 (conversation_id, user_id, role, content, parent_message_id) values ($1, $2, 'user', '{"type":"text","text":"x"}', $3)`,
        [B.sessionId, B.uid, A.messageId],
      ),
    );
    expect(errB.code).toBe('AJC12');
    const ok = await as(db, { role: 'authenticated', sub: A.uid }, (tx) =>
      tx.query<{ id: string }>(
        `insert into public.chat_messages_v2 (conversation_id, user_id, role, content, parent_message_id) values ($1, $2, 'assistant', '{"type":"text","text":"reply"}', $3) returning id`,
        [A.sessionId, A.uid, A.messageId],
      ),
    );
    expect(ok).toHaveLength(1);
  });
});

describe('session metrics', () => {
  it('follow inserts, soft deletes, undeletes, token edits and deletes', async () => {
    const sid = await newSession(A);
    expect(await session(sid)).toEqual({ message_count: 0, token_count: 0, last_message_at: null });
    const ins = (text: string, tokens: unknown, at: string) =>
      db.query<{ id: string }>(
        `insert into public.chat_messages_v2 (conversation_id, user_id, role, content, metadata, created_at)
         values ($1, $2, 'user', jsonb_build_object('type', 'text', 'text', $3::text), jsonb_build_object('tokens', $4::jsonb), $5) returning id`,
        [sid, A.uid, text, JSON.stringify(tokens), at],
      );
    const [m1] = await ins('a', 5, '2025-01-01T00:00:00Z');
    const [m2] = await ins('b', 7, '2025-01-02T00:00:00Z');
    await ins('c', 'not a number', '2025-01-03T00:00:00Z');
    let s = await session(sid);
    expect([s.message_count, s.token_count, s.last_message_at?.toISOString()]).toEqual([3, 12, '2025-01-03T00:00:00.000Z']);

    await db.query(`update public.chat_messages_v2 set deleted_at = now() where conversation_id = $1 and content->>'text' = 'c'`, [sid]);
    s = await session(sid);
    expect([s.message_count, s.token_count, s.last_message_at?.toISOString()]).toEqual([2, 12, '2025-01-02T00:00:00.000Z']);

    await db.query(`update public.chat_messages_v2 set deleted_at = null where conversation_id = $1 and content->>'text' = 'c'`, [sid]);
    s = await session(sid);
    expect([s.message_count, s.token_count, s.last_message_at?.toISOString()]).toEqual([3, 12, '2025-01-03T00:00:00.000Z']);

    await db.query(`update public.chat_messages_v2 set metadata = '{"tokens": 10}' where id = $1`, [m1!.id]);
    expect((await session(sid)).token_count).toBe(17);

    await db.query(`delete from public.chat_messages_v2 where id = $1`, [m2!.id]);
    s = await session(sid);
    expect([s.message_count, s.token_count]).toEqual([2, 10]);

    await db.query(`delete from public.chat_messages_v2 where conversation_id = $1`, [sid]);
    expect(await session(sid)).toEqual({ message_count: 0, token_count: 0, last_message_at: null });
  });

  it('update each session once for a 5000-row INSERT … SELECT across sessions', async () => {
    const s1 = await newSession(A);
    const s2 = await newSession(A);
    // Count session updates: a row trigger on sessions would see one call per update.
    await db.exec(`
      create temporary table session_update_calls (n int);
      create function pg_temp.count_session_updates() returns trigger language plpgsql as $$
        begin insert into session_update_calls values (1); return null; end $$;
      create trigger count_session_updates after update on public.conversation_sessions
        for each row execute function pg_temp.count_session_updates();
    `);
    try {
      await db.query(
        `insert into public.chat_messages_v2 (conversation_id, user_id, role, content, metadata, created_at)
         select case when g % 2 = 0 then $1::uuid else $2::uuid end, $3, 'user',
                jsonb_build_object('type', 'text', 'text', 'm' || g), jsonb_build_object('tokens', 3),
                timestamptz '2025-01-01' + g * interval '1 second'
         from generate_series(1, 5000) g`,
        [s1, s2, A.uid],
      );
      const [calls] = await db.query<{ n: number }>(`select count(*)::int as n from session_update_calls`);
      expect(calls!.n).toBe(2);
    } finally {
      await db.exec(`drop trigger count_session_updates on public.conversation_sessions; drop table session_update_calls;`);
    }
    expect((await session(s1)).message_count).toBe(2500);
    expect((await session(s2)).token_count).toBe(7500);
    expect((await session(s1)).last_message_at?.toISOString()).toBe('2025-01-01T01:23:20.000Z');
    const problems = await db.query(`select * from public.check_chat_schema_integrity() where not ok`);
    expect(problems).toEqual([]);
  });

  it('are kept for a user who cannot write the metric columns directly', async () => {
    const sid = (
      await as(db, { role: 'authenticated', sub: B.uid }, async (tx) => {
        const [s] = await tx.query<{ id: string }>(`insert into public.conversation_sessions (user_id) values ($1) returning id`, [B.uid]);
        await tx.query(
          `insert into public.chat_messages_v2 (conversation_id, user_id, role, content, metadata) values ($1, $2, 'user', '{"type":"text","text":"x"}', '{"tokens": 4}')`,
          [s!.id, B.uid],
        );
        return [s!];
      })
    )[0]!.id;
    const s = await session(sid);
    expect([s.message_count, s.token_count]).toEqual([1, 4]);
  });

  it('can be recomputed after writes that bypassed triggers', async () => {
    const sid = await newSession(A);
    await db.transaction(async (tx) => {
      await tx.query(`set local session_replication_role = replica`);
      await tx.query(
        `insert into public.chat_messages_v2 (conversation_id, user_id, role, content, metadata) values ($1, $2, 'user', '{"type":"text","text":"x"}', '{"tokens": 9}')`,
        [sid, A.uid],
      );
    });
    const [bad] = await db.query<{ ok: boolean }>(`select ok from public.check_chat_schema_integrity() where check_name = 'session_metrics_match'`);
    expect(bad!.ok).toBe(false);
    const [fixed] = await db.query<{ n: number }>(`select public.recompute_session_metrics() as n`);
    expect(fixed!.n).toBe(1);
    expect((await session(sid)).token_count).toBe(9);
  });
});
