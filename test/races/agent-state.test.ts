/**
 * Concurrency contract of the agent-state API (20250805074450): a stream (agent, user, state_type, session)
 * is serialized by a transaction-scoped advisory lock (agent_state_stream_lock_key).
 *  - save_agent_state with the same p_expected_version from many sessions at once: exactly one winner, the
 *    rest AJC01 with the current version in the message and a HINT.
 *  - create_state_checkpoint from many sessions at once: the stream's checkpoints still form one chain
 *    (each chains to the one before it; no two share a parent).
 *  - restore_state_checkpoint from many sessions at once: every restore is a new version, and the state it
 *    replaced is saved as a recovery checkpoint once (the others replace a state equal to the checkpoint);
 *    with the endpoint's compare-and-set (expected_version, like PUT) exactly one restore wins.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, Queryable } from '../../ops/db.ts';
import { createUser, onNative, openMigrated } from '../helpers/db.ts';
import { asUser, sessions, sqlState } from './helpers.ts';

const N = 10;

/**
 * Runs `fn` on every session at once: each opens its transaction as `sub` first and waits until all have,
 * so the calls really overlap instead of queueing behind connection set-up.
 */
async function atOnce<T>(all: Db[], sub: string, fn: (tx: Queryable, i: number) => Promise<T>) {
  let arrived = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  return Promise.allSettled(all.map((s, i) => asUser(s, sub, async (tx) => {
    if (++arrived === all.length) release();
    await gate;
    return fn(tx, i);
  })));
}

// PGlite is a single session: concurrent saves cannot happen there (the sequential AJC01 is tested in
// test/schema/state.test.ts on both lanes).
describe.skipIf(!onNative)('agent state under concurrent sessions', () => {
  let db: Db;
  let user: string;
  let agent: string;
  let all: Db[];
  beforeAll(async () => {
    db = await openMigrated();
    user = await createUser(db);
    agent = (await db.query<{ id: string }>(`insert into public.agents (owner_id, name) values ($1, 'racer') returning id`, [user]))[0]!.id;
    all = await sessions(db, N);
  });
  afterAll(async () => {
    await db?.close();
  });

  const save = (tx: Queryable, type: string, state: unknown, expected: number | null) =>
    tx.query<{ version: number }>(`select version from public.save_agent_state($1, $2, $3::jsonb, null, $4)`,
      [agent, type, JSON.stringify(state), expected]);

  it('save_agent_state: ten saves with the same expected version, five rounds — one winner each, the rest AJC01', async () => {
    for (let round = 0; round < 5; round++) {
      const results = await atOnce(all, user, (tx, i) => save(tx, 'shared', { round, writer: i }, round));
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as { code?: string; message: string; hint?: string }] : []));
      expect(won, `round ${round}`).toHaveLength(1);
      expect((won[0] as PromiseFulfilledResult<{ version: number }[]>).value).toEqual([{ version: round + 1 }]);
      for (const e of lost) {
        expect(e).toMatchObject({
          code: 'AJC01',
          message: `stale state version: expected ${round}, current is ${round + 1}`,
          hint: expect.stringContaining(`p_expected_version => ${round + 1}`),
        });
      }
    }
    expect(await db.query(
      `select count(*)::int as versions, count(*) filter (where is_current)::int as current, max(version) as latest
         from public.agent_states where agent_id = $1 and state_type = 'shared'`, [agent]))
      .toEqual([{ versions: 5, current: 1, latest: 5 }]);
  });

  it('create_state_checkpoint: ten at once on one stream still form a single chain', async () => {
    await asUser(db, user, (tx) => save(tx, 'local', { step: 1 }, 0));
    const results = await atOnce(all, user, (tx, i) =>
      tx.query(`select id from public.create_state_checkpoint($1, 'local', p_label => $2)`, [agent, `cp ${i}`]));
    expect(results.filter((r) => r.status === 'rejected').map((r) => sqlState((r as PromiseRejectedResult).reason))).toEqual([]);
    const chain = await db.query<{ id: string; parent_checkpoint_id: string | null }>(
      `select id, parent_checkpoint_id from public.state_checkpoints c
        where c.agent_id = $1 and c.state_id in (select id from public.agent_states where state_type = 'local')
        order by created_at`, [agent]);
    expect(chain).toHaveLength(N);
    // one root, and every other checkpoint's parent is the one created just before it
    expect(chain.map((c) => c.parent_checkpoint_id)).toEqual([null, ...chain.slice(0, -1).map((c) => c.id)]);
  });

  it('restore_state_checkpoint: ten restores at once — ten new versions, one recovery checkpoint', async () => {
    const [cp] = await asUser(db, user, async (tx) => {
      await save(tx, 'persistent', { answer: 'checkpointed' }, 0);
      const c = await tx.query<{ id: string }>(`select id from public.create_state_checkpoint($1, 'persistent')`, [agent]);
      await save(tx, 'persistent', { answer: 'changed since' }, 1);
      return c;
    });
    const results = await atOnce(all, user, (tx) => tx.query<{ version: number }>(`select version from public.restore_state_checkpoint($1)`, [cp!.id]));
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.message)).toEqual([]);
    const versions = results.map((r) => (r as PromiseFulfilledResult<{ version: number }[]>).value[0]!.version).sort((a, b) => a - b);
    expect(versions).toEqual(Array.from({ length: N }, (_, i) => i + 3));
    // only the first restore replaced a state that differed from the checkpoint (version 2)
    expect(await db.query(
      `select s.version from public.state_checkpoints c join public.agent_states s on s.id = c.state_id
        where c.agent_id = $1 and c.checkpoint_type = 'recovery' and s.state_type = 'persistent'`, [agent]))
      .toEqual([{ version: 2 }]);
    expect(await db.query(
      `select count(*) filter (where is_current)::int as current, count(*) filter (where state = '{"answer": "checkpointed"}')::int as restored
         from public.agent_states where agent_id = $1 and state_type = 'persistent'`, [agent]))
      .toEqual([{ current: 1, restored: N + 1 }]);
  });

  it('restore with the endpoint\'s expected_version: ten at once, one winner, the rest roll back', async () => {
    const [cp] = await asUser(db, user, async (tx) => {
      await save(tx, 'session', { mood: 'calm' }, 0);
      const c = await tx.query<{ id: string }>(`select id from public.create_state_checkpoint($1, 'session')`, [agent]);
      await save(tx, 'session', { mood: 'stormy' }, 1);
      return c;
    });
    // what POST /agent-state/checkpoints/:id/restore does with {"expected_version": 2}: restore, then roll back
    // unless the new version is exactly expected + 1 (supabase/functions/agent-state/index.ts)
    const results = await atOnce(all, user, async (tx) => {
      const [st] = await tx.query<{ version: number }>(`select version from public.restore_state_checkpoint($1)`, [cp!.id]);
      if (st!.version !== 3) throw Object.assign(new Error(`version_conflict: the state is at ${st!.version - 1}, not 2`), { code: 'version_conflict' });
      return st!.version;
    });
    expect(results.filter((r) => r.status === 'fulfilled')).toEqual([{ status: 'fulfilled', value: 3 }]);
    expect(results.filter((r) => r.status === 'rejected').map((r) => sqlState((r as PromiseRejectedResult).reason)))
      .toEqual(Array(N - 1).fill('version_conflict'));
    expect(await db.query(
      `select count(*)::int as versions, max(version) as latest from public.agent_states where agent_id = $1 and state_type = 'session'`, [agent]))
      .toEqual([{ versions: 3, latest: 3 }]);
    expect(await db.query(
      `select count(*)::int as n from public.state_checkpoints c join public.agent_states s on s.id = c.state_id
        where c.agent_id = $1 and c.checkpoint_type = 'recovery' and s.state_type = 'session'`, [agent])).toEqual([{ n: 1 }]);
  });
});
