/**
 * The migrations on a replica of hosted Supabase's database (test/fixtures/supabase-platform.sql, written
 * from Supabase's own init scripts — NOT our shim): they apply as the demoted, non-superuser `postgres`
 * that `supabase db push` connects as, and the result — schema, grants, and what RLS lets each API role
 * see — is the same as on the shim-based template every other test uses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openEmbedded, pgliteOf } from '../devstack/pglite/engine.ts';
import type { Db } from '../ops/db.ts';
import { hasPlatform, migrateWithShim } from '../devstack/platform.ts';
import { listMigrations, migrate, projectRoot, type MigrateResult } from '../ops/migrations/runner.ts';
import { as, onNative, type Actor } from './helpers/db.ts';
import { openMigrated } from '../devstack/templates/pglite.ts';
import { schemaFingerprint } from './helpers/schema-fingerprint.ts';
import { createWorld, type World } from './schema/fixtures.ts';
import { pgtapSetupSql, runTapFile, tapFailures } from '../devstack/pgtap.ts';

const OWN_SCHEMAS = ['public', 'chat_migration', 'supabase_migrations'];
const fixture = join(projectRoot, 'test', 'fixtures', 'supabase-platform.sql');

// PGlite only, in both lanes' sense: the replica needs a cluster of its own — its fixture demotes `postgres`
// to a non-superuser and creates Supabase's cluster-wide roles (supabase_admin, …), which on the shared
// native server would break every other test database. It runs on an isolated PGlite (the shim side too,
// so both sides compare like with like); running it again on the native lane would repeat the same run.
const lane = describe.skipIf(onNative);

let replica: Db;
let shimmed: Db;
let result: MigrateResult & { shimApplied: boolean };
/** The migrated replica with pgTAP, before any test data: each pgTAP file starts from it. */
let tapImage: Blob;

beforeAll(async () => {
  if (onNative) return;
  replica = await openEmbedded();
  await replica.exec(await readFile(fixture, 'utf8'));
  result = await migrateWithShim(replica); // the shim stays out: auth.users is there
  // pgTAP is a privileged extension on Supabase (created through supautils): the superuser creates it.
  await replica.exec(`set session authorization supabase_admin; ${pgtapSetupSql} set session authorization postgres;`);
  tapImage = await pgliteOf(replica)!.dumpDataDir('none');
  shimmed = await openMigrated();
});
afterAll(async () => {
  await replica?.close();
  await shimmed?.close();
});

lane('platform replica (Supabase init scripts, not our shim)', () => {
  it('is a real replica: auth from the fixture, a non-superuser postgres running the migrations', async () => {
    expect(result.shimApplied).toBe(false);
    expect(await hasPlatform(replica)).toBe(true);
    const [who] = await replica.query<{ current_user: string; session_user: string; rolsuper: boolean; rolbypassrls: boolean }>(
      `select current_user, session_user, r.rolsuper, r.rolbypassrls from pg_roles r where r.rolname = current_user`,
    );
    expect(who).toEqual({ current_user: 'postgres', session_user: 'postgres', rolsuper: false, rolbypassrls: true });
    const [owners] = await replica.query<{ users_owner: string; uid_owner: string; auth_owner: string; users_rls: boolean; columns: number }>(
      `select (select relowner::regrole::text from pg_class where oid = 'auth.users'::regclass) as users_owner,
              (select proowner::regrole::text from pg_proc where oid = 'auth.uid()'::regprocedure) as uid_owner,
              (select nspowner::regrole::text from pg_namespace where nspname = 'auth') as auth_owner,
              (select relrowsecurity from pg_class where oid = 'auth.users'::regclass) as users_rls,
              (select count(*)::int from information_schema.columns where table_schema = 'auth' and table_name = 'users') as columns`,
    );
    expect(owners).toEqual({ users_owner: 'supabase_auth_admin', uid_owner: 'supabase_auth_admin', auth_owner: 'supabase_admin', users_rls: true, columns: 35 });
  });

  it('applies every migration as postgres, recorded like the CLI; a second run does nothing', async () => {
    const files = await listMigrations();
    expect(result.applied.map((f) => f.version)).toEqual(files.map((f) => f.version));
    const rows = await replica.query<{ version: string; name: string }>(`select version, name from supabase_migrations.schema_migrations order by version`);
    expect(rows).toEqual(files.map((f) => ({ version: f.version, name: f.name })));
    const owners = await replica.query<{ owner: string }>(
      `select distinct relowner::regrole::text as owner from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind in ('r', 'p')`,
    );
    expect(owners).toEqual([{ owner: 'postgres' }]);
    expect((await migrate(replica)).applied).toEqual([]);
  });

  it('ends with the same schema, policies, functions and API-role grants as the shim', async () => {
    // public plus the private schemas migrations own (the data-migration ledger lives in chat_migration).
    const a = await schemaFingerprint(replica, OWN_SCHEMAS);
    const b = await schemaFingerprint(shimmed, OWN_SCHEMAS);
    expect(a.relations.length).toBeGreaterThan(3);
    expect(a.policies.length).toBeGreaterThan(10);
    expect(a.tableGrants.length).toBeGreaterThan(10);
    expect(a.functionGrants.length).toBeGreaterThan(5);
    expect(a).toEqual(b);
  });

  it('auth.uid()/role()/jwt() as Supabase ships them read PostgREST claims (and empty settings as none)', async () => {
    const sub = '00000000-0000-4000-8000-000000000001';
    const read = () =>
      replica.transaction(async (tx) => {
        await tx.query(`select set_config('request.jwt.claims', $1, true)`, [JSON.stringify({ sub, role: 'authenticated', email: 'x@example.test' })]);
        return tx.query(`select auth.uid()::text as uid, auth.role() as role, auth.email() as email, auth.jwt() ->> 'sub' as jwt_sub`);
      });
    expect(await read()).toEqual([{ uid: sub, role: 'authenticated', email: 'x@example.test', jwt_sub: sub }]);
    // After the transaction the setting is '' (not absent): the helpers must read that as "no claims".
    expect(await replica.query(`select auth.uid() as uid, auth.jwt() as jwt`)).toEqual([{ uid: null, jwt: null }]);
  });

  describe('pgTAP files (supabase/tests/database) pass on the replica, run as the demoted postgres', () => {
    const dir = join(projectRoot, 'supabase', 'tests', 'database');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.test.sql')).sort()) {
      it(file, async () => {
        const db = await openEmbedded({ loadDataDir: tapImage });
        try {
          // A loaded image reconnects as PGlite's bootstrap superuser: become postgres again.
          await db.exec('set session authorization postgres');
          expect(await db.query(`select current_user as u, (select rolsuper from pg_roles where rolname = current_user) as su`)).toEqual([
            { u: 'postgres', su: false },
          ]);
          const r = await runTapFile(pgliteOf(db)!, await readFile(join(dir, file), 'utf8'), { dir });
          const failures = tapFailures(r);
          if (failures.length) throw new Error(`${file} on the platform replica:\n${failures.join('\n')}`);
          expect(r.tests.length).toBeGreaterThan(0);
        } finally {
          await db.close();
        }
      });
    }
  });

  describe('RLS and grants behave the same as with the shim', () => {
    const worlds = new Map<Db, { a: World; b: World }>();
    beforeAll(async () => {
      for (const db of [replica, shimmed]) {
        worlds.set(db, { a: await createWorld(db, 'a@example.test'), b: await createWorld(db, 'b@example.test') });
      }
    });

    /** For each public table and actor: how many rows it sees (null: not even SELECT privilege). */
    async function visibility(db: Db) {
      const { a, b } = worlds.get(db)!;
      const tables = await db.query<{ t: string }>(
        `select c.relname as t from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relkind in ('r', 'p') order by 1`,
      );
      const actors: [string, Actor][] = [
        ['anon', { role: 'anon' }],
        ['user A', { role: 'authenticated', sub: a.uid }],
        ['user B', { role: 'authenticated', sub: b.uid }],
        ['service_role', { role: 'service_role' }],
      ];
      const out: Record<string, number | string> = {};
      for (const { t } of tables) {
        for (const [name, actor] of actors) {
          try {
            const rows = await as(db, actor, (tx) => tx.query<{ n: number }>(`select count(*)::int as n from public.${t}`));
            out[`${t} / ${name}`] = rows[0]!.n;
          } catch (err) {
            out[`${t} / ${name}`] = `denied: ${(err as { code?: string }).code ?? (err as Error).message}`;
          }
        }
      }
      return out;
    }

    it('every actor sees the same number of rows in every public table', async () => {
      const onReplica = await visibility(replica);
      const onShim = await visibility(shimmed);
      expect(onReplica).toEqual(onShim);
      // And the fence itself: anon nothing, a user only their own world, service_role everything.
      expect(onReplica['agents / anon']).toSatisfy((v: unknown) => v === 0 || String(v).startsWith('denied'));
      expect(onReplica['agents / user A']).toBe(1);
      expect(onReplica['agents / service_role']).toBe(2);
    });

    it('a user cannot write into another user’s rows; API functions keep their EXECUTE fence', async () => {
      for (const db of [replica, shimmed]) {
        const { a, b } = worlds.get(db)!;
        await expect(
          as(db, { role: 'authenticated', sub: a.uid }, (tx) =>
            tx.query(`insert into public.agents (owner_id, name) values ($1, 'forged')`, [b.uid]),
          ),
        ).rejects.toMatchObject({ code: '42501' });
        const updated = await as(db, { role: 'authenticated', sub: a.uid }, (tx) =>
          tx.query(`update public.conversation_sessions set title = 'hijacked' where user_id = $1 returning id`, [b.uid]),
        );
        expect(updated).toEqual([]);
      }
      const fence = async (db: Db) =>
        db.query<{ fn: string; anon: boolean; authenticated: boolean; service_role: boolean }>(
          `select p.oid::regprocedure::text as fn,
                  has_function_privilege('anon', p.oid, 'execute') as anon,
                  has_function_privilege('authenticated', p.oid, 'execute') as authenticated,
                  has_function_privilege('service_role', p.oid, 'execute') as service_role
             from pg_proc p join pg_namespace n on n.oid = p.pronamespace
            where n.nspname = 'public' order by 1`,
        );
      const replicaFence = await fence(replica);
      expect(replicaFence).toEqual(await fence(shimmed));
      expect(replicaFence.filter((f) => f.anon)).toEqual([]);
    });

    it('security definer triggers work when their owner is the non-superuser postgres', async () => {
      const { a } = worlds.get(replica)!;
      const [session] = await as(replica, { role: 'authenticated', sub: a.uid }, async (tx) => {
        await tx.query(
          `insert into public.chat_messages_v2 (conversation_id, user_id, agent_id, role, content)
           values ($1, $2, $3, 'assistant', '{"type":"text","text":"hi there"}')`,
          [a.sessionId, a.uid, a.agentId],
        );
        return tx.query<{ message_count: number }>(`select message_count from public.conversation_sessions where id = $1`, [a.sessionId]);
      });
      expect(Number(session!.message_count)).toBe(2);
    });
  });
});
