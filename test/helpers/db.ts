import type { Db, Queryable } from '../../src/db/engine.ts';
export { openMigrated } from '../../src/db/template.ts';

/** Creates an auth user (as postgres, the way Supabase Auth would) and returns its id. */
export async function createUser(db: Queryable, email?: string): Promise<string> {
  const rows = await db.query<{ id: string }>(
    `insert into auth.users (id, email, aud, role) values (gen_random_uuid(), $1, 'authenticated', 'authenticated') returning id`,
    [email ?? `${Math.random().toString(36).slice(2)}@example.test`],
  );
  return rows[0]!.id;
}

export type Actor = { role: 'anon' } | { role: 'service_role' } | { role: 'authenticated'; sub: string };

/** Runs `fn` in a transaction as the given API role with PostgREST-style JWT claims. */
export async function as<T>(db: Db, actor: Actor, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    const claims = actor.role === 'authenticated' ? { sub: actor.sub, role: 'authenticated' } : { role: actor.role };
    await tx.query(`select set_config('request.jwt.claims', $1, true)`, [JSON.stringify(claims)]);
    await tx.query(`set local role ${actor.role}`);
    return fn(tx);
  });
}
