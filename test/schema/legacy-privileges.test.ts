/**
 * 20250810000000_revoke_legacy_table_privileges: TRUNCATE (which bypasses RLS), REFERENCES, TRIGGER (and
 * MAINTAIN where the server has it) are gone from anon and authenticated on the legacy tables, anon holds
 * nothing on them or their sequence, authenticated keeps its RLS-fenced DML. Its rollback restores the ACLs that
 * were there before byte for byte — including ACLs that differ from what the platform shim creates — or refuses.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Db, Queryable } from '../../ops/db.ts';
import { rollback } from '../../ops/migrations/runner.ts';
import { migrateWithShim } from '../../devstack/platform.ts';
import { createUser, openEmpty, openMigrated, type Actor } from '../helpers/db.ts';
import { attempt } from './fixtures.ts';
import { rollbackNewerThanV2 } from '../helpers/newer-than-v2.ts';

const VERSION = '20250810000000';
const TABLES = ['public.agents', 'public.chat_messages', 'public.chat_states'];

/** Every ACL the migration may touch, as text: the tables, their sequence, and each of their columns. */
async function acls(db: Queryable): Promise<string[]> {
  const rows = await db.query<{ line: string }>(`
    select c.oid::regclass::text || ' ' || coalesce(c.relacl::text, 'null') as line
      from pg_class c
     where c.oid in ('public.agents'::regclass, 'public.chat_messages'::regclass, 'public.chat_states'::regclass,
                     'public.chat_messages_id_seq'::regclass)
    union all
    select a.attrelid::regclass::text || '.' || a.attname || ' ' || coalesce(a.attacl::text, 'null')
      from pg_attribute a
     where a.attrelid in ('public.agents'::regclass, 'public.chat_messages'::regclass, 'public.chat_states'::regclass)
       and a.attnum > 0 and not a.attisdropped
     order by 1`);
  return rows.map((r) => r.line);
}

/** TRUNCATE as an API role, always rolled back: 'truncated' or the SQLSTATE. */
async function truncateAs(db: Db, role: 'anon' | 'authenticated', table: string) {
  const actor: Actor = role === 'anon' ? { role } : { role, sub: '00000000-0000-4000-8000-000000000001' };
  const r = await attempt(db, actor, `truncate ${table}`);
  return r.ok ? 'truncated' : r.error.code;
}

let before: Db; // migrated up to the file before this one: the ACLs production had before it
let db: Db | undefined;
beforeAll(async () => {
  before = await openEmpty();
  await migrateWithShim(before, { target: '20250809000000' });
});
afterAll(async () => {
  await before?.close();
});
afterEach(async () => {
  await db?.close();
  db = undefined;
});

describe('legacy table privileges', () => {
  it('before: anon and authenticated could TRUNCATE the legacy tables (RLS does not apply to it)', async () => {
    const uid = await createUser(before);
    await before.query(`insert into public.chat_messages (conversation_id, user_id, role, content) values (gen_random_uuid(), $1, 'user', 'x')`, [uid]);
    // agents is referenced by v2's foreign keys, so emptying it needs CASCADE into v2 tables anon cannot reach;
    // the privilege was there all the same
    for (const t of ['public.chat_messages', 'public.chat_states']) {
      expect(await truncateAs(before, 'anon', t), t).toBe('truncated');
      expect(await truncateAs(before, 'authenticated', t), t).toBe('truncated');
    }
    const [agents] = await before.query<{ anon: boolean; auth: boolean }>(
      `select has_table_privilege('anon', 'public.agents', 'truncate') as anon,
              has_table_privilege('authenticated', 'public.agents', 'truncate') as auth`);
    expect(agents).toEqual({ anon: true, auth: true });
    // (each attempt was rolled back: the row is still there)
    expect(await before.query(`select count(*)::int as n from public.chat_messages`)).toEqual([{ n: 1 }]);
  });

  it('after: no API role can TRUNCATE, REFERENCE or TRIGGER; anon holds nothing; authenticated keeps its DML', async () => {
    db = await openMigrated();
    for (const t of ['public.chat_messages', 'public.chat_states']) {
      expect(await truncateAs(db, 'anon', t), t).toBe('42501');
      expect(await truncateAs(db, 'authenticated', t), t).toBe('42501');
    }
    const rows = await db.query<{ t: string; role: string; privs: string }>(`
      select t, r as role,
             concat_ws(',', case when has_table_privilege(r, t, 'select') then 'select' end,
                            case when has_table_privilege(r, t, 'insert') then 'insert' end,
                            case when has_table_privilege(r, t, 'update') then 'update' end,
                            case when has_table_privilege(r, t, 'delete') then 'delete' end,
                            case when has_table_privilege(r, t, 'truncate') then 'truncate' end,
                            case when has_table_privilege(r, t, 'references') then 'references' end,
                            case when has_table_privilege(r, t, 'trigger') then 'trigger' end) as privs
        from unnest($1::text[]) as t, unnest(array['anon', 'authenticated']) as r order by 1, 2`, [TABLES]);
    for (const r of rows) expect(r.privs, `${r.role} on ${r.t}`).toBe(r.role === 'anon' ? '' : 'select,insert,update,delete');
    const [seq] = await db.query<{ anon: boolean; auth: boolean }>(
      `select has_sequence_privilege('anon', 'public.chat_messages_id_seq', 'usage,select,update') as anon,
              has_sequence_privilege('authenticated', 'public.chat_messages_id_seq', 'usage') as auth`);
    expect(seq).toEqual({ anon: false, auth: true });
    const [maintain] = await db.query<{ n: number }>(
      `select count(*)::int as n from pg_class c, aclexplode(c.relacl) x
        where c.oid = any ($1::regclass[]) and x.privilege_type = 'MAINTAIN'
          and x.grantee in ('anon'::regrole, 'authenticated'::regrole)`, [TABLES]);
    expect(maintain!.n).toBe(0);
  });

  it('up → down → up: the rollback restores the original ACLs byte for byte, and up again the hardened ones', async () => {
    // on the database migrated only up to the file before (the tests above only read its ACLs)
    const original = await acls(before);
    await migrateWithShim(before);
    const hardened = await acls(before);
    expect(hardened).not.toEqual(original);
    await rollbackNewerThanV2(before); // its rollback refuses while a newer file is applied
    const undone = await rollback(before, { version: VERSION });
    expect(undone.version).toBe(VERSION);
    expect(await acls(before)).toEqual(original);
    expect(await before.query(`select to_regnamespace('chat_legacy_acl') as s`)).toEqual([{ s: null }]);
    await migrateWithShim(before);
    expect(await acls(before)).toEqual(hardened);
    db = await openMigrated();
    expect(await acls(db)).toEqual(hardened); // the same as a database migrated in one go
  });

  it('restores ACLs that differ from the shim\'s exactly: grant options, column grants, PUBLIC, missing privileges, order', async () => {
    db = await openMigrated();
    await rollbackNewerThanV2(db);
    await rollback(db, { version: VERSION });
    // a production database with its own history of grants
    await db.exec(`
      revoke all on public.chat_messages from anon, authenticated, service_role;
      grant select, insert on public.chat_messages to service_role;
      grant select on public.chat_messages to anon with grant option;
      grant update, delete, truncate on public.chat_messages to authenticated;
      grant select (id, content), update (content) on public.chat_messages to authenticated;
      grant references (conversation_id) on public.chat_messages to anon;
      revoke delete on public.agents from authenticated;
      grant select on public.chat_states to public;
      revoke all on sequence public.chat_messages_id_seq from anon;
      grant usage on sequence public.chat_messages_id_seq to anon with grant option;
    `);
    const production = await acls(db);
    await migrateWithShim(db);
    const hardened = await acls(db);
    expect(hardened).not.toEqual(production);
    expect(hardened.find((l) => l.startsWith('chat_messages.conversation_id '))).toBe('chat_messages.conversation_id null');
    expect(production.find((l) => l.startsWith('chat_messages.conversation_id '))).toBe('chat_messages.conversation_id {anon=x/postgres}');
    await rollbackNewerThanV2(db);
    await rollback(db, { version: VERSION });
    expect(await acls(db)).toEqual(production);
  });

  it('restores entries another role granted, as that role', async () => {
    db = await openMigrated();
    await rollbackNewerThanV2(db);
    await rollback(db, { version: VERSION });
    await db.exec(`
      grant select on public.chat_states to service_role with grant option;
      set role service_role;
      grant select on public.chat_states to authenticated;
      reset role;
    `);
    const production = await acls(db);
    expect(production.find((l) => l.startsWith('chat_states '))).toMatch(/authenticated=r\/service_role/);
    await migrateWithShim(db);
    await rollbackNewerThanV2(db);
    await rollback(db, { version: VERSION });
    expect(await acls(db)).toEqual(production);
  });

  it('refuses, changing nothing, when it cannot reproduce a saved entry', async () => {
    db = await openMigrated();
    const hardened = await acls(db);
    // an entry whose grantor never held the grant option cannot be granted again
    await db.query(`update chat_legacy_acl.saved_acls set acl = acl || 'authenticated=r/anon'::aclitem
                     where relid = 'public.chat_states'::regclass and attnum = 0`);
    await rollbackNewerThanV2(db);
    const err = await rollback(db, { version: VERSION }).then(() => null, (e: unknown) => e as { code?: string; message: string; hint?: string });
    expect(err).toMatchObject({ code: '55000', message: expect.stringMatching(/could not restore the privileges of public\.chat_states exactly/) });
    expect(err!.hint).toMatch(/grantor/);
    expect(await acls(db)).toEqual(hardened);
    expect(await db.query(`select version from supabase_migrations.schema_migrations where version = $1`, [VERSION]))
      .toEqual([{ version: VERSION }]);
  });
});
