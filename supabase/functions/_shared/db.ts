/**
 * Direct Postgres over `SUPABASE_DB_URL` (postgres.js, small bounded pool). Every request runs in ONE
 * transaction that first becomes the caller — `role` and `request.jwt.claims` set with `is_local = true`
 * (PostgREST's way) — so RLS is the only fence and nothing outlives the transaction. On the local stack
 * the database is a single shared session; transaction-local settings are what keep requests apart.
 */
import postgres from 'postgres';
import type { Caller } from './auth.ts';

const url = Deno.env.get('SUPABASE_DB_URL') ?? Deno.env.get('DATABASE_URL');
if (!url) throw new Error('SUPABASE_DB_URL is not set');

export const sql = postgres(url, {
  max: Number(Deno.env.get('DB_POOL_MAX') ?? '4'),
  // Unnamed statements only: transaction poolers (Supavisor) and the local single-session socket
  // cannot keep named prepared statements apart.
  prepare: false,
  idle_timeout: 20,
  // Every row leaves as jsonb built in SQL, so postgres.js needs no array-type catalogue lookup per
  // connection (a catalog query that costs most of a cold first request on the local stack).
  fetch_types: false,
  connect_timeout: 10,
  onnotice: () => {},
  connection: { application_name: 'advanced-json-chat-functions' },
});

export type Tx = postgres.TransactionSql;

export async function asCaller<T>(caller: Caller, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return (await sql.begin(async (tx) => {
    // caller.role is one of three literals (auth.ts), never a client-chosen string.
    await tx`select set_config('role', ${caller.role}, true),
                    set_config('request.jwt.claims', ${JSON.stringify(caller.claims)}, true),
                    set_config('request.jwt.claim.sub', '', true),
                    set_config('request.jwt.claim.role', '', true)`;
    return fn(tx);
  })) as T;
}

