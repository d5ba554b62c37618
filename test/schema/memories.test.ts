/** Nearest-memory search by cosine, its filters and errors; index rebuild; decay and sweeps; health functions. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../ops/db.ts';
import { as, openMigrated, type Actor } from '../helpers/db.ts';
import { createWorld, expectError, vec, type World } from './fixtures.ts';

let db: Db;
let A: World;
let B: World;
const userA = (): Actor => ({ role: 'authenticated', sub: A.uid });
const service: Actor = { role: 'service_role' };

interface Match {
  id: string;
  content: string;
  memory_type: string;
  importance: number;
  similarity: number;
}

/** Unit vector at angle `deg` in the plane of the first two dimensions, scaled by `len` (cosine ignores length). */
const angle = (deg: number, len = 1) => vec(len * Math.cos((deg * Math.PI) / 180), len * Math.sin((deg * Math.PI) / 180));

beforeAll(async () => {
  db = await openMigrated();
  A = await createWorld(db);
  B = await createWorld(db);
  // A's agent: memories at known angles from the x axis; B's agent: one memory exactly on the axis.
  const rows: [string, number, number, string, number][] = [
    ['deg0', 0, 5, 'semantic', 0.9],
    ['deg10', 10, 0.1, 'episodic', 0.2],
    ['deg30', 30, 2, 'semantic', 0.6],
    ['deg60', 60, 1, 'procedural', 0.8],
    ['deg90', 90, 3, 'semantic', 0.5],
    ['deg180', 180, 1, 'working', 1],
  ];
  for (const [content, deg, len, type, importance] of rows) {
    await db.query(
      `insert into public.agent_memories (agent_id, user_id, memory_type, content, embedding, importance)
       values ($1, $2, $3, $4, $5::extensions.vector, $6)`,
      [A.agentId, A.uid, type, content, angle(deg, len), importance],
    );
  }
  await db.query(
    `insert into public.agent_memories (agent_id, user_id, memory_type, content, embedding, expires_at)
     values ($1, $2, 'semantic', 'expired', $3::extensions.vector, now() - interval '1 hour')`,
    [A.agentId, A.uid, angle(1)],
  );
  await db.query(
    `insert into public.agent_memories (agent_id, user_id, memory_type, content, embedding) values ($1, $2, 'semantic', 'B secret', $3::extensions.vector)`,
    [B.agentId, B.uid, angle(0)],
  );
});
afterAll(async () => {
  await db?.close();
});

const match = (actor: Actor, query: string, count = 10, types: string[] | null = null, minImportance: number | null = null, agent = A.agentId) =>
  as(db, actor, (tx) =>
    tx.query<Match>(`select * from public.match_agent_memories($1, $2::extensions.vector, $3, $4, $5)`, [agent, query, count, types, minImportance]),
  );

describe('match_agent_memories', () => {
  it('orders by cosine similarity, ignores vector length, skips expired memories and other agents', async () => {
    const rows = await match(userA(), angle(0, 7));
    // fixture's 'likes tea' memory is vec(1) = the x axis too (similarity 1); ties break by id
    expect(rows.map((r) => r.content).filter((c) => c !== 'likes tea')).toEqual(['deg0', 'deg10', 'deg30', 'deg60', 'deg90', 'deg180']);
    const byContent = new Map(rows.map((r) => [r.content, r.similarity]));
    expect(byContent.get('deg0')).toBeCloseTo(1, 5);
    expect(byContent.get('deg60')).toBeCloseTo(0.5, 5);
    expect(byContent.get('deg90')).toBeCloseTo(0, 5);
    expect(byContent.get('deg180')).toBeCloseTo(-1, 5);
    expect(rows.some((r) => r.content === 'expired' || r.content === 'B secret')).toBe(false);
  });

  it('limits, filters by memory types and minimum importance', async () => {
    expect((await match(userA(), angle(25), 2)).map((r) => r.content)).toEqual(['deg30', 'deg10']);
    // 'likes tea' (fixture) and deg0 both lie on the x axis: a tie, broken by id
    const semantic = (await match(userA(), angle(0), 10, ['semantic'])).map((r) => r.content);
    expect(semantic.slice(2)).toEqual(['deg30', 'deg90']);
    expect(semantic.slice(0, 2).sort()).toEqual(['deg0', 'likes tea']);
    expect((await match(userA(), angle(0), 10, null, 0.7)).map((r) => r.content)).toEqual(['deg0', 'deg60', 'deg180']);
  });

  it('keeps returning the right rows after the HNSW index is rebuilt over more rows', async () => {
    await db.query(
      `insert into public.agent_memories (agent_id, user_id, memory_type, content, embedding)
       select $1, $2, 'episodic', 'noise ' || g,
              ('[' || repeat('0,', 2 + g % 1000) || '1' || repeat(',0', 1533 - g % 1000) || ']')::extensions.vector
       from generate_series(1, 300) g`,
      [B.agentId, B.uid],
    );
    const [rebuilt] = await as(db, service, (tx) => tx.query<{ lists: number; indexed_rows: number }>(`select * from public.rebuild_agent_memory_index()`));
    expect(rebuilt!.lists).toBeNull();
    expect(rebuilt!.indexed_rows).toBeGreaterThan(300);
    const [idx] = await db.query<{ def: string }>(`select pg_get_indexdef('public.agent_memories_embedding_idx'::regclass) as def`);
    // pg_get_indexdef qualifies the opclass only when `extensions` is not on the search_path (it is on Supabase).
    expect(idx!.def).toMatch(/hnsw \(embedding (extensions\.)?vector_cosine_ops\) WITH \(m='?16'?, ef_construction='?64'?\)/);
    const rows = await match(userA(), angle(25), 6);
    expect(rows.map((r) => r.content).slice(0, 2)).toEqual(['deg30', 'deg10']);
    expect(rows.map((r) => r.content).slice(4)).toEqual(['deg60', 'deg90']);
    // the settings the function changes do not leak into the caller's transaction
    const [settings] = await as(db, userA(), async (tx) => {
      await tx.query(`select * from public.match_agent_memories($1, $2::extensions.vector, 3)`, [A.agentId, angle(0)]);
      return tx.query<{ probes: string; ef: string }>(`select current_setting('ivfflat.probes') as probes, current_setting('hnsw.ef_search') as ef`);
    });
    expect(settings).toEqual({ probes: '1', ef: '40' });
  });

  it('raises AJC03 for another user\'s agent, AJC13 for a query that cannot be normalised and AJC04 for bad arguments, with hints', async () => {
    const tiny = `[${new Array(1536).fill('1e-40').join(',')}]`;
    const cases: [Actor, unknown[], string][] = [
      [{ role: 'authenticated', sub: B.uid }, [A.agentId, angle(0), 5, null, null], 'AJC03'],
      [userA(), [A.agentId, vec(), 5, null, null], 'AJC13'],
      // denormal in float4: pgvector's sum of squares underflows and every memory would score 1.0
      [userA(), [A.agentId, tiny, 5, null, null], 'AJC13'],
      [userA(), [A.agentId, null, 5, null, null], 'AJC04'],
      [userA(), [A.agentId, angle(0), 0, null, null], 'AJC04'],
      [userA(), [A.agentId, angle(0), 5, ['dreams'], null], 'AJC04'],
      [userA(), [A.agentId, angle(0), 5, null, 1.5], 'AJC04'],
    ];
    for (const [actor, params, code] of cases) {
      const err = await expectError(db, actor, (tx) =>
        tx.query(`select * from public.match_agent_memories($1, $2::extensions.vector, $3, $4, $5)`, params),
      );
      expect(err.code, JSON.stringify(params.slice(2))).toBe(code);
      expect(err.hint).toBeTruthy();
    }
    // the smallest storable norm (2^-63) still searches, with a similarity, never NaN/null
    const small = await match(userA(), vec(2 ** -63), 1);
    expect(small[0]!.similarity).toBeCloseTo(1, 5);
    // storing: the same bound is a CHECK, so no stored embedding can score NaN
    for (const bad of [vec(), tiny]) {
      const err = await expectError(db, userA(), (tx) =>
        tx.query(`insert into public.agent_memories (agent_id, memory_type, content, embedding) values ($1, 'semantic', 'x', $2::extensions.vector)`, [A.agentId, bad]),
      );
      expect(err.code).toBe('23514');
      expect(err.message).toMatch(/agent_memories_embedding_normalisable_check/);
    }
    const anon = await expectError(db, { role: 'anon' }, (tx) =>
      tx.query(`select * from public.match_agent_memories($1, $2::extensions.vector)`, [A.agentId, angle(0)]),
    );
    expect(anon.code).toBe('42501');
  });
});

describe('maintenance', () => {
  it('record_agent_memory_access counts uses of the caller\'s memories only', async () => {
    const [m] = await db.query<{ id: string }>(`select id from public.agent_memories where content = 'deg0'`);
    const [b] = await db.query<{ id: string }>(`select id from public.agent_memories where content = 'B secret'`);
    const [n] = await as(db, userA(), (tx) => tx.query<{ n: number }>(`select public.record_agent_memory_access($1) as n`, [[m!.id, b!.id]]));
    expect(n!.n).toBe(1);
    const [after] = await db.query<{ access_count: number }>(`select access_count from public.agent_memories where id = $1`, [m!.id]);
    expect(after!.access_count).toBe(1);
  });

  it('decay lowers importance by (1 - decay_rate)^days once per elapsed period', async () => {
    const [mem] = await db.query<{ id: string }>(
      `insert into public.agent_memories (agent_id, memory_type, content, importance, decay_rate) values ($1, 'semantic', 'old', 0.8, 0.1) returning id`,
      [A.agentId],
    );
    // age the row by 2 days without the updated_at trigger
    await db.transaction(async (tx) => {
      await tx.query(`set local session_replication_role = replica`);
      await tx.query(`update public.agent_memories set updated_at = now() - interval '2 days' where id = $1`, [mem!.id]);
    });
    await as(db, service, (tx) => tx.query(`select public.decay_agent_memories($1)`, [A.agentId]));
    const [r] = await db.query<{ importance: number }>(`select importance from public.agent_memories where id = $1`, [mem!.id]);
    expect(r!.importance).toBeCloseTo(0.8 * 0.9 ** 2, 3);
    // a second run right away changes nothing
    const [again] = await as(db, service, (tx) => tx.query<{ n: number }>(`select public.decay_agent_memories($1) as n`, [A.agentId]));
    expect(again!.n).toBe(0);
    const denied = await expectError(db, userA(), (tx) => tx.query(`select public.decay_agent_memories()`));
    expect(denied.code).toBe('42501');
  });

  it('sweeps expired memories and old snapshots a checkpoint does not need', async () => {
    const [n] = await as(db, service, (tx) => tx.query<{ n: number }>(`select public.sweep_expired_memories() as n`));
    expect(n!.n).toBe(1);
    await db.query(
      `insert into public.context_snapshots (session_id, agent_id, created_at)
       select $1, $2, now() - interval '40 days' - g * interval '1 minute' from generate_series(1, 12) g`,
      [A.sessionId, A.agentId],
    );
    await db.query(`update public.context_snapshots set created_at = now() - interval '400 days' where id = $1`, [A.snapshotId]);
    const [swept] = await as(db, service, (tx) => tx.query<{ n: number }>(`select public.sweep_old_snapshots(interval '30 days', 10) as n`));
    // 13 old snapshots in the session: the newest 10 are kept, of the other 3 the fixture's is a checkpoint's evidence
    expect(swept!.n).toBe(2);
    expect(await db.query(`select 1 from public.context_snapshots where id = $1`, [A.snapshotId])).toHaveLength(1);
  });

  it('health and integrity functions answer for service_role only', async () => {
    const sizes = await as(db, service, (tx) => tx.query<{ table_name: string; total_bytes: number }>(`select * from public.chat_schema_table_sizes()`));
    expect(sizes.map((s) => s.table_name)).toEqual(expect.arrayContaining(['agent_memories', 'chat_messages_v2', 'chat_messages']));
    const usage = await as(db, service, (tx) => tx.query<{ index_name: string }>(`select * from public.chat_schema_index_usage()`));
    expect(usage.map((u) => u.index_name)).toContain('agent_memories_embedding_idx');
    const integrity = await as(db, service, (tx) => tx.query<{ check_name: string; ok: boolean }>(`select * from public.check_chat_schema_integrity()`));
    expect(integrity.length).toBeGreaterThanOrEqual(9);
    expect(integrity.filter((c) => !c.ok)).toEqual([]);
    for (const fn of ['chat_schema_table_sizes', 'chat_schema_index_usage', 'check_chat_schema_integrity']) {
      const err = await expectError(db, userA(), (tx) => tx.query(`select * from public.${fn}()`));
      expect(err.code, fn).toBe('42501');
    }
  });

  it('integrity reports dangling snapshot references', async () => {
    await db.query(`update public.context_snapshots set memory_ids = array[gen_random_uuid()] where id = $1`, [A.snapshotId]);
    const [r] = await db.query<{ ok: boolean; problem_count: number; sample_ids: string[] }>(
      `select * from public.check_chat_schema_integrity() where check_name = 'snapshot_memory_ids_exist'`,
    );
    expect(r).toMatchObject({ ok: false, problem_count: 1, sample_ids: [A.snapshotId] });
  });
});
