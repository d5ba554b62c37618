/**
 * Volatility and parallel labels of every function the migrations create, checked against what the function
 * body does. A label is a promise the planner relies on:
 *  - PARALLEL SAFE lets the planner run the function inside a parallel query. A function with an EXCEPTION block
 *    starts a subtransaction, which PostgreSQL 15 refuses there ("cannot start subtransactions during a parallel
 *    operation": verify_chat_migration() broke that way on a native server once the planner chose a parallel
 *    plan); a write or a volatile call has no business there either. PGlite (PostgreSQL 18) does not raise that
 *    error, so only this catalogue check catches the mislabel on PGlite.
 *  - IMMUTABLE lets the planner fold the call at plan time: a function that reads a table must not claim it.
 * The self-test at the end proves the checks flag such functions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, Queryable } from '../../ops/db.ts';
import { openMigrated } from '../helpers/db.ts';

let db: Db;
beforeAll(async () => {
  db = await openMigrated();
});
afterAll(async () => {
  await db?.close();
});

/** Every mislabel in the catalogue: function signature and what is wrong with its label. */
async function mislabels(q: Queryable): Promise<{ fn: string; problem: string }[]> {
  return q.query(`
    with fns as (
      select p.oid, p.oid::regprocedure::text as fn, p.pronamespace, p.provolatile, p.proparallel, l.lanname,
             lower(p.prosrc) as src
        from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace
        join pg_language l on l.oid = p.prolang
       where n.nspname not in ('pg_catalog', 'information_schema', 'auth', 'extensions')
         and n.nspname not like 'pg\\_%'
         and l.lanname in ('sql', 'plpgsql')
         -- functions of extensions (pgvector, pgTAP) are theirs to label
         and not exists (select 1 from pg_depend d
                          where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
    ),
    -- every name followed by "(" in a body, with its schema when qualified
    calls as (
      select distinct f.oid, m[1] as schema_name, m[2] as name
        from fns f, regexp_matches(f.src, '(?:([a-z_][a-z0-9_]*)\\.)?([a-z_][a-z0-9_]*)\\s*\\(', 'g') as m
    ),
    -- a called name whose every overload is volatile or not parallel safe (overloads that differ are not judged)
    unsafe_calls as (
      select c.oid, string_agg(distinct coalesce(c.schema_name || '.', '') || c.name, ', ') as names
        from calls c
        join fns f on f.oid = c.oid
       where exists (select 1 from pg_proc q join pg_namespace qn on qn.oid = q.pronamespace
                      where q.proname = c.name
                        and (qn.nspname = c.schema_name
                             or (c.schema_name is null and (qn.nspname = 'pg_catalog' or q.pronamespace = f.pronamespace))))
         and not exists (select 1 from pg_proc q join pg_namespace qn on qn.oid = q.pronamespace
                          where q.proname = c.name
                            and (qn.nspname = c.schema_name
                                 or (c.schema_name is null and (qn.nspname = 'pg_catalog' or q.pronamespace = f.pronamespace)))
                            and q.proparallel = 's' and q.provolatile <> 'v')
       group by c.oid
    ),
    -- relations read: "from x" / "join x" where x names a table, view or sequence (not a function call)
    reads as (
      select f.oid, string_agg(distinct m[2], ', ') as rels
        from fns f, regexp_matches(f.src, '\\m(from|join)\\s+([a-z_][a-z0-9_]*(?:\\.[a-z_][a-z0-9_]*)?)\\M(?!\\s*\\()', 'g') as m
       where to_regclass(m[2]) is not null
       group by f.oid
    )
    select f.fn, 'PARALLEL SAFE but has an EXCEPTION block (a subtransaction)' as problem
      from fns f where f.proparallel = 's' and f.lanname = 'plpgsql' and f.src ~ '\\mexception\\s+when\\M'
    union all
    select f.fn, 'PARALLEL SAFE but writes'
      from fns f
     where f.proparallel = 's'
       and f.src ~ '\\m(insert\\s+into|update\\s+[a-z_.]+(\\s+as)?(\\s+[a-z_]+)?\\s+set|delete\\s+from|truncate|merge\\s+into)\\M'
    union all
    select f.fn, 'PARALLEL SAFE but calls ' || u.names || ' (volatile or not parallel safe)'
      from fns f join unsafe_calls u on u.oid = f.oid where f.proparallel = 's'
    union all
    select f.fn, 'IMMUTABLE but reads ' || r.rels
      from fns f join reads r on r.oid = f.oid where f.provolatile = 'i'
    order by 1, 2`);
}

describe('function volatility and parallel labels', () => {
  it('no function of the migrations is mislabelled', async () => {
    expect(await mislabels(db)).toEqual([]);
  });

  it('the functions that broke verify on a parallel plan are not PARALLEL SAFE, and the read-only API is not either', async () => {
    const rows = await db.query<{ fn: string; proparallel: string }>(
      `select p.oid::regprocedure::text as fn, p.proparallel from pg_proc p
        where p.oid in ('chat_migration.try_jsonb(text)'::regprocedure, 'chat_migration.parse_args(jsonb)'::regprocedure,
                        'chat_migration.legacy_tool_calls_norm(jsonb,jsonb)'::regprocedure,
                        'chat_migration.try_timestamptz(jsonb)'::regprocedure,
                        'public.verify_chat_migration()'::regprocedure, 'public.check_chat_schema_integrity()'::regprocedure,
                        'public.match_agent_memories(uuid,extensions.vector,integer,text[],real)'::regprocedure)
        order by 1`);
    expect(rows).toHaveLength(7);
    for (const r of rows) expect(r.proparallel, r.fn).toBe('u');
  });

  it('self-test: the labels as they were before the audit are flagged', async () => {
    await db.query('begin');
    try {
      await db.exec(`
        alter function chat_migration.try_jsonb(text) parallel safe;
        alter function chat_migration.parse_args(jsonb) parallel safe;
        alter function chat_migration.legacy_tool_calls_norm(jsonb, jsonb) parallel safe;
      `);
      expect(await mislabels(db)).toEqual([
        { fn: 'chat_migration.try_jsonb(text)', problem: 'PARALLEL SAFE but has an EXCEPTION block (a subtransaction)' },
      ]);
    } finally {
      await db.query('rollback');
    }
  });

  it('self-test: flags an EXCEPTION block, a write and a volatile call under PARALLEL SAFE, and a table read under IMMUTABLE', async () => {
    await db.query('begin');
    try {
      await db.exec(`
        create function chat_migration.bad_exception(t text) returns jsonb language plpgsql immutable parallel safe
          set search_path = '' as $$ begin return t::jsonb; exception when others then return null; end $$;
        create function chat_migration.bad_write() returns void language plpgsql parallel safe
          set search_path = '' as $$ begin update chat_migration.runs set status = status; end $$;
        create function chat_migration.bad_volatile() returns text language sql parallel safe
          as $$ select set_config('x.y', 'z', true) $$;
        create function chat_migration.bad_caller(t text) returns jsonb language sql immutable parallel safe
          as $$ select chat_migration.try_jsonb(t) $$;
        create function chat_migration.bad_immutable() returns bigint language sql immutable
          as $$ select count(*) from public.chat_messages $$;
      `);
      const flagged = await mislabels(db);
      expect(flagged).toEqual([
        { fn: 'chat_migration.bad_caller(text)', problem: expect.stringMatching(/^PARALLEL SAFE but calls chat_migration\.try_jsonb/) },
        { fn: 'chat_migration.bad_exception(text)', problem: 'PARALLEL SAFE but has an EXCEPTION block (a subtransaction)' },
        { fn: 'chat_migration.bad_immutable()', problem: 'IMMUTABLE but reads public.chat_messages' },
        { fn: 'chat_migration.bad_volatile()', problem: expect.stringMatching(/^PARALLEL SAFE but calls set_config/) },
        { fn: 'chat_migration.bad_write()', problem: 'PARALLEL SAFE but writes' },
      ]);
    } finally {
      await db.query('rollback');
    }
  });
});
