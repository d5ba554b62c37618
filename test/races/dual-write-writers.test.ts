/**
 * Writers on both sides at once, during a backfill, in dual_write: eight sessions insert, update and delete
 * through legacy (public.chat_messages) and through v2 (public.chat_messages_v2) as their users, while a ninth
 * session runs the backfill batch by batch. Afterwards every acknowledged write is on both sides, nothing is
 * duplicated, verify_chat_migration() is clean and no transaction died in a deadlock (40P01).
 *
 * Guards this exercises: the mirror triggers both ways and their recursion guard
 * (chat_migration.mirroring), the batch's `for no key update` row locks, the ordered session-row locks of
 * the metrics triggers.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Db, Queryable } from '../../ops/db.ts';
import { onNative, openMigrated } from '../helpers/db.ts';
import {
  asUser, backendPid, budget, heldTransaction, rng, seedOwners, sessions, sqlState, verifyFailures, waitUntilBlocked, type Owner,
} from './helpers.ts';

const WRITERS = 8;
const MIN_OPS_PER_WRITER = 30;
const MAX_OPS_PER_WRITER = 400;
const BUDGET_MS = 20_000;
const DELETED = null;

// PGlite is a single session: there is nothing to race there (the sequential behaviour of every mirror
// is tested in test/datamig/modes.test.ts on both lanes).
describe.skipIf(!onNative)('dual_write: writers on both sides during a backfill', () => {
  let db: Db;
  beforeEach(async () => {
    db = await openMigrated();
  });
  afterEach(async () => {
    await db?.close();
  });

  it('keeps every acknowledged write on both sides, duplicates nothing, verifies clean, never deadlocks', async () => {
    const owners = await seedOwners(db, 4, 3, 400);
    // one v2-only conversation per user, where the v2 writers start new messages
    const v2Conv = new Map<string, string>();
    for (const o of owners) {
      const [s] = await db.query<{ id: string }>(
        `insert into public.conversation_sessions (id, user_id, agent_id) values (gen_random_uuid(), $1, $2) returning id`,
        [o.userId, o.agentId]);
      v2Conv.set(o.userId, s!.id);
    }
    expect(await db.query(`select public.set_chat_schema_mode('dual_write') as m`)).toEqual([{ m: 'dual_write' }]);

    const all = await sessions(db, WRITERS + 1);
    const backfiller = all[0]!;
    const writers = all.slice(1);
    const time = budget(BUDGET_MS);
    const errors: { who: string; op: string; code: string | undefined; message: string }[] = [];

    // Writer w writes as owner w % 4 and owns every other seeded message of that user (and what it inserts), so no
    // two writers ever touch the same message and each message's final state is its writer's last write.
    const acked = { legacyInsert: 0, legacyUpdate: 0, legacyDelete: 0, v2Insert: 0, v2Update: 0, v2Delete: 0 };

    // each writer's messages, taken before anyone writes; its own inserts join them as it goes
    const owned: Map<number, string | null>[] = [];
    for (let w = 0; w < WRITERS; w++) {
      owned.push(new Map((await db.query<{ id: number; content: string }>(
        `select id, content from (select id, content, row_number() over (order by id) as n
                                    from public.chat_messages where user_id = $1) m where n % 2 = $2`, [owners[w % 4]!.userId, Math.floor(w / 4)]))
        .map((x) => [Number(x.id), x.content])));
    }

    let backfillDone = false;

    async function writer(w: number, s: Db) {
      const owner: Owner = owners[w % 4]!;
      const r = rng(1000 + w);
      const mine = owned[w]!;
      // half the time one of the last messages this writer touched, so the same message often goes through
      // both sides in turn — also ahead of the backfill's cursor, where only dual-write has mirrored it
      const recent: number[] = [];
      const live = () => {
        const hot = recent.filter((id) => mine.get(id) !== DELETED);
        return hot.length && r.next() < 0.5 ? hot : [...mine].filter(([, v]) => v !== DELETED).map(([k]) => k);
      };
      // Writes go on until the backfill has completed (so the two really overlap), within both bounds.
      for (let i = 0; i < MAX_OPS_PER_WRITER && !time.over() && (i < MIN_OPS_PER_WRITER || !backfillDone); i++) {
        const token = `w${w}-op${i}`;
        const dice = r.int(12);
        const op = dice < 2 ? 'legacyInsert' : dice < 5 ? 'legacyUpdate' : dice < 6 ? 'legacyDelete'
          : dice < 8 ? 'v2Insert' : dice < 11 ? 'v2Update' : 'v2Delete';
        try {
          // what the write leaves behind once it is acknowledged (committed): [legacy id, text or DELETED]
          const done = await asUser(s, owner.userId, async (tx: Queryable): Promise<[number, string | null] | undefined> => {
            if (op === 'legacyInsert') {
              const [row] = await tx.query<{ id: number }>(
                `insert into public.chat_messages (conversation_id, user_id, agent_id, role, content, metadata)
                 values ($1, $2, $3, 'user', $4, '{"tokens": 3}') returning id`,
                [r.pick(owner.conversationIds), owner.userId, owner.agentId, token]);
              return [Number(row!.id), token];
            }
            if (op === 'legacyUpdate' || op === 'legacyDelete') {
              const id = r.pick(live());
              const rows = op === 'legacyUpdate'
                ? await tx.query(`update public.chat_messages set content = $2 where id = $1 returning id`, [id, token])
                : await tx.query(`delete from public.chat_messages where id = $1 returning id`, [id]);
              if (rows.length !== 1) throw new Error(`legacy row ${id} is gone, but nobody deleted it`);
              return [id, op === 'legacyUpdate' ? token : DELETED];
            }
            if (op === 'v2Insert') {
              // every other one as parts content: legacy gets the text parts joined by a newline
              const content = i % 2 ? { type: 'text', text: token } : { type: 'parts', parts: [{ type: 'text', text: token }, { type: 'text', text: 'second part' }] };
              const [row] = await tx.query<{ legacy_id: number | null }>(
                `insert into public.chat_messages_v2 (conversation_id, user_id, agent_id, role, content, metadata)
                 values ($1, $2, $3, 'assistant', $4::jsonb, '{"tokens": 5}') returning legacy_id`,
                [v2Conv.get(owner.userId), owner.userId, owner.agentId, JSON.stringify(content)]);
              if (row!.legacy_id === null) throw new Error('a v2 insert in dual_write got no legacy twin');
              return [Number(row!.legacy_id), i % 2 ? token : `${token}\nsecond part`];
            }
            const id = r.pick(live());
            const rows = op === 'v2Update'
              ? await tx.query(
                `update public.chat_messages_v2 set content = jsonb_build_object('type', 'text', 'text', $2::text)
                  where legacy_id = $1 and deleted_at is null returning id`, [id, token])
              : await tx.query(
                `update public.chat_messages_v2 set deleted_at = now() where legacy_id = $1 and deleted_at is null returning id`, [id]);
            // 0 rows: the backfill has not reached that legacy row yet and nothing mirrored it — no write
            return rows.length ? [id, op === 'v2Update' ? token : DELETED] : undefined;
          });
          if (done) {
            mine.set(done[0], done[1]);
            recent.push(done[0]);
            if (recent.length > 8) recent.shift();
            acked[op] += 1;
          }
        } catch (e) {
          errors.push({ who: `writer ${w}`, op, code: sqlState(e), message: (e as Error).message });
        }
      }
    }

    let batches = 0;
    async function backfill() {
      // one transaction per batch, as the CLI driver does, until the run completes (sweep included)
      for (let i = 0; i < 1000 && !time.over(); i++) {
        try {
          const [r] = await backfiller.query<{ n: number }>(`select public.migrate_chat_messages_batch(100) as n`);
          batches += 1;
          if (r!.n === 0) break;
        } catch (e) {
          errors.push({ who: 'backfill', op: 'batch', code: sqlState(e), message: (e as Error).message });
          break;
        }
      }
      backfillDone = true;
    }

    await Promise.all([backfill(), ...writers.map((s, w) => writer(w, s))]);

    const expected = new Map<number, string | null>();
    for (const mine of owned) for (const [id, v] of mine) expected.set(id, v);
    const deadlocks = errors.filter((e) => e.code === '40P01');
    expect(deadlocks, 'deadlocks (40P01)').toEqual([]);
    expect(errors).toEqual([]);
    expect(acked.legacyUpdate + acked.v2Update, 'the writers really wrote').toBeGreaterThan(WRITERS * 5);
    expect(batches, 'the backfill ran batch by batch').toBeGreaterThan(40);
    // the writers were still writing when the run completed (they stop only after backfillDone)
    expect(await db.query(`select status from public.chat_migration_status()`)).toEqual([{ status: 'completed' }]);

    // every acknowledged write is on both sides
    const legacy = new Map((await db.query<{ id: number; content: string }>(`select id, content from public.chat_messages`))
      .map((x) => [Number(x.id), x.content]));
    const v2 = new Map((await db.query<{ legacy_id: number; text: string; deleted: boolean }>(
      `select legacy_id, chat_migration.content_text(content) as text, deleted_at is not null as deleted
         from public.chat_messages_v2 where legacy_id is not null`)).map((x) => [Number(x.legacy_id), x]));
    const wrong: string[] = [];
    for (const [id, want] of expected) {
      const l = legacy.get(id);
      const v = v2.get(id);
      if (want === DELETED) {
        if (l !== undefined) wrong.push(`${id}: deleted, but legacy still has it`);
        if (v && !v.deleted) wrong.push(`${id}: deleted, but v2 still shows it`);
      } else {
        if (l !== want) wrong.push(`${id}: legacy has ${JSON.stringify(l)}, want ${JSON.stringify(want)}`);
        if (!v || v.deleted || v.text !== want) wrong.push(`${id}: v2 has ${JSON.stringify(v)}, want ${JSON.stringify(want)}`);
      }
    }
    expect(wrong).toEqual([]);

    // nothing duplicated: every write's text exists once per side, and every live v2 row has its legacy twin
    expect(await db.query(
      `select content, count(*)::int as n from public.chat_messages where content like 'w%-op%' group by 1 having count(*) > 1`)).toEqual([]);
    expect(await db.query(
      `select chat_migration.content_text(content) as t, count(*)::int as n from public.chat_messages_v2
        where deleted_at is null and content::text like '%-op%' group by 1 having count(*) > 1`)).toEqual([]);
    expect(await db.query(
      `select count(*)::int as n from public.chat_messages_v2 where legacy_id is null and deleted_at is null`)).toEqual([{ n: 0 }]);

    expect(await verifyFailures(db)).toEqual({});
    // the metrics the triggers kept equal a recount
    expect(await db.query(`select check_name, problem_count::int from public.check_chat_schema_integrity() where not ok`)).toEqual([]);
  });

  it('a batch and a v2 writer on one mirrored row ahead of the cursor do not deadlock', async () => {
    const [owner] = (await seedOwners(db, 1, 1, 300)) as [Owner];
    await db.query(`select public.set_chat_schema_mode('dual_write')`);
    const [app, backfiller] = (await sessions(db, 2)) as [Db, Db];
    // should they ever wait for each other in a cycle, the deadlock detector (1 s) or these end it
    for (const s of [app, backfiller]) await s.query(`set lock_timeout = '5s'`);
    expect(await backfiller.query(`select public.migrate_chat_messages_batch(100) as n`)).toEqual([{ n: 100 }]);
    // a row ahead of the cursor gets its v2 twin through dual-write (an edit in legacy)
    const [{ id }] = (await db.query<{ id: number }>(`select max(id)::int as id from public.chat_messages`)) as [{ id: number }];
    await db.query(`update public.chat_messages set content = 'edited in legacy' where id = $1`, [id]);

    // the app holds that v2 row (read for update, then it will edit it: its mirror then needs the legacy row)
    const edit = await heldTransaction(app);
    await edit.tx.query(`select set_config('request.jwt.claims', $1, true), set_config('role', 'authenticated', true)`,
      [JSON.stringify({ sub: owner.userId, role: 'authenticated' })]);
    await edit.tx.query(`select id from public.chat_messages_v2 where legacy_id = $1 for update`, [id]);
    // the batch that covers the row: it locks the legacy rows of its range first
    const batch = backfiller.query<{ n: number }>(`select public.migrate_chat_messages_batch(500) as n`)
      .then((r) => r, (e: unknown) => e as Error);
    const settled = await Promise.race([batch.then(() => 'done'), waitUntilBlocked(db, await backendPid(backfiller), 3_000).then(() => 'blocked', () => 'done')]);
    // the app's edit: its mirror updates the legacy row (the batch must not be holding it while waiting for us)
    const edited = await edit.tx.query(
      `update public.chat_messages_v2 set content = '{"type": "text", "text": "edited in v2"}' where legacy_id = $1 returning version`, [id])
      .then((r) => r, (e: unknown) => e as Error);
    if (edited instanceof Error) await edit.rollback();
    else await edit.commit();

    expect(edited, `the edit (the batch was ${settled} meanwhile)`).toEqual([{ version: 2 }]);
    expect(await batch).toEqual([{ n: 200 }]);
    expect(await db.query(`select content from public.chat_messages where id = $1`, [id])).toEqual([{ content: 'edited in v2' }]);
    expect(await db.query(`select content ->> 'text' as t from public.chat_messages_v2 where legacy_id = $1`, [id])).toEqual([{ t: 'edited in v2' }]);
  });
});
