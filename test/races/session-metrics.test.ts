/**
 * Concurrent message inserts into one conversation: conversation_sessions.message_count and token_count are
 * kept by statement-level triggers on chat_messages_v2, which add the statement's rows to the session row
 * they have locked (`for no key update`, then `count + n`). Eight sessions insert at once — through v2, and in
 * dual_write through legacy (the mirror inserts into v2, starting the session on the first row) — single rows
 * and multi-row statements; afterwards the metrics equal a recount, exactly.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Db, Queryable } from '../../ops/db.ts';
import { createUser, onNative, openMigrated } from '../helpers/db.ts';
import { asUser, budget, sessions, sqlState } from './helpers.ts';

const WRITERS = 8;
const STATEMENTS = 40; // per writer; every fourth inserts three rows at once

// PGlite is a single session: inserts there never overlap (the metric triggers are tested sequentially in
// test/schema/triggers.test.ts on both lanes).
describe.skipIf(!onNative)('session metrics under concurrent inserts into one conversation', () => {
  let db: Db;
  afterEach(async () => {
    await db?.close();
  });

  async function metrics(conversationId: string) {
    const [m] = await db.query<{ message_count: number; token_count: number; live: number; tokens: number }>(
      `select s.message_count, s.token_count::int,
              (select count(*)::int from public.chat_messages_v2 v where v.conversation_id = s.id and v.deleted_at is null) as live,
              (select coalesce(sum((v.metadata ->> 'tokens')::int), 0)::int from public.chat_messages_v2 v
                where v.conversation_id = s.id and v.deleted_at is null) as tokens
         from public.conversation_sessions s where s.id = $1`, [conversationId]);
    return m!;
  }

  /** Every writer runs its statements at once; returns [rows inserted, tokens inserted] and the errors. */
  async function race(all: Db[], user: string, insert: (tx: Queryable, w: number, i: number, rows: number, tokens: number) => Promise<unknown>) {
    const time = budget(20_000);
    const errors: string[] = [];
    let rows = 0;
    let tokens = 0;
    await Promise.all(all.map(async (s, w) => {
      for (let i = 0; i < STATEMENTS && !time.over(); i++) {
        const n = i % 4 === 3 ? 3 : 1;
        const t = (w * 7 + i) % 13;
        try {
          await asUser(s, user, (tx) => insert(tx, w, i, n, t));
          rows += n;
          tokens += n * t;
        } catch (e) {
          errors.push(`${sqlState(e)} ${(e as Error).message}`);
        }
      }
    }));
    return { rows, tokens, errors };
  }

  it('v2 inserts from eight sessions keep message_count and token_count exact', async () => {
    db = await openMigrated();
    const user = await createUser(db);
    const [conv] = await db.query<{ id: string }>(
      `insert into public.conversation_sessions (id, user_id) values (gen_random_uuid(), $1) returning id`, [user]);
    const all = await sessions(db, WRITERS);
    const { rows, tokens, errors } = await race(all, user, (tx, w, i, n, t) => tx.query(
      `insert into public.chat_messages_v2 (conversation_id, user_id, role, content, metadata)
       select $1, $2, 'user', jsonb_build_object('type', 'text', 'text', $3 || '.' || k), jsonb_build_object('tokens', $4::int)
         from generate_series(1, $5::int) k`, [conv!.id, user, `w${w}-${i}`, t, n]));
    expect(errors).toEqual([]);
    expect(rows).toBe(WRITERS * STATEMENTS * 1.5);
    expect(await metrics(conv!.id)).toEqual({ message_count: rows, token_count: tokens, live: rows, tokens });
  });

  it('dual_write: legacy inserts from four sessions and v2 inserts from four more into one new conversation stay exact', async () => {
    db = await openMigrated();
    const user = await createUser(db);
    await db.query(`select public.set_chat_schema_mode('dual_write')`);
    const conv = (await db.query<{ id: string }>(`select gen_random_uuid() as id`))[0]!.id;
    const all = await sessions(db, WRITERS);
    // the conversation exists nowhere yet: the first mirrored legacy insert starts its v2 session (the v2
    // writers wait for it, then join)
    const { rows, tokens, errors } = await race(all, user, async (tx, w, i, n, t) => {
      if (w < WRITERS / 2) {
        return tx.query(
          `insert into public.chat_messages (conversation_id, user_id, role, content, metadata)
           select $1, $2, 'user', $3 || '.' || k, jsonb_build_object('tokens', $4::int) from generate_series(1, $5::int) k`,
          [conv, user, `w${w}-${i}`, t, n]);
      }
      for (let tries = 0; tries < 200 && (await tx.query(`select 1 from public.conversation_sessions where id = $1`, [conv])).length === 0; tries++) {
        await new Promise((r) => setTimeout(r, 5));
      }
      return tx.query(
        `insert into public.chat_messages_v2 (conversation_id, user_id, role, content, metadata)
         select $1, $2, 'assistant', jsonb_build_object('type', 'text', 'text', $3 || '.' || k), jsonb_build_object('tokens', $4::int)
           from generate_series(1, $5::int) k`, [conv, user, `w${w}-${i}`, t, n]);
    });
    expect(errors).toEqual([]);
    expect(await metrics(conv)).toEqual({ message_count: rows, token_count: tokens, live: rows, tokens });
    // and both sides hold every message once
    expect(await db.query(`select count(*)::int as n from public.chat_messages where conversation_id = $1`, [conv])).toEqual([{ n: rows }]);
  });
});
