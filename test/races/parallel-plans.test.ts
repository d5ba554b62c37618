/**
 * The read-only API under forced parallel plans. PostgreSQL 15 picks parallel plans by itself once tables
 * are big enough (verify failed that way at ~100k legacy rows); here a session forces them on 10,000 rows
 * (`max_parallel_workers_per_gather = 2`, setup and tuple costs 0, no minimum scan size), EXPLAIN shows a
 * Gather over the tables the API reads, and every read-only function must answer exactly what it answers
 * in a session without parallel plans. A function labelled PARALLEL SAFE that is not (an EXCEPTION block
 * starts a subtransaction) fails here with "cannot start subtransactions during a parallel operation".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, Queryable } from '../../ops/db.ts';
import { createUser, onNative, openMigrated } from '../helpers/db.ts';
import { sessions } from './helpers.ts';

const forceParallel = `set max_parallel_workers_per_gather = 2; set parallel_setup_cost = 0; set parallel_tuple_cost = 0;
  set min_parallel_table_scan_size = 0; set min_parallel_index_scan_size = 0;`;

const plan = async (q: Queryable, sql: string) =>
  (await q.query<{ 'QUERY PLAN': string }>(`explain (costs off) ${sql}`)).map((r) => r['QUERY PLAN']).join('\n');

// PGlite has no parallel query (no background workers): the plans below can only happen on a server.
describe.skipIf(!onNative)('the read-only API under forced parallel plans', () => {
  let db: Db;
  let serial: Db;
  let parallel: Db;
  let agent: string;
  beforeAll(async () => {
    db = await openMigrated();
    const user = await createUser(db);
    agent = (await db.query<{ id: string }>(`insert into public.agents (owner_id, name) values ($1, 'parallel') returning id`, [user]))[0]!.id;
    // 10,000 legacy messages in 200 conversations; every 5th with a tool call whose args are a JSON string
    // (so verify's normalisation really parses them), every 7th with an attachment, every 1000th unconvertible
    await db.query(
      `insert into public.chat_messages (conversation_id, user_id, agent_id, role, content, tool_calls, attachments, metadata)
       select md5($3 || (g % 200))::uuid, $1, $2, case when g % 1000 = 0 then 'wizard' when g % 2 = 0 then 'user' else 'ai' end,
              'row ' || g,
              case when g % 5 = 0 then jsonb_build_array(jsonb_build_object('toolCallId', 'c' || g, 'toolName', 'search',
                                                                             'args', '{"q": ' || g || '}')) end,
              case when g % 7 = 0 then jsonb_build_array(jsonb_build_object('name', 'f' || g, 'storageId', 'b/' || g, 'size', g)) end,
              case when g % 3 = 0 then jsonb_build_object('tokens', g % 50) end
         from generate_series(1, 10000) g`, [user, agent, agent]);
    await db.query(`select public.migrate_chat_messages()`);
    await db.query(
      `insert into public.agent_memories (agent_id, user_id, memory_type, content, embedding, importance)
       select $1, $2, 'semantic', 'memory ' || g,
              (select array_agg(sin(g * 31 + d)::real) from generate_series(1, 1536) d)::extensions.vector, (g % 10) / 10.0
         from generate_series(1, 300) g`, [agent, user]);
    await db.query(`analyze`);
    [serial, parallel] = (await sessions(db, 2)) as [Db, Db];
    await serial.exec(`set max_parallel_workers_per_gather = 0;`);
    await parallel.exec(forceParallel);
  });
  afterAll(async () => {
    await db?.close();
  });

  it('the forced settings really plan a Gather over the tables the API reads', async () => {
    expect(await plan(serial, `select count(*) from public.chat_messages`)).not.toMatch(/Gather/);
    for (const sql of [
      `select count(*) from public.chat_messages`,
      `select count(*) from public.chat_messages l left join public.chat_messages_v2 v on v.legacy_id = l.id`,
      `select count(*) from public.chat_tool_calls`,
      `select count(*) from public.agent_memories where embedding is not null`,
    ]) {
      expect(await plan(parallel, sql), sql).toMatch(/Gather[\s\S]*Parallel (Seq|Index|Index Only|Bitmap Heap) Scan/);
    }
  });

  it('status, quarantine list, integrity checks, sizes, index usage and memory search answer as they do serially', async () => {
    const same = async (sql: string, params: unknown[] = [], shape: (rows: Record<string, unknown>[]) => unknown = (r) => r) => {
      const want = shape(await serial.query(sql, params));
      expect(shape(await parallel.query(sql, params)), sql).toEqual(want);
    };
    await same(`select name, phase, status, mode, total_legacy, processed, migrated, quarantined, remaining from public.chat_migration_status()`);
    await same(`select source_id, reason from public.list_chat_migration_quarantine(1000)`, [], (r) => {
      expect(r).toHaveLength(10);
      return r;
    });
    await same(`select check_name, ok, problem_count from public.check_chat_schema_integrity() order by check_name`);
    await same(`select table_name, row_estimate from public.chat_schema_table_sizes() order by table_name`);
    // counters move with every query; the set of indexes and what they are do not
    await same(`select table_name, index_name, is_unique from public.chat_schema_index_usage() order by table_name, index_name`);
    const query = `(select array_agg(sin(5 * 31 + d)::real) from generate_series(1, 1536) d)::extensions.vector`;
    await same(`select id, memory_type from public.match_agent_memories($1, ${query}, 10, null, 0.2)`, [agent], (r) => {
      expect(r.length).toBeGreaterThan(0);
      return r;
    });
  });

  it('verify_chat_migration() answers as it does serially', async () => {
    const want = await serial.query(`select * from public.verify_chat_migration() order by check_name`);
    expect(want.every((r) => r.ok)).toBe(true);
    expect(await parallel.query(`select * from public.verify_chat_migration() order by check_name`)).toEqual(want);
  });
});
