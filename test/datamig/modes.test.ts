import { afterEach, describe, expect, it } from 'vitest';
import type { Db, Queryable } from '../../ops/db.ts';
import { rollback } from '../../ops/migrations/runner.ts';
import { as, openMigrated } from '../helpers/db.ts';
import { actualV2, expectedV2, insertLegacy, invariantViolations, legacyRows, seedLegacy, type Seeded } from './fixtures.ts';
import { rollbackNewerThanV2 } from '../helpers/newer-than-v2.ts';

let db: Db;
afterEach(async () => {
  await db?.close();
});

const one = async <T = Record<string, unknown>>(q: Queryable, sql: string, params?: unknown[]) =>
  (await q.query<T>(sql, params))[0]!;

async function failing(q: Queryable = db) {
  return q.query<{ check_name: string; mismatches: number }>(
    `select check_name, mismatches::int from public.verify_chat_migration() where not ok order by check_name`);
}

/** Backfilled database with the dirty rows' quarantine resolved by deleting them (so verify can be clean). */
async function migratedClean(): Promise<Seeded> {
  const seeded = await seedLegacy(db, 2);
  await db.query(`select public.migrate_chat_messages()`);
  return seeded;
}

/** Inserts a v2 message the way the app does (as the authenticated owner). */
async function appInsertV2(s: Seeded, i: number, content: unknown, extra: Record<string, unknown> = {}) {
  return as(db, { role: 'authenticated', sub: s.userIds[i]! }, async (tx) => {
    const r = await one<{ id: string; legacy_id: string | null }>(tx,
      `insert into public.chat_messages_v2 (conversation_id, user_id, role, content, metadata)
       values ($1, $2, $3, $4::jsonb, $5::jsonb) returning id, legacy_id`,
      [s.conversationIds[i], s.userIds[i], extra.role ?? 'user', JSON.stringify(content), JSON.stringify(extra.metadata ?? {})]);
    return r;
  });
}

describe('dual_write', () => {
  it('mirrors legacy inserts, updates and deletes into v2 (and quarantines bad ones without failing the write)', async () => {
    db = await openMigrated();
    const s = await migratedClean();
    expect(await one(db, `select public.set_chat_schema_mode('dual_write') as m`)).toEqual({ m: 'dual_write' });

    const id = await as(db, { role: 'authenticated', sub: s.userIds[0]! }, (tx) =>
      insertLegacy(tx, { conversation_id: s.conversationIds[0]!, user_id: s.userIds[0]!, role: 'human', content: 'via legacy',
        tool_calls: [{ toolCallId: 't', toolName: 'n', args: '{"a":1}' }] }));
    const legacy = (await legacyRows(db)).find((r) => Number(r.id) === id)!;
    expect((await actualV2(db)).get(id)).toEqual(expectedV2(legacy));

    await as(db, { role: 'authenticated', sub: s.userIds[0]! }, (tx) =>
      tx.query(`update public.chat_messages set content = 'edited in legacy' where id = $1`, [id]));
    expect(await one(db, `select content ->> 'text' as t, version from public.chat_messages_v2 where legacy_id = $1`, [id]))
      .toEqual({ t: 'edited in legacy', version: 2 });

    await as(db, { role: 'authenticated', sub: s.userIds[0]! }, (tx) =>
      tx.query(`delete from public.chat_messages where id = $1`, [id]));
    const gone = await one<{ deleted: boolean }>(db,
      `select deleted_at is not null as deleted from public.chat_messages_v2 where legacy_id = $1`, [id]);
    expect(gone.deleted).toBe(true);

    const bad = await as(db, { role: 'authenticated', sub: s.userIds[0]! }, (tx) =>
      insertLegacy(tx, { conversation_id: s.conversationIds[0]!, user_id: s.userIds[0]!, role: 'alien', content: 'x' }));
    expect(await one(db, `select reason from chat_migration.quarantine where source_id = $1::text and resolved_at is null`, [bad]))
      .toEqual({ reason: 'unknown role: alien' });
    expect(await invariantViolations(db)).toEqual([]);
  });

  it('mirrors v2 writes back to legacy: inserts with a legacy_id link, parts → text, children, edits, deletes', async () => {
    db = await openMigrated();
    const s = await migratedClean();
    await db.query(`select public.set_chat_schema_mode('dual_write')`);

    const parts = { type: 'parts', parts: [{ type: 'text', text: 'line one' }, { type: 'image', url: 'x' }, { type: 'text', text: 'line two' }] };
    const msg = await appInsertV2(s, 0, parts, { role: 'assistant' });
    expect(msg.legacy_id).not.toBeNull();
    expect(await one(db, `select role, content, conversation_id from public.chat_messages where id = $1`, [msg.legacy_id]))
      .toEqual({ role: 'assistant', content: 'line one\nline two', conversation_id: s.conversationIds[0] });

    await as(db, { role: 'authenticated', sub: s.userIds[0]! }, async (tx) => {
      await tx.query(`insert into public.chat_message_attachments (message_id, position, name, storage_path, mime_type, size_bytes)
                      values ($1, 0, 'f.pdf', 'b/f.pdf', 'application/pdf', 10)`, [msg.id]);
      await tx.query(`insert into public.chat_tool_calls (message_id, position, tool_call_id, tool_name, args, is_partial)
                      values ($1, 0, 'c1', 'search', '{"q":1}', false), ($1, 1, 'c2', 'slow', null, true)`, [msg.id]);
    });
    const l = await one<{ attachments: unknown; tool_calls: unknown; partial_tool_calls: unknown }>(db,
      `select attachments, tool_calls, partial_tool_calls from public.chat_messages where id = $1`, [msg.legacy_id]);
    expect(l.attachments).toEqual([{ name: 'f.pdf', type: null, storageId: 'b/f.pdf', mimeType: 'application/pdf', size: 10, metadata: {} }]);
    expect(l.tool_calls).toEqual([{ toolCallId: 'c1', toolName: 'search', args: { q: 1 } }]);
    expect(l.partial_tool_calls).toEqual([{ toolCallId: 'c2', toolName: 'slow' }]);

    await as(db, { role: 'authenticated', sub: s.userIds[0]! }, (tx) =>
      tx.query(`update public.chat_messages_v2 set content = '{"type":"text","text":"v2 edit"}' where id = $1`, [msg.id]));
    expect(await one(db, `select content from public.chat_messages where id = $1`, [msg.legacy_id])).toEqual({ content: 'v2 edit' });

    // an edit of a backfilled row travels back too
    const someLegacy = s.goodIds[0]!;
    await db.query(`update public.chat_messages_v2 set content = '{"type":"text","text":"edited in v2"}' where legacy_id = $1`, [someLegacy]);
    expect(await one(db, `select content from public.chat_messages where id = $1`, [someLegacy])).toEqual({ content: 'edited in v2' });

    expect(await failing()).toEqual([]);

    // soft delete in v2 deletes the legacy row; a hard delete too
    await as(db, { role: 'authenticated', sub: s.userIds[0]! }, (tx) =>
      tx.query(`update public.chat_messages_v2 set deleted_at = now() where id = $1`, [msg.id]));
    expect(await db.query(`select 1 from public.chat_messages where id = $1`, [msg.legacy_id])).toEqual([]);
    await db.query(`delete from public.chat_messages_v2 where legacy_id = $1`, [s.goodIds[1]]);
    expect(await db.query(`select 1 from public.chat_messages where id = $1`, [s.goodIds[1]])).toEqual([]);
    expect(await failing()).toEqual([]);
  });
});

describe('verify', () => {
  it('is clean after the backfill, and catches a legacy row edited after it was migrated', async () => {
    db = await openMigrated();
    const s = await migratedClean();
    const checks = await db.query<{ check_name: string; ok: boolean; legacy_count: string; v2_count: string; mismatches: string }>(
      `select * from public.verify_chat_migration()`);
    expect(checks.map((c) => c.check_name)).toEqual([
      'legacy_rows_accounted', 'messages', 'message_content', 'conversation_checksums', 'attachments', 'tool_calls',
      'sessions', 'orphans', 'quarantine', 'chat_states', 'v2_rows_without_legacy', 'tenancy']);
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    const q = checks.find((c) => c.check_name === 'quarantine')!;
    expect(Number(q.legacy_count)).toBe(s.badIds.length);

    await db.query(`update public.chat_messages set content = 'changed behind our back' where id = $1`, [s.goodIds[2]]);
    await db.query(`update public.chat_messages set attachments = '[]' where id = $1`, [s.goodIds[5]]);
    expect(await failing()).toEqual([
      { check_name: 'attachments', mismatches: 1 },
      { check_name: 'conversation_checksums', mismatches: 1 },
      { check_name: 'message_content', mismatches: 1 },
    ]);
    // and the repair re-copies them
    await db.query(`select public.repair_chat_migration()`);
    expect(await failing()).toEqual([]);
  });

  it('reports rows not migrated yet', async () => {
    db = await openMigrated();
    const s = await seedLegacy(db, 1);
    await db.query(`select public.migrate_chat_messages_batch(3)`);
    const f = await failing();
    expect(f.map((r) => r.check_name)).toContain('legacy_rows_accounted');
    expect(Number(f.find((r) => r.check_name === 'legacy_rows_accounted')!.mismatches)).toBe(s.ids.length - 3);
  });
});

describe('v2_only, finalize', () => {
  it('refuses v2_only while verification is not clean, then rejects every legacy write', async () => {
    db = await openMigrated();
    const s = await seedLegacy(db, 1);
    await expect(db.query(`select public.set_chat_schema_mode('v2_only')`)).rejects.toMatchObject({
      message: expect.stringMatching(/cannot switch to v2_only: verification is not clean/),
      hint: expect.stringMatching(/run_chat_migration/),
    });
    await db.query(`select public.migrate_chat_messages()`);
    await db.query(`select public.set_chat_schema_mode('dual_write')`);
    await db.query(`select public.set_chat_schema_mode('v2_only')`);

    const err = { message: expect.stringMatching(/read-only: the chat schema mode is v2_only/), hint: expect.stringMatching(/chat_messages_v2/) };
    await expect(db.query(`delete from public.chat_messages where id = $1`, [s.goodIds[0]])).rejects.toMatchObject(err);
    await expect(db.query(`truncate public.chat_messages`)).rejects.toMatchObject(err);
    await expect(as(db, { role: 'authenticated', sub: s.userIds[0]! }, (tx) =>
      insertLegacy(tx, { conversation_id: s.conversationIds[0]!, user_id: s.userIds[0]!, role: 'user', content: 'x' }))).rejects.toMatchObject(err);
    await expect(as(db, { role: 'service_role' }, (tx) =>
      tx.query(`update public.chat_messages set content = 'x' where id = $1`, [s.goodIds[0]]))).rejects.toMatchObject(err);
    await expect(db.query(`update public.chat_states set content = '{}'`)).rejects.toMatchObject(err);

    // the backfill cannot revert v2 edits in v2_only
    await db.query(`update public.chat_messages_v2 set content = '{"type":"text","text":"v2 is newer"}' where legacy_id = $1`, [s.goodIds[0]]);
    expect(await one(db, `select public.migrate_chat_messages_batch(100) as n`)).toEqual({ n: 0 });
    expect(await one(db, `select public.migrate_chat_messages() as n`)).toMatchObject({ n: expect.anything() });
    expect(await one(db, `select content ->> 'text' as t from public.chat_messages_v2 where legacy_id = $1`, [s.goodIds[0]])).toEqual({ t: 'v2 is newer' });
    await expect(db.query(`select * from public.retry_chat_migration_quarantine()`)).rejects.toThrow(/v2_only/);

    // v2 keeps working without mirroring
    const m = await appInsertV2(s, 0, { type: 'text', text: 'written in v2_only' });
    expect(m.legacy_id).toBeNull();
    expect(await failing()).toEqual([]);
    const modes = await db.query(`select from_mode, to_mode from chat_migration.mode_changes order by id`);
    expect(modes).toEqual([{ from_mode: 'legacy', to_mode: 'dual_write' }, { from_mode: 'dual_write', to_mode: 'v2_only' }]);
  });

  it('leaving v2_only copies to legacy what v2 gained (inserts, edits, deletes)', async () => {
    db = await openMigrated();
    const s = await migratedClean();
    await db.query(`select public.set_chat_schema_mode('v2_only')`);
    const m = await appInsertV2(s, 1, { type: 'parts', parts: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] });
    await db.query(`insert into public.chat_message_attachments (message_id, position, name, storage_path) values ($1, 0, 'n', 'p')`, [m.id]);
    await db.query(`update public.chat_messages_v2 set content = '{"type":"text","text":"edited in v2_only"}' where legacy_id = $1`, [s.goodIds[0]]);
    await db.query(`update public.chat_messages_v2 set deleted_at = now() where legacy_id = $1`, [s.goodIds[1]]);
    expect(await failing()).toEqual([]); // v2 is newer than legacy by design in v2_only

    await db.query(`select public.set_chat_schema_mode('dual_write')`);
    const linked = await one<{ legacy_id: string }>(db, `select legacy_id from public.chat_messages_v2 where id = $1`, [m.id]);
    expect(await one(db, `select content, attachments from public.chat_messages where id = $1`, [linked.legacy_id]))
      .toEqual({ content: 'a\nb', attachments: [{ name: 'n', type: null, storageId: 'p', mimeType: null, size: null, metadata: {} }] });
    expect(await one(db, `select content from public.chat_messages where id = $1`, [s.goodIds[0]])).toEqual({ content: 'edited in v2_only' });
    expect(await db.query(`select 1 from public.chat_messages where id = $1`, [s.goodIds[1]])).toEqual([]);
    expect(await failing()).toEqual([]);
    expect((await db.query(`select note from chat_migration.mode_changes order by id desc limit 1`))[0]).toEqual({ note: 'copied 3 v2 changes to legacy' });
  });

  it('finalize refuses with a HINT until mode is v2_only and verify is clean, then archives legacy (no drop)', async () => {
    db = await openMigrated();
    const s = await migratedClean();
    await expect(db.query(`select public.finalize_chat_migration()`)).rejects.toMatchObject({
      message: expect.stringMatching(/cannot finalize the chat migration while mode is legacy/),
      hint: expect.stringMatching(/set_chat_schema_mode\('v2_only'\)/),
    });
    await db.query(`select public.set_chat_schema_mode('dual_write')`);
    await db.query(`select public.set_chat_schema_mode('v2_only')`);
    expect(await one(db, `select public.finalize_chat_migration() as r`)).toEqual({ r: 'finalized' });
    expect(await one(db, `select to_regclass('public.chat_messages') as p, to_regclass('chat_archive.chat_messages')::text as a`))
      .toEqual({ p: null, a: 'chat_archive.chat_messages' });
    expect(await one(db, `select count(*)::int as n from chat_archive.chat_messages`)).toEqual({ n: s.ids.length });
    // and back: leaving v2_only un-archives legacy and copies what v2 gained
    await db.query(`select public.set_chat_schema_mode('dual_write')`);
    expect(await one(db, `select to_regclass('public.chat_messages') is not null as p`)).toEqual({ p: true });
  });
});

describe('rollback', () => {
  it('during dual_write, rolling back the data migration leaves legacy complete, including rows written through v2', async () => {
    db = await openMigrated();
    const s = await migratedClean();
    await db.query(`select public.set_chat_schema_mode('dual_write')`);
    const m = await appInsertV2(s, 0, { type: 'text', text: 'only ever written to v2' });
    await db.query(`insert into public.chat_messages (conversation_id, user_id, role, content) values ($1, $2, 'user', 'legacy write')`,
      [s.conversationIds[1], s.userIds[1]]);
    await rollback(db, { version: '20250806000000' });
    expect(await one(db, `select to_regnamespace('chat_migration') as s, to_regproc('public.migrate_chat_messages') as f`)).toEqual({ s: null, f: null });
    expect(await db.query(`select tgname from pg_trigger where tgname like 'chat_migration%'`)).toEqual([]);
    // every live v2 message has its legacy row with the same text
    const lacking = await db.query(`
      select v.id from public.chat_messages_v2 v
       where v.deleted_at is null
         and not exists (select 1 from public.chat_messages l where l.id = v.legacy_id
                           and l.content is not distinct from (case when v.content ->> 'type' = 'text' then v.content ->> 'text' end)
                           or l.id = v.legacy_id and l.content is null and v.content ->> 'text' = '')`);
    expect(lacking).toEqual([]);
    expect(await one(db, `select content from public.chat_messages where id = $1`, [m.legacy_id])).toEqual({ content: 'only ever written to v2' });
    // and it can be re-applied cleanly
    const { migrateWithShim } = await import('../../devstack/platform.ts');
    await migrateWithShim(db);
    expect(await one(db, `select mode from chat_migration.mode`)).toEqual({ mode: 'legacy' });
  });
});

describe('privileges', () => {
  const calls = [
    `select * from public.migrate_with_progress(10)`,
    `select public.migrate_chat_messages()`,
    `select public.migrate_chat_messages_batch(10)`,
    `call public.run_chat_migration(10)`,
    `select * from public.migrate_chat_states()`,
    `select * from public.verify_chat_migration()`,
    `select public.set_chat_schema_mode('dual_write')`,
    `select public.finalize_chat_migration()`,
    `select * from public.chat_migration_status()`,
    `select public.pause_chat_migration()`,
    `select public.resume_chat_migration()`,
    `select * from public.list_chat_migration_quarantine()`,
    `select * from public.retry_chat_migration_quarantine()`,
    `select public.repair_chat_migration()`,
    `select * from chat_migration.quarantine`,
    `select * from chat_migration.runs`,
  ];
  it('anon and authenticated cannot execute any of it; service_role can', async () => {
    db = await openMigrated();
    const s = await seedLegacy(db, 1);
    for (const actor of [{ role: 'anon' as const }, { role: 'authenticated' as const, sub: s.userIds[0]! }]) {
      for (const sql of calls) {
        await expect(as(db, actor, (tx) => tx.query(sql)), `${actor.role}: ${sql}`).rejects.toThrow(/permission denied/);
      }
    }
    await as(db, { role: 'service_role' }, async (tx) => {
      expect(Number((await one<{ n: string }>(tx, `select public.migrate_chat_messages() as n`)).n)).toBe(s.goodIds.length);
      await tx.query(`select * from public.verify_chat_migration()`);
      await tx.query(`select * from public.chat_migration_status()`);
      await tx.query(`select public.set_chat_schema_mode('dual_write')`);
    });
  });
});

describe('schema v2 rollback (with the data-migration block)', () => {
  it('during dual_write removes the ledger and triggers with v2 and leaves legacy complete', async () => {
    db = await openMigrated();
    const s = await migratedClean();
    await db.query(`select public.set_chat_schema_mode('dual_write')`);
    const m = await appInsertV2(s, 1, { type: 'parts', parts: [{ type: 'text', text: 'x' }, { type: 'text', text: 'y' }] });
    const before = await one<{ n: number }>(db, `select count(*)::int as n from public.chat_messages`);
    await rollbackNewerThanV2(db);
    await rollback(db, { version: '20250805074444' });
    expect(await one(db, `select to_regnamespace('chat_migration') as s, to_regclass('public.chat_messages_v2') as t`)).toEqual({ s: null, t: null });
    expect(await db.query(`select version from supabase_migrations.schema_migrations where version >= '20250805074444'`))
      .toEqual([{ version: '20250810000000' }]); // legacy table privileges: not part of v2
    expect(await one(db, `select count(*)::int as n from public.chat_messages`)).toEqual(before);
    expect(await one(db, `select content from public.chat_messages where id = $1`, [m.legacy_id])).toEqual({ content: 'x\ny' });
    // re-applying starts clean
    const { migrateWithShim } = await import('../../devstack/platform.ts');
    await migrateWithShim(db);
    expect(await one(db, `select count(*)::int as n from chat_migration.runs`)).toEqual({ n: 0 });
    expect(await one(db, `select mode from chat_migration.mode`)).toEqual({ mode: 'legacy' });
  });

  it('refuses while v2 holds messages legacy lacks, and in v2_only', async () => {
    db = await openMigrated();
    const s = await migratedClean();
    await db.query(`select public.set_chat_schema_mode('dual_write')`);
    await db.query(`select public.set_chat_schema_mode('v2_only')`);
    await rollbackNewerThanV2(db);
    await expect(rollback(db, { version: '20250805074444' })).rejects.toMatchObject({
      message: expect.stringMatching(/v2_only/), hint: expect.stringMatching(/set_chat_schema_mode\('dual_write'\)/) });
    await db.query(`select public.set_chat_schema_mode('legacy')`);
    // written to v2 while nothing mirrors it (mode legacy): legacy lacks it
    await appInsertV2(s, 0, { type: 'text', text: 'v2 only row' });
    await expect(rollback(db, { version: '20250805074444' })).rejects.toMatchObject({
      message: expect.stringMatching(/1 v2 message\(s\) have no legacy row/), hint: expect.stringMatching(/legacy_id is null/) });
    expect(await one(db, `select to_regnamespace('chat_migration') is not null as s`)).toEqual({ s: true });
  });
});

