/**
 * Shared pieces of the multi-session race tests (test/races/*). They run on the native lane only: PGlite is
 * one session, so nothing there can race. Every loop here is bounded twice — by a count and by a time
 * budget — and stops by itself; nothing asserts on timing.
 */
import type { Db, Queryable } from '../../ops/db.ts';
import { createUser, openSession } from '../helpers/db.ts';

/** SQLSTATE of a failed query (postgres.js puts it on `code`). */
export const sqlState = (e: unknown): string | undefined => (e as { code?: string } | null)?.code;

/** `n` more real sessions (separate backends) on `db`'s database; closed with it. */
export async function sessions(db: Db, n: number): Promise<Db[]> {
  return Promise.all(Array.from({ length: n }, () => openSession(db)));
}

/** Backend pid of a one-connection session. */
export async function backendPid(s: Queryable): Promise<number> {
  return (await s.query<{ pid: number }>(`select pg_backend_pid() as pid`))[0]!.pid;
}

/**
 * Resolves once backend `pid` is waiting for a lock — so a test knows a session it started really blocks
 * (rather than just being slow) before it lets the holder go. Bounded: throws after `ms`.
 */
export async function waitUntilBlocked(observer: Queryable, pid: number, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const [r] = await observer.query<{ waiting: boolean }>(
      `select coalesce(wait_event_type = 'Lock', false) as waiting from pg_stat_activity where pid = $1`, [pid]);
    if (r?.waiting) return;
    await sleep(10);
  }
  throw new Error(`backend ${pid} never waited for a lock within ${ms} ms`);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A time budget: loops check `over()` and stop by themselves. */
export function budget(ms: number) {
  const end = Date.now() + ms;
  return { over: () => Date.now() > end };
}

/** Runs every worker at once (each on its own session) and waits for all; rethrows the first failure. */
export async function together<T>(workers: (() => Promise<T>)[]): Promise<T[]> {
  return Promise.all(workers.map((w) => w()));
}

/** A small deterministic PRNG, so a failing run can be replayed with the same choices. */
export function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x1_0000_0000;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]! };
}

export interface Owner {
  userId: string;
  agentId: string;
  conversationIds: string[];
}

/**
 * `users` auth users, each with an agent and `conversations` conversations of `rowsPerConversation`
 * legacy rows (every third with metadata.tokens), inserted set-based so seeding stays under a second.
 */
export async function seedOwners(db: Queryable, users: number, conversations: number, rowsPerConversation: number): Promise<Owner[]> {
  const owners: Owner[] = [];
  for (let u = 0; u < users; u++) {
    const userId = await createUser(db);
    const [agent] = await db.query<{ id: string }>(`insert into public.agents (owner_id, name) values ($1, 'race agent') returning id`, [userId]);
    const conv = await db.query<{ id: string }>(`select gen_random_uuid() as id from generate_series(1, $1::int)`, [conversations]);
    owners.push({ userId, agentId: agent!.id, conversationIds: conv.map((c) => c.id) });
  }
  await db.query(
    `insert into public.chat_messages (conversation_id, user_id, agent_id, role, content, metadata, created_at)
     select c.conv, c.user_id, c.agent_id, case when g % 2 = 0 then 'user' else 'ai' end, 'seed ' || c.conv || ' #' || g,
            case when g % 3 = 0 then jsonb_build_object('tokens', g % 17) end,
            timestamptz '2024-01-01' + (g || ' seconds')::interval
       from jsonb_to_recordset($1::jsonb) as c (conv uuid, user_id uuid, agent_id uuid)
      cross join generate_series(1, $2::int) as g
      order by g, c.conv`,
    [JSON.stringify(owners.flatMap((o) => o.conversationIds.map((conv) => ({ conv, user_id: o.userId, agent_id: o.agentId })))), rowsPerConversation],
  );
  return owners;
}

/** The checks of verify_chat_migration() that are not ok, as {check_name: mismatches}. */
export async function verifyFailures(q: Queryable): Promise<Record<string, number>> {
  const rows = await q.query<{ check_name: string; mismatches: number }>(
    `select check_name, mismatches::int as mismatches from public.verify_chat_migration() where not ok`);
  return Object.fromEntries(rows.map((r) => [r.check_name, r.mismatches]));
}

/** Runs `fn` as the authenticated user `sub` (RLS applies), one transaction. */
export async function asUser<T>(s: Db, sub: string, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  return s.transaction(async (tx) => {
    await tx.query(`select set_config('request.jwt.claims', $1, true), set_config('role', 'authenticated', true)`,
      [JSON.stringify({ sub, role: 'authenticated' })]);
    return fn(tx);
  });
}

/**
 * A transaction on `s` that stays open across awaits until `commit()` or `rollback()` — the "session A:
 * begin; …" half of a race, while the test drives other sessions.
 */
export async function heldTransaction(s: Db): Promise<{ tx: Queryable; commit(): Promise<void>; rollback(): Promise<void> }> {
  let finish!: (commit: boolean) => void;
  const decided = new Promise<boolean>((r) => (finish = r));
  let opened!: (tx: Queryable) => void;
  const tx = new Promise<Queryable>((r) => (opened = r));
  const done = s.transaction(async (t) => {
    opened(t);
    if (!(await decided)) throw new RolledBack();
  }).catch((e: unknown) => {
    if (!(e instanceof RolledBack)) throw e;
  });
  return {
    tx: await tx,
    commit: async () => {
      finish(true);
      await done;
    },
    rollback: async () => {
      finish(false);
      await done;
    },
  };
}
class RolledBack extends Error {}
