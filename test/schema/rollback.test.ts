/**
 * Schema v2 rollback: up → down → up on a database holding legacy data. Legacy tables stay byte-identical
 * (md5 of their rows in key order, and their definitions), every v2 object goes, the version rows go, the
 * default privileges come back, the second up re-creates v2 and a further up does nothing. The opt-in
 * archive copies v2 data before dropping it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../../ops/db.ts';
import { rollback } from '../../ops/migrations/runner.ts';
import { migrateWithShim } from '../../devstack/platform.ts';
import { openMigrated } from '../helpers/db.ts';
import { createWorld as createWorldUnlinked, type World } from './fixtures.ts';
import { rollbackNewerThanV2 } from '../helpers/newer-than-v2.ts';

/**
 * A v2 world whose message has a legacy twin: the design makes the rollback refuse while v2 holds messages legacy
 * lacks (they would be lost), so data that may be rolled back must mirror legacy, as dual_write keeps it.
 */
async function createWorld(d: Db): Promise<World> {
  const w = await createWorldUnlinked(d);
  await d.query(`update public.chat_messages_v2 set legacy_id = $2 where id = $1`, [w.messageId, w.legacyMessageId]);
  return w;
}

const V2_TABLES = [
  'conversation_sessions', 'chat_messages_v2', 'chat_message_revisions', 'chat_message_attachments', 'chat_tool_calls',
  'agent_memories', 'agent_states', 'context_snapshots', 'state_checkpoints', 'policy_events',
];

let db: Db | undefined;
afterEach(async () => {
  await db?.close();
  db = undefined;
});

/** Legacy rows plus some dirt: role aliases, null content, string args, malformed arrays, invalid JSON state. */
async function seedLegacy(d: Db): Promise<void> {
  await d.exec(`
    insert into auth.users (id, email) values
      ('00000000-0000-0000-0000-0000000000a1', 'legacy-a@example.test'),
      ('00000000-0000-0000-0000-0000000000b1', 'legacy-b@example.test');
    insert into public.agents (id, owner_id, name, config) values
      ('00000000-0000-0000-0000-00000000a9e1', '00000000-0000-0000-0000-0000000000a1', 'helper', '{"model": "x", "temperature": 0.2}');
    insert into public.chat_messages (conversation_id, user_id, agent_id, role, content, attachments, tool_calls, partial_tool_calls, metadata, created_at, updated_at)
    select ('00000000-0000-0000-0000-' || lpad(to_hex(g % 7), 12, '0'))::uuid,
           case when g % 2 = 0 then '00000000-0000-0000-0000-0000000000a1'::uuid else '00000000-0000-0000-0000-0000000000b1'::uuid end,
           case when g % 3 = 0 then null else '00000000-0000-0000-0000-00000000a9e1'::uuid end,
           (array['user', 'assistant', 'human', 'ai', 'bot', 'function', 'tool', 'system', 'wizard'])[1 + g % 9],
           case when g % 11 = 0 then null else 'message ' || g || ' ünïcödé' end,
           case when g % 5 = 0 then jsonb_build_array(jsonb_build_object('name', 'f' || g, 'type', 'file', 'storageId', 's/' || g, 'mimeType', 'text/plain', 'size', g))
                when g % 13 = 0 then '"not an array"'::jsonb end,
           case when g % 4 = 0 then jsonb_build_array(jsonb_build_object('toolCallId', 'c' || g, 'toolName', 'search', 'args', '{"q": "x"}'::text)) end,
           case when g % 17 = 0 then '[1, 2]'::jsonb end,
           case when g % 2 = 0 then jsonb_build_object('tokens', g) else null end,
           timestamptz '2024-01-01' + g * interval '1 minute',
           case when g % 6 = 0 then timestamptz '2024-06-01' end
    from generate_series(1, 300) g;
    insert into public.chat_states (conversation_id, user_id, agent_id, content) values
      ('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-00000000a9e1',
       '{"user_input": "hi", "focus": [], "step_count": 2, "memory_context": [{"content": "x", "relevance_score": 3}]}'),
      ('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-00000000a9e1',
       '{not json');
  `);
}

/** md5 of every legacy table's rows in key order, and of the legacy tables' definitions. */
async function legacyFingerprint(d: Db): Promise<Record<string, string>> {
  const [rows] = await d.query<Record<string, string>>(`
    select
      (select md5(coalesce(string_agg(t::text, E'\\n' order by t.id), '')) from public.agents t) as agents,
      (select md5(coalesce(string_agg(t::text, E'\\n' order by t.id), '')) from public.chat_messages t) as chat_messages,
      (select md5(coalesce(string_agg(t::text, E'\\n' order by t.conversation_id), '')) from public.chat_states t) as chat_states,
      (select md5(string_agg(format('%s.%s %s %s %s', table_name, column_name, data_type, is_nullable, column_default), E'\\n'
                             order by table_name, ordinal_position))
       from information_schema.columns where table_schema = 'public' and table_name in ('agents', 'chat_messages', 'chat_states')) as columns,
      (select md5(string_agg(indexdef, E'\\n' order by indexname))
       from pg_indexes where schemaname = 'public' and tablename in ('agents', 'chat_messages', 'chat_states')) as indexes,
      (select md5(string_agg(format('%s %s %s %s %s', tablename, policyname, cmd, qual, with_check), E'\\n' order by tablename, policyname))
       from pg_policies where schemaname = 'public' and tablename in ('agents', 'chat_messages', 'chat_states')) as policies,
      (select md5(string_agg(conname || ' ' || pg_get_constraintdef(oid), E'\\n' order by conname))
       from pg_constraint where conrelid in ('public.agents'::regclass, 'public.chat_messages'::regclass, 'public.chat_states'::regclass)) as constraints,
      (select md5(coalesce(string_agg(format('%s %s', c.relname, c.relacl), E'\\n' order by c.relname), ''))
       from pg_class c where c.relnamespace = 'public'::regnamespace and c.relname in ('agents', 'chat_messages', 'chat_states')) as grants
  `);
  return rows!;
}

/** Who may execute a function created now in public by postgres (probe created and rolled back). */
async function newFunctionExecutors(d: Db): Promise<Record<string, boolean>> {
  class Probe extends Error {
    constructor(readonly value: Record<string, boolean>) {
      super('probe');
    }
  }
  try {
    await d.transaction(async (tx) => {
      await tx.query(`create function public.ajc_probe() returns int language sql as 'select 1'`);
      const [r] = await tx.query<Record<string, boolean>>(
        `select has_function_privilege('anon', 'public.ajc_probe()', 'execute') as anon,
                has_function_privilege('authenticated', 'public.ajc_probe()', 'execute') as authenticated,
                coalesce((select bool_or(a.grantee = 0) from pg_proc p, aclexplode(p.proacl) a where p.oid = 'public.ajc_probe()'::regprocedure), true) as public`,
      );
      throw new Probe(r!);
    });
  } catch (e) {
    if (e instanceof Probe) return e.value;
    throw e;
  }
  throw new Error('unreachable');
}

const versions = async (d: Db) =>
  (await d.query<{ version: string }>(`select version from supabase_migrations.schema_migrations order by version`)).map((r) => r.version);

/** v2 relations (tables, their indexes and sequences) and any function in public: legacy defines none. */
async function v2Leftovers(d: Db): Promise<string[]> {
  const rows = await d.query<{ name: string }>(
    `select 'relation ' || relname as name from pg_class
     where relnamespace = 'public'::regnamespace and relname like any (array(select t || '%' from unnest($1::text[]) t))
     union all
     select 'function ' || proname from pg_proc where pronamespace = 'public'::regnamespace
     union all
     select 'type ' || typname from pg_type where typnamespace = 'public'::regnamespace and typname = any ($1::text[])`,
    [V2_TABLES],
  );
  return rows.map((r) => r.name);
}

describe('schema v2 rollback', () => {
  it('up → down → up keeps legacy byte-identical, removes all of v2, and a second up does no harm', async () => {
    db = await openMigrated();
    // v2 takes the default EXECUTE on new functions away from PUBLIC and the API roles ...
    expect(await newFunctionExecutors(db)).toEqual({ anon: false, authenticated: false, public: false });
    await seedLegacy(db);
    await createWorld(db); // v2 rows too, so the drops run against data
    const legacy0 = await legacyFingerprint(db);
    const all = await versions(db);
    expect(all).toEqual(expect.arrayContaining(['20250801000000', '20250805074444', '20250805074445', '20250805074446', '20250805074447']));

    await rollbackNewerThanV2(db);
    await rollback(db, { version: '20250805074444' });
    expect(await legacyFingerprint(db)).toEqual(legacy0);
    expect(await v2Leftovers(db)).toEqual([]);
    expect((await versions(db)).filter((v) => v.startsWith('20250805'))).toEqual([]);
    // ... and its rollback gives it back, as the platform had it
    expect(await newFunctionExecutors(db)).toEqual({ anon: true, authenticated: true, public: true });
    const [ext] = await db.query<{ n: number }>(`select count(*)::int as n from pg_extension where extname = 'vector'`);
    expect(ext!.n).toBe(1); // kept on purpose (see the rollback's header)

    // the legacy privileges migration is not part of v2: it stays applied, and the legacy tables stay hardened
    expect(await versions(db)).toEqual(['20250801000000', '20250810000000']);
    const [hardened] = await db.query<{ t: boolean }>(`select has_table_privilege('anon', 'public.chat_messages', 'truncate') as t`);
    expect(hardened!.t).toBe(false);

    const up = await migrateWithShim(db);
    expect(up.applied.map((f) => f.version)).toEqual(all.filter((v) => v > '20250801000000' && v !== '20250810000000'));
    expect(await legacyFingerprint(db)).toEqual(legacy0);
    for (const t of V2_TABLES) {
      const [r] = await db.query<{ n: number }>(`select count(*)::int as n from public.${t}`);
      expect(r!.n, t).toBe(0);
    }
    const again = await migrateWithShim(db);
    expect(again.applied).toEqual([]);
    expect(await legacyFingerprint(db)).toEqual(legacy0);

    // and the cycle repeats cleanly
    await rollbackNewerThanV2(db);
    await rollback(db, { version: '20250805074444' });
    await migrateWithShim(db);
    expect(await legacyFingerprint(db)).toEqual(legacy0);
    expect(await versions(db)).toEqual(all);
  });

  it('copies v2 data into advanced_json_chat_archive when asked, never overwriting an earlier archive', async () => {
    db = await openMigrated();
    await seedLegacy(db);
    const w = await createWorld(db);
    const legacy0 = await legacyFingerprint(db);
    const counts = async (schema: string, suffix = '') =>
      Object.fromEntries(
        await Promise.all(
          V2_TABLES.map(async (t) => [t, (await db!.query<{ n: number }>(`select count(*)::int as n from ${schema}.${t}${suffix}`))[0]!.n] as const),
        ),
      );
    const live = await counts('public');
    expect(live.chat_messages_v2).toBeGreaterThan(0);

    await rollbackNewerThanV2(db);
    await rollback(db, { version: '20250805074444', archive: true });
    expect(await counts('advanced_json_chat_archive')).toEqual(live);
    const [msg] = await db.query<{ content: unknown }>(`select content from advanced_json_chat_archive.chat_messages_v2 where id = $1`, [w.messageId]);
    expect(msg!.content).toEqual({ type: 'text', text: 'hello!' });
    // the archive is not reachable through the API roles
    const [priv] = await db.query<{ anon: boolean; auth: boolean }>(
      `select has_schema_privilege('anon', 'advanced_json_chat_archive', 'usage') as anon,
              has_schema_privilege('authenticated', 'advanced_json_chat_archive', 'usage') as auth`,
    );
    expect(priv).toEqual({ anon: false, auth: false });
    expect(await legacyFingerprint(db)).toEqual(legacy0);

    // without the flag nothing is archived; with it again, the earlier archive is renamed aside
    await migrateWithShim(db);
    await createWorld(db);
    await rollbackNewerThanV2(db);
    await rollback(db, { version: '20250805074444' });
    expect(await counts('advanced_json_chat_archive')).toEqual(live);
    await migrateWithShim(db);
    await createWorld(db);
    await createWorld(db);
    await rollbackNewerThanV2(db);
    await rollback(db, { version: '20250805074444', archive: true });
    const [{ n: sessions } = { n: 0 }] = await db.query<{ n: number }>(`select count(*)::int as n from advanced_json_chat_archive.conversation_sessions`);
    expect(sessions).toBe(2);
    const renamed = await db.query<{ relname: string }>(
      `select relname from pg_class where relnamespace = 'advanced_json_chat_archive'::regnamespace and relname like 'conversation_sessions\\_%' and relkind = 'r'`,
    );
    expect(renamed).toHaveLength(1);
  });

  it('refuses while a later migration built on v2 is still applied', async () => {
    db = await openMigrated();
    await db.query(`insert into supabase_migrations.schema_migrations (version, name) values ('20991231000000', 'create_something_on_v2')`);
    await expect(rollback(db, { version: '20250805074444' })).rejects.toMatchObject({ code: 'AJC10' });
    const [r] = await db.query<{ t: string | null }>(`select to_regclass('public.chat_messages_v2')::text as t`);
    expect(r!.t).toBe('chat_messages_v2');
  });
});
