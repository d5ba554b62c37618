/**
 * The read-only API under forced parallel plans. On a native PostgreSQL 15 server, verify_chat_migration()
 * failed with "cannot start subtransactions during a parallel operation" as soon as the planner chose a parallel
 * plan: a PARALLEL SAFE helper (chat_migration.try_jsonb) had an EXCEPTION block. Here every read-only function
 * runs with parallel plans forced (debug_parallel_query, force_parallel_mode on PostgreSQL 15) and must answer
 * exactly what it answers serially.
 *
 * PGlite (PostgreSQL 18) plans in parallel with these settings but does not raise that error even for the old
 * labels, so on PGlite this file guards the answers and test/schema/function-labels.test.ts guards the labels.
 * On the native lane (PostgreSQL 15) this file fails with exactly that error when the old labels are put back
 * (checked), and it found there that the checks of verify and of the integrity function came back in another
 * order under a parallel append (both now order their rows).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Db, Queryable } from '../../ops/db.ts';
import { as, openMigrated } from '../helpers/db.ts';
import { goodState, insertState, seedLegacy } from './fixtures.ts';

let db: Db;
afterEach(async () => {
  await db?.close();
});

const vec = (...w: number[]) => `[${Array.from({ length: 1536 }, (_, i) => w[i] ?? 0).join(',')}]`;

/** Parallel plans wherever the planner can make one, whatever the table sizes. */
async function forceParallel(q: Queryable) {
  const v = Number((await q.query<{ v: number }>(`select current_setting('server_version_num')::int as v`))[0]!.v);
  await q.exec(`
    set max_parallel_workers_per_gather = 2;
    set parallel_setup_cost = 0;
    set parallel_tuple_cost = 0;
    set min_parallel_table_scan_size = 0;
    set min_parallel_index_scan_size = 0;
    set ${v >= 160000 ? 'debug_parallel_query' : 'force_parallel_mode'} = on;
  `);
}

describe('the read-only API under forced parallel plans', () => {
  it('answers exactly as it does serially', async () => {
    db = await openMigrated();
    const s = await seedLegacy(db, 3); // tool calls with JSON-string and plain-string args: try_jsonb's both paths
    await insertState(db, s.conversationIds[0]!, s.userIds[0]!, s.agentIds[0]!, JSON.stringify(goodState));
    await db.query(`select public.migrate_chat_messages()`);
    await db.query(`select * from public.migrate_chat_states()`);
    await db.query(
      `insert into public.agent_memories (agent_id, user_id, memory_type, content, embedding)
       select $1, $2, 'semantic', 'memory ' || g, ('[' || g || ',' || (10 - g) || repeat(',0', 1534) || ']')::extensions.vector
         from generate_series(1, 5) g`, [s.agentIds[0], s.userIds[0]]);
    await db.query(`analyze`);

    const owner = { role: 'authenticated' as const, sub: s.userIds[0]! };
    const reads: [string, () => Promise<unknown>][] = [
      ['verify_chat_migration', () => db.query(`select * from public.verify_chat_migration()`)],
      ['chat_migration_status', () => db.query(
        `select name, phase, status, mode, total_legacy, processed, migrated, quarantined, remaining, percent, cursor, upper_bound
           from public.chat_migration_status()`)],
      ['list_chat_migration_quarantine', () => db.query(`select * from public.list_chat_migration_quarantine(1000)`)],
      ['check_chat_schema_integrity', () => db.query(`select * from public.check_chat_schema_integrity()`)],
      ['chat_schema_table_sizes', () => db.query(`select table_name from public.chat_schema_table_sizes() order by 1`)],
      ['chat_schema_index_usage', () => db.query(`select table_name, index_name, is_unique from public.chat_schema_index_usage() order by 1, 2`)],
      ['match_agent_memories', () => as(db, owner, (tx) => tx.query(
        `select id, content, round(similarity::numeric, 6) as similarity
           from public.match_agent_memories($1, $2::extensions.vector, 3)`, [s.agentIds[0], vec(1, 1)]))],
      ['helpers in a parallel scan', () => db.query(
        `select count(*) filter (where public.is_valid_message_content(v.content)) as valid,
                sum(public.message_tokens(v.metadata)) as tokens,
                count(*) filter (where chat_migration.content_text(v.content) <> '') as with_text
           from public.chat_messages_v2 v`)],
      ['message_problem in a parallel scan', () => db.query(
        `select count(*) filter (where chat_migration.message_problem(m.role, m.metadata, m.attachments, m.tool_calls,
                                                                     m.partial_tool_calls) is null) as convertible
           from public.chat_messages m`)],
    ];

    const serial = [];
    for (const [, read] of reads) serial.push(await read());
    expect((serial[0] as { ok: boolean }[]).filter((c) => !c.ok)).toEqual([]);
    expect((serial[6] as unknown[]).length).toBe(3);

    await forceParallel(db);
    const plan = await db.query<{ 'QUERY PLAN': string }>(`explain select count(*) from public.chat_messages`);
    expect(plan.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/Gather/);
    for (const [i, [name, read]] of reads.entries()) {
      expect(await read(), name).toEqual(serial[i]);
    }
  });
});
