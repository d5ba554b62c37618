/** agent_states versioning, save_agent_state optimistic concurrency, checkpoints (restore, prune). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, Queryable } from '../../ops/db.ts';
import { as, openMigrated, type Actor } from '../helpers/db.ts';
import { createWorld, expectError, type World } from './fixtures.ts';

let db: Db;
let A: World;
let B: World;
const userA = (): Actor => ({ role: 'authenticated', sub: A.uid });

beforeAll(async () => {
  db = await openMigrated();
  A = await createWorld(db);
  B = await createWorld(db);
});
afterAll(async () => {
  await db?.close();
});

interface StateRow {
  id: string;
  version: number;
  is_current: boolean;
  state: unknown;
  state_hash: string;
  parent_state_id: string | null;
  metadata: Record<string, unknown>;
}

const save = (tx: Queryable, agent: string, type: string, state: unknown, session: string | null = null, expected: number | null = null) =>
  tx
    .query<StateRow>(`select * from public.save_agent_state($1, $2, $3::jsonb, $4, $5)`, [agent, type, JSON.stringify(state), session, expected])
    .then((r) => r[0]!);

describe('agent_states versioning', () => {
  it('turns a plain insert into the next current version, retiring the previous one', async () => {
    const rows = await as(db, userA(), async (tx) => {
      const out: StateRow[] = [];
      for (const step of [1, 2, 3]) {
        const [r] = await tx.query<StateRow>(
          `insert into public.agent_states (agent_id, user_id, state_type, state) values ($1, $2, 'local', $3::jsonb) returning *`,
          [A.agentId, A.uid, JSON.stringify({ step })],
        );
        out.push(r!);
      }
      return out;
    });
    expect(rows.map((r) => r.version)).toEqual([1, 2, 3]);
    expect(rows[1]!.parent_state_id).toBe(rows[0]!.id);
    const all = await db.query<StateRow>(
      `select * from public.agent_states where agent_id = $1 and state_type = 'local' order by version`,
      [A.agentId],
    );
    expect(all.map((r) => r.is_current)).toEqual([false, false, true]);
    const [hash] = await db.query<{ h: string }>(`select encode(sha256(convert_to($1::jsonb::text, 'UTF8')), 'hex') as h`, [
      JSON.stringify({ step: 3 }),
    ]);
    expect(all[2]!.state_hash).toBe(hash!.h);
  });

  it('keeps one current row per stream (user, type and session each make their own stream)', async () => {
    await as(db, userA(), async (tx) => {
      await save(tx, A.agentId, 'shared', { a: 1 });
      await save(tx, A.agentId, 'shared', { a: 2 });
      await save(tx, A.agentId, 'shared', { s: 1 }, A.sessionId);
    });
    await as(db, { role: 'service_role' }, (tx) => save(tx, A.agentId, 'shared', { agentWide: true }));
    const streams = await db.query<{ session_id: string | null; user_id: string | null; currents: number; versions: number }>(
      `select session_id, user_id, count(*) filter (where is_current)::int as currents, count(*)::int as versions
       from public.agent_states where agent_id = $1 and state_type = 'shared' group by 1, 2 order by 4 desc`,
      [A.agentId],
    );
    expect(streams).toHaveLength(3);
    expect(streams.every((s) => s.currents === 1)).toBe(true);
    expect(streams[0]).toMatchObject({ session_id: null, user_id: A.uid, versions: 2 });
    // a second current row in a stream is impossible even for the owner of the table
    const err = await expectError(db, { role: 'service_role' }, (tx) =>
      tx.query(
        `insert into public.agent_states (agent_id, user_id, state_type, state, version, is_current) values ($1, $2, 'shared', '{}', 1, true)`,
        [A.agentId, A.uid],
      ),
    );
    expect(err.code).toBe('23505');
  });

  it('refuses updates with AJC02 and a hint to insert a new version; deletes stay possible for the owner', async () => {
    for (const actor of [{ role: 'service_role' } as Actor]) {
      const err = await expectError(db, actor, (tx) => tx.query(`update public.agent_states set state = '{}' where id = $1`, [A.stateId]));
      expect(err.code).toBe('AJC02');
      expect(err.hint).toMatch(/^insert a new version/);
      const err2 = await expectError(db, actor, (tx) => tx.query(`update public.agent_states set is_current = true, version = 9 where id = $1`, [A.stateId]));
      expect(err2.code).toBe('AJC02');
    }
    const errUser = await expectError(db, userA(), (tx) => tx.query(`update public.agent_states set state = '{}' where id = $1`, [A.stateId]));
    expect(errUser.code).toBe('42501'); // users have no UPDATE on agent_states at all
  });
});

describe('agent_states retirement', () => {
  // The update trigger lets exactly one update through without calling its function (WHEN clause): the
  // retirement of the current row, is_current true → false with every other column unchanged.
  it('allows a bare retirement and refuses a retirement that changes anything else with AJC02', async () => {
    const service: Actor = { role: 'service_role' };
    const current = async (tx: Queryable) =>
      (await tx.query<{ id: string }>(`select id from public.agent_states where agent_id = $1 and is_current limit 1`, [A.agentId]))[0]!.id;
    const retired = await as(db, service, async (tx) => {
      const id = await current(tx);
      const rows = await tx.query<{ is_current: boolean }>(`update public.agent_states set is_current = false where id = $1 returning is_current`, [id]);
      throw Object.assign(new Error('rollback'), { rows });
    }).catch((e: { rows?: { is_current: boolean }[] }) => e.rows);
    expect(retired).toEqual([{ is_current: false }]);
    for (const change of [`metadata = '{"x":1}'`, `state = '{"forged":true}'`, `version = version + 1`, `parent_state_id = null, created_at = now() - interval '1 day'`]) {
      const err = await expectError(db, service, async (tx) => {
        const id = await current(tx);
        await tx.query(`update public.agent_states set is_current = false, ${change} where id = $1`, [id]);
      });
      expect(err.code, change).toBe('AJC02');
    }
  });
});

describe('save_agent_state', () => {
  it('appends versions and raises AJC01 with a hint when the expected version is stale', async () => {
    const v1 = await as(db, userA(), (tx) => save(tx, A.agentId, 'persistent', { n: 1 }, null, 0));
    expect(v1.version).toBe(1);
    const v2 = await as(db, userA(), (tx) => save(tx, A.agentId, 'persistent', { n: 2 }, null, 1));
    expect(v2).toMatchObject({ version: 2, is_current: true, state: { n: 2 }, parent_state_id: v1.id });
    const err = await expectError(db, userA(), (tx) => save(tx, A.agentId, 'persistent', { n: 3 }, null, 1));
    expect(err.code).toBe('AJC01');
    expect(err.message).toBe('stale state version: expected 1, current is 2');
    expect(err.hint).toBe('Reload the current state (version 2), apply your change to it and save again with p_expected_version => 2.');
    const errNew = await expectError(db, userA(), (tx) => save(tx, A.agentId, 'persistent', { n: 3 }, null, 0));
    expect(errNew.code).toBe('AJC01');
    const [cur] = await db.query<{ version: number }>(
      `select version from public.agent_states where agent_id = $1 and state_type = 'persistent' and is_current`,
      [A.agentId],
    );
    expect(cur!.version).toBe(2);
  });

  it('answers another user\'s agent as not found (AJC03) and bad input with AJC04 / AJC07', async () => {
    const e1 = await expectError(db, { role: 'authenticated', sub: B.uid }, (tx) => save(tx, A.agentId, 'local', {}));
    expect([e1.code, e1.message]).toEqual(['AJC03', `agent ${A.agentId} not found`]);
    expect(e1.hint).toBeTruthy();
    const e2 = await expectError(db, userA(), (tx) => save(tx, A.agentId, 'global', {}));
    expect(e2.code).toBe('AJC04');
    const e3 = await expectError(db, userA(), (tx) => save(tx, A.agentId, 'session', {}, B.sessionId));
    expect(e3.code).toBe('AJC07');
    const e4 = await expectError(db, { role: 'anon' }, (tx) => save(tx, A.agentId, 'local', {}));
    expect(e4.code).toBe('42501');
  });
});

describe('checkpoints', () => {
  it('restore round trip: a new current version equal to the checkpointed state, undoable', async () => {
    const { checkpoint, restored, before } = await as(db, userA(), async (tx) => {
      await save(tx, A.agentId, 'session', { phase: 'a' }, A.sessionId);
      const good = await save(tx, A.agentId, 'session', { phase: 'b', nested: { list: [1, 2] } }, A.sessionId);
      const [checkpoint] = await tx.query<{ id: string; state_id: string; retain_until: string | null; checkpoint_type: string }>(
        `select * from public.create_state_checkpoint($1, 'session', $2, 'manual', 'known good')`,
        [A.agentId, A.sessionId],
      );
      expect(checkpoint!.state_id).toBe(good.id);
      const before = await save(tx, A.agentId, 'session', { phase: 'broken' }, A.sessionId);
      const [restored] = await tx.query<StateRow>(`select * from public.restore_state_checkpoint($1)`, [checkpoint!.id]);
      return { checkpoint: checkpoint!, restored: restored!, good, before };
    });
    expect(restored.version).toBe(before.version + 1);
    expect(restored.is_current).toBe(true);
    expect(restored.state).toEqual({ phase: 'b', nested: { list: [1, 2] } });
    expect(restored.metadata).toMatchObject({ restored_from_checkpoint_id: checkpoint.id });
    expect(checkpoint.retain_until).toBeNull(); // manual: kept until deleted
    const [recovery] = await db.query<{ state_id: string; checkpoint_type: string; parent_checkpoint_id: string }>(
      `select state_id, checkpoint_type, parent_checkpoint_id from public.state_checkpoints where checkpoint_type = 'recovery' and agent_id = $1`,
      [A.agentId],
    );
    expect(recovery).toEqual({ state_id: before.id, checkpoint_type: 'recovery', parent_checkpoint_id: checkpoint.id });
  });

  it('raise AJC05 / AJC06 / AJC09 with hints', async () => {
    const e1 = await expectError(db, { role: 'authenticated', sub: B.uid }, (tx) =>
      tx.query(`select public.restore_state_checkpoint($1)`, [A.checkpointId]),
    );
    expect(e1.code).toBe('AJC05');
    const e2 = await expectError(db, userA(), (tx) => tx.query(`select public.create_state_checkpoint($1, 'local', $2)`, [A.agentId, B.sessionId]));
    expect(e2.code).toBe('AJC06');
    expect(e2.hint).toMatch(/save_agent_state/);
    const e3 = await expectError(db, { role: 'service_role' }, (tx) =>
      tx.query(`insert into public.state_checkpoints (agent_id, state_id, checkpoint_type) values ($1, $2, 'manual')`, [B.agentId, A.stateId]),
    );
    expect(e3.code).toBe('AJC09');
  });

  it('prune deletes expired checkpoints but never one a kept checkpoint descends from', async () => {
    const ids = await as(db, userA(), async (tx) => {
      await save(tx, A.agentId, 'local', { prune: 0 });
      const mk = async (type: string) =>
        (await tx.query<{ id: string; parent_checkpoint_id: string | null }>(
          `select id, parent_checkpoint_id from public.create_state_checkpoint($1, 'local', null, $2)`, [A.agentId, type],
        ))[0]!;
      const loose = async (type: string) =>
        (await tx.query<{ id: string }>(
          `insert into public.state_checkpoints (agent_id, state_id, checkpoint_type)
           select agent_id, id, $2 from public.agent_states where agent_id = $1 and state_type = 'local' and is_current returning id`,
          [A.agentId, type],
        ))[0]!.id;
      // chain (each new checkpoint of a stream chains to the latest): root(auto) ← mid(auto) ← leaf(recovery, 30 days)
      const r = await mk('auto');
      const m = await mk('auto');
      const l = await mk('recovery');
      expect([r.parent_checkpoint_id, m.parent_checkpoint_id, l.parent_checkpoint_id]).toEqual([null, r.id, m.id]);
      const [root, mid, leaf] = [r.id, m.id, l.id];
      // outside any chain: lone(auto) expires with nothing depending on it; pre(pre_migration, 90 days)
      const lone = await loose('auto');
      const pre = await loose('pre_migration');
      return { root, mid, leaf, lone, pre };
    });
    const exists = async (id: string) => (await db.query(`select 1 from public.state_checkpoints where id = $1`, [id])).length === 1;
    const prune = (days: number, actor: Actor = userA()) =>
      as(db, actor, (tx) =>
        tx.query<{ n: number }>(`select public.prune_state_checkpoints($1, now() + make_interval(days => $2)) as n`, [A.agentId, days]),
      ).then((r) => r[0]!.n);

    expect(await prune(1)).toBe(0);
    // day 8: autos are expired; root and mid are ancestors of the kept recovery leaf → only `lone` goes
    expect(await prune(8)).toBe(1);
    expect(await Promise.all([ids.root, ids.mid, ids.leaf, ids.lone, ids.pre].map(exists))).toEqual([true, true, true, false, true]);
    // B pruning A's agent: not found, nothing deleted
    await expect(prune(400, { role: 'authenticated', sub: B.uid })).rejects.toMatchObject({ code: 'AJC03' });
    // day 31: the leaf expired too, so the whole chain can go (+ the 'recovery' checkpoint the restore test
    // left behind, whose parent is a manual one); pre_migration (90 days) stays
    expect(await prune(31)).toBe(4);
    expect(await Promise.all([ids.root, ids.mid, ids.leaf, ids.pre].map(exists))).toEqual([false, false, false, true]);
    // manual checkpoints (no retain_until) survive any horizon
    expect(await exists(A.checkpointId)).toBe(true);
    await prune(10_000);
    expect(await exists(A.checkpointId)).toBe(true);
    expect(await exists(ids.pre)).toBe(false);
  });
});
