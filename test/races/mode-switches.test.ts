/**
 * Mode switches dual_write → v2_only → dual_write while writers run. No acknowledged write is lost: writes
 * through v2 during v2_only are copied to legacy when dual_write comes back; writes to legacy during
 * v2_only are refused with the documented error (SQLSTATE 55000, "public.chat_messages is read-only: the
 * chat schema mode is v2_only", a HINT naming the v2 API and set_chat_schema_mode) and leave nothing behind.
 *
 * Guards: the mode triggers are switched under table locks (ALTER TABLE … ENABLE/DISABLE TRIGGER), the
 * copy back to legacy runs under those locks, and a v2 edit made in v2_only is recognised as newer than
 * the switch however early its transaction began.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Db, Queryable } from '../../ops/db.ts';
import { onNative, openMigrated } from '../helpers/db.ts';
import {
  asUser, backendPid, budget, heldTransaction, rng, seedOwners, sessions, sleep, sqlState, verifyFailures, waitUntilBlocked, type Owner,
} from './helpers.ts';

const readOnly = /^public\.chat_messages is read-only: the chat schema mode is v2_only$/;

/** Seeded, backfilled, verified, in dual_write: the state a cutover starts from. */
async function migratedDualWrite(db: Db, users: number, rows: number): Promise<Owner[]> {
  const owners = await seedOwners(db, users, 2, rows);
  await db.query(`select public.set_chat_schema_mode('dual_write')`);
  await db.query(`select public.migrate_chat_messages()`);
  expect(await verifyFailures(db)).toEqual({});
  return owners;
}

const mode = async (q: Queryable) => (await q.query<{ mode: string }>(`select mode from chat_migration.mode`))[0]!.mode;

// PGlite is a single session: writers cannot run while the mode changes there (each switch is tested
// sequentially in test/datamig/modes.test.ts on both lanes).
describe.skipIf(!onNative)('mode switches while writers run', () => {
  let db: Db;
  afterEach(async () => {
    await db?.close();
  });

  it('dual_write → v2_only → dual_write, three times, under eight writers: no acknowledged write lost', async () => {
    db = await openMigrated();
    const owners = await migratedDualWrite(db, 4, 250);
    const all = await sessions(db, 9);
    const switcher = all[0]!;
    const writers = all.slice(1);
    const time = budget(25_000);
    const expected = new Map<number, string | null>(); // legacy id → text, or null when deleted
    const errors: string[] = [];
    const refused: { code?: string; message: string; hint?: string }[] = [];
    let ackedInV2Only = 0;
    let switching = true;
    let phase: 'dual_write' | 'v2_only' | 'switching' = 'dual_write';

    // Writers 0–3 write legacy, 4–7 v2, each as its own user; every transaction reads first and "thinks"
    // a moment before it writes, like an app does, so some begin in one mode and write in the next.
    const seeded = new Map<number, number[]>();
    for (let w = 0; w < 8; w++) {
      seeded.set(w, (await db.query<{ id: number }>(
        `select id from (select id, row_number() over (order by id) as n from public.chat_messages where user_id = $1) m
          where n % 2 = $2`, [owners[w % 4]!.userId, Math.floor(w / 4)])).map((r) => Number(r.id)));
    }
    async function writer(w: number, s: Db) {
      const owner = owners[w % 4]!;
      const legacySide = w < 4;
      const r = rng(77 + w);
      const live = seeded.get(w)!;
      for (let i = 0; i < 500 && !time.over() && (i < 20 || switching); i++) {
        const token = `w${w}-op${i}`;
        const op = r.int(3); // 0 insert, 1 update, 2 delete (v2: soft delete)
        const target = live.length ? r.pick(live) : undefined;
        if (op > 0 && target === undefined) continue;
        const startedInV2Only = phase === 'v2_only';
        try {
          await asUser(s, owner.userId, async (tx) => {
            await tx.query(`select count(*) from public.chat_messages_v2 where conversation_id = $1`, [owner.conversationIds[0]]);
            await sleep(r.int(15));
            let id: number;
            if (legacySide) {
              if (op === 0) {
                id = Number((await tx.query<{ id: number }>(
                  `insert into public.chat_messages (conversation_id, user_id, agent_id, role, content) values ($1, $2, $3, 'user', $4) returning id`,
                  [owner.conversationIds[1], owner.userId, owner.agentId, token]))[0]!.id);
              } else {
                id = target!;
                const rows = op === 1
                  ? await tx.query(`update public.chat_messages set content = $2 where id = $1 returning id`, [id, token])
                  : await tx.query(`delete from public.chat_messages where id = $1 returning id`, [id]);
                if (rows.length !== 1) throw new Error(`legacy row ${id} vanished`);
              }
            } else if (op === 0) {
              const [row] = await tx.query<{ id: string; legacy_id: number | null }>(
                `insert into public.chat_messages_v2 (conversation_id, user_id, agent_id, role, content)
                 values ($1, $2, $3, 'assistant', jsonb_build_object('type', 'text', 'text', $4::text)) returning id, legacy_id`,
                [owner.conversationIds[1], owner.userId, owner.agentId, token]);
              // in v2_only the legacy twin (and so the id this test tracks) comes only when dual_write returns
              id = row!.legacy_id === null ? -1 : Number(row!.legacy_id);
              if (id === -1) pendingV2.set(row!.id, token);
            } else {
              id = target!;
              const rows = op === 1
                ? await tx.query(`update public.chat_messages_v2 set content = jsonb_build_object('type', 'text', 'text', $2::text)
                                   where legacy_id = $1 and deleted_at is null returning id`, [id, token])
                : await tx.query(`update public.chat_messages_v2 set deleted_at = now() where legacy_id = $1 and deleted_at is null returning id`, [id]);
              if (rows.length !== 1) throw new Error(`v2 row of legacy ${id} vanished`);
            }
            if (id !== -1) {
              expected.set(id, op === 2 ? null : token);
              if (op === 0) live.push(id);
              if (op === 2) live.splice(live.indexOf(id), 1);
            }
          });
          // began after the switch to v2_only committed and ended before the switch back started
          if (!legacySide && startedInV2Only && phase === 'v2_only') ackedInV2Only += 1;
        } catch (e) {
          const err = e as { code?: string; message: string; hint?: string };
          if (legacySide && err.code === '55000' && readOnly.test(err.message)) refused.push({ code: err.code, message: err.message, hint: err.hint });
          else errors.push(`writer ${w} op ${op}: ${sqlState(e)} ${err.message}`);
        }
      }
    }
    const pendingV2 = new Map<string, string>(); // v2 id → text, for rows written in v2_only

    const switches: string[] = [];
    async function switchModes() {
      for (let cycle = 0; cycle < 3 && !time.over(); cycle++) {
        await sleep(50);
        phase = 'switching';
        switches.push((await switcher.query<{ m: string }>(`select public.set_chat_schema_mode('v2_only') as m`))[0]!.m);
        phase = 'v2_only';
        // stay in v2_only until both kinds of writers met it (bounded by the budget)
        const refusedBefore = refused.length;
        const ackedBefore = ackedInV2Only;
        while (!time.over() && (refused.length === refusedBefore || ackedInV2Only === ackedBefore)) await sleep(10);
        phase = 'switching';
        switches.push((await switcher.query<{ m: string }>(`select public.set_chat_schema_mode('dual_write') as m`))[0]!.m);
        phase = 'dual_write';
      }
      switching = false;
    }

    await Promise.all([switchModes().catch((e: unknown) => {
      switching = false;
      errors.push(`switch: ${sqlState(e)} ${(e as Error).message}`);
    }), ...writers.map((s, w) => writer(w, s))]);

    expect(errors).toEqual([]);
    expect(switches).toEqual(['v2_only', 'dual_write', 'v2_only', 'dual_write', 'v2_only', 'dual_write']);
    expect(refused.length).toBeGreaterThan(0);
    for (const e of refused) {
      expect(e).toMatchObject({ code: '55000', hint: expect.stringMatching(/chat_messages_v2.*set_chat_schema_mode\('dual_write'\)/s) });
    }
    expect(ackedInV2Only).toBeGreaterThan(0);

    // rows written through v2 during v2_only got their legacy twins when dual_write came back
    for (const [v2id, text] of pendingV2) {
      const [row] = await db.query<{ legacy_id: number | null }>(`select legacy_id from public.chat_messages_v2 where id = $1`, [v2id]);
      expect(row!.legacy_id, `v2 row ${v2id} written in v2_only`).not.toBeNull();
      expected.set(Number(row!.legacy_id), text);
    }
    const wrong: string[] = [];
    for (const [id, want] of expected) {
      const [l] = await db.query<{ content: string }>(`select content from public.chat_messages where id = $1`, [id]);
      const [v] = await db.query<{ text: string; deleted: boolean }>(
        `select content ->> 'text' as text, deleted_at is not null as deleted from public.chat_messages_v2 where legacy_id = $1`, [id]);
      if (want === null) {
        if (l) wrong.push(`${id}: deleted, but legacy has ${l.content}`);
        if (v && !v.deleted) wrong.push(`${id}: deleted, but v2 shows ${v.text}`);
      } else {
        if (l?.content !== want) wrong.push(`${id}: legacy has ${l?.content}, want ${want}`);
        if (!v || v.deleted || v.text !== want) wrong.push(`${id}: v2 has ${JSON.stringify(v)}, want ${want}`);
      }
    }
    expect(wrong).toEqual([]);
    // refused writes left nothing behind
    expect(await db.query(`select count(*)::int as n from public.chat_messages where content like 'w_-op%'`))
      .toEqual([{ n: [...expected.values()].filter((v) => v !== null).length }]);
    expect(await mode(db)).toBe('dual_write');
    expect(await verifyFailures(db)).toEqual({});
  });

  it('a v2 edit from a transaction that began before the switch to v2_only is copied back to legacy', async () => {
    db = await openMigrated();
    const [owner] = (await migratedDualWrite(db, 1, 50)) as [Owner];
    const [app, dba] = (await sessions(db, 2)) as [Db, Db];
    const [{ id }] = (await db.query<{ id: number }>(`select min(id)::int as id from public.chat_messages`)) as [{ id: number }];

    // the app's transaction starts (and reads) in dual_write…
    const slow = await heldTransaction(app);
    await slow.tx.query(`select set_config('request.jwt.claims', $1, true), set_config('role', 'authenticated', true)`,
      [JSON.stringify({ sub: owner.userId, role: 'authenticated' })]);
    await slow.tx.query(`select content from public.chat_messages_v2 where legacy_id = $1`, [id]);
    // …the DBA switches to v2_only meanwhile (a read does not hold it up)…
    expect(await dba.query(`select public.set_chat_schema_mode('v2_only') as m`)).toEqual([{ m: 'v2_only' }]);
    // …and the app writes through v2 in v2_only: its edit is newer than the switch, whenever it began
    expect(await slow.tx.query(
      `update public.chat_messages_v2 set content = '{"type": "text", "text": "edited in v2_only"}' where legacy_id = $1 returning version`, [id]))
      .toEqual([{ version: 2 }]);
    await slow.commit();

    expect(await verifyFailures(dba), 'in v2_only the edit is v2 being newer, not a mismatch').toEqual({});
    expect(await dba.query(`select public.set_chat_schema_mode('dual_write') as m`)).toEqual([{ m: 'dual_write' }]);
    expect(await db.query(`select content from public.chat_messages where id = $1`, [id])).toEqual([{ content: 'edited in v2_only' }]);
    expect(await verifyFailures(db)).toEqual({});
  });

  it('legacy → v2_only waits for a legacy write in flight and then refuses, instead of stranding it in read-only legacy', async () => {
    db = await openMigrated();
    const [owner] = (await seedOwners(db, 1, 1, 50)) as [Owner];
    await db.query(`select public.migrate_chat_messages()`); // backfilled in legacy mode, no mirrors
    expect(await verifyFailures(db)).toEqual({});
    const [app, dba] = (await sessions(db, 2)) as [Db, Db];

    const write = await heldTransaction(app);
    await write.tx.query(`insert into public.chat_messages (conversation_id, user_id, role, content) values ($1, $2, 'user', 'in flight')`,
      [owner.conversationIds[0], owner.userId]);
    const dbaPid = await backendPid(dba);
    const switching = dba.query(`select public.set_chat_schema_mode('v2_only') as m`).then(
      () => 'switched', (e: { code?: string; message: string }) => e);
    await waitUntilBlocked(db, dbaPid); // the switch waits for the writer's table lock…
    await write.commit(); // …which lets go once the row is visible

    expect(await switching).toMatchObject({
      code: '55000', message: expect.stringMatching(/^cannot switch to v2_only: verification is not clean: legacy_rows_accounted \(1 mismatches\)/),
    });
    expect(await mode(db)).toBe('legacy');
    await db.query(`select public.migrate_chat_messages()`);
    expect(await db.query(`select public.set_chat_schema_mode('v2_only') as m`)).toEqual([{ m: 'v2_only' }]);
    expect(await verifyFailures(db)).toEqual({});
  });
});
