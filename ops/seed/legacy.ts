/**
 * Realistic, deterministic legacy (v1) chat data — the dirty kind production really holds — generated INSIDE
 * the database by set-based SQL (./legacy.sql): generate_series and hash-based pseudo-randomness from the seed
 * and the row number, so nothing but a few parameters crosses the wire and the same options give the same
 * bytes on PostgreSQL 15 and on PGlite.
 *
 * Used by `npm run seed:legacy`, the data-migration and driver tests, and the benchmarks (one generator).
 *
 * Dirt: with probability `dirtyRate` a message (or a chat_states blob) carries exactly one kind of dirt
 * (./rows.ts), so the result says exactly how many rows the migration must quarantine and why — counted by the
 * very statements that inserted them. Tenancy dirt is included: rows in another user's conversation and rows
 * naming another user's agent.
 *
 * Re-running with the same seed appends: users and agents (named by the seed) that exist are skipped, and the
 * run's conversations are named by the highest chat_messages.id before it, so they are new ones.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db, Queryable } from '../db.ts';
import {
  messageDirtKinds,
  quarantineDirtKinds,
  stateDirtKinds,
  vocabulary,
  type MessageDirtKind,
  type QuarantineDirtKind,
  type StateDirtKind,
} from './rows.ts';

export { messageDirtKinds, prng, quarantineDirtKinds, quarantineReasonPatterns, repairableDirtKinds, stateDirtKinds } from './rows.ts';
export type { MessageDirtKind, QuarantineDirtKind, StateDirtKind } from './rows.ts';

export interface SeedOptions {
  /** Conversations that have chat_messages rows. */
  conversations: number;
  /** Messages in total, spread unevenly over the conversations (at least one each). */
  messages: number;
  /** Probability that a message (or a chat_states blob) carries one kind of dirt; default 0.05. */
  dirtyRate?: number;
  /** Seed of every pseudo-random choice; default 1. */
  seed?: number;
  /** Users; default ceil(conversations / 8). */
  users?: number;
  /** Share of conversations (with an agent) that also have a chat_states blob; default 0.5. */
  stateRate?: number;
  /** Extra conversations that exist only in chat_states (their history becomes v2 messages); default ceil(5% of conversations). */
  stateOnlyConversations?: number;
  /** Messages per INSERT statement (whole windows of 16 conversations); default 50 000. */
  chunkSize?: number;
  /**
   * Skip per-row foreign-key checks and triggers while inserting (`session_replication_role = replica`, set
   * local to each statement's transaction). The seeder's rows are referentially consistent by construction.
   * Default: on when allowed (superuser) and the data migration is absent or in `legacy` mode — never while
   * dual-write triggers must see the rows.
   */
  skipTriggers?: boolean;
  /** Called after every chunk with messages inserted so far. */
  onProgress?: (done: number, total: number) => void;
}

export interface SeedResult {
  users: number;
  /** Users this run created (the others existed: same seed). */
  usersCreated: number;
  agents: number;
  conversations: number;
  stateOnlyConversations: number;
  messages: number;
  chatStates: number;
  /** History entries in valid chat_states blobs of state-only conversations (they become v2 messages). */
  stateOnlyHistoryMessages: number;
  /** Memory-context items in valid blobs (they become `working` memories). */
  memoryContextItems: number;
  firstMessageId: number | null;
  lastMessageId: number | null;
  /** Messages per dirt kind (each dirty message has exactly one). */
  dirt: Record<MessageDirtKind, number>;
  stateDirt: Record<StateDirtKind, number>;
  expectedQuarantine: {
    messages: number;
    states: number;
    byReason: Partial<Record<QuarantineDirtKind | 'invalid_json', number>>;
  };
  /** messages that must migrate = messages - expectedQuarantine.messages */
  expectedMigrated: number;
  ms: number;
  rowsPerSecond: number;
  /** How rows were written: in-database generation, with or without replica mode. */
  method: string;
}

export class LegacySchemaMissingError extends Error {
  override name = 'LegacySchemaMissingError';
  hint = 'run npm run db:migrate (or point --database-url at a migrated database)';
}

export type SeedTarget = Queryable & { transaction?: Db['transaction'] };

const here = dirname(fileURLToPath(import.meta.url));
let statements: Record<string, string> | undefined;

/** The `-- @name` sections of legacy.sql. */
export function seedStatements(): Record<string, string> {
  if (statements) return statements;
  const text = readFileSync(join(here, 'legacy.sql'), 'utf8');
  const out: Record<string, string> = {};
  for (const part of text.split(/^-- @name /m).slice(1)) {
    const name = part.slice(0, part.indexOf('\n')).trim();
    out[name] = part.slice(part.indexOf('\n') + 1).trim().replace(/;\s*$/, '');
  }
  return (statements = out);
}

async function assertLegacySchema(db: Queryable): Promise<void> {
  const rows = await db.query<{ ok: boolean }>(
    `select to_regclass('public.chat_messages') is not null and to_regclass('public.chat_states') is not null
        and to_regclass('auth.users') is not null as ok`,
  );
  if (!rows[0]?.ok) throw new LegacySchemaMissingError('the legacy tables (public.chat_messages, public.chat_states, auth.users) do not exist');
}

/** Replica mode skips triggers too, so only when nobody needs them: superuser, and no dual-write in force. */
async function replicaAllowed(db: Queryable): Promise<boolean> {
  const su = await db.query<{ su: string }>(`select current_setting('is_superuser') as su`);
  if (su[0]?.su !== 'on') return false;
  const trig = await db.query<{ n: number }>(
    `select count(*)::int as n from pg_trigger
     where tgrelid in ('public.chat_messages'::regclass, 'public.chat_states'::regclass) and not tgisinternal and tgenabled <> 'D'`,
  );
  if (!trig[0]?.n) return true;
  const fn = await db.query<{ ok: boolean }>(`select to_regprocedure('public.chat_migration_status()') is not null as ok`);
  if (!fn[0]?.ok) return false;
  try {
    const st = await db.query<{ mode: string | null }>(`select mode from public.chat_migration_status()`);
    return (st[0]?.mode ?? 'legacy') === 'legacy';
  } catch {
    return false;
  }
}

/** Users and agents of a seed only (ids md5('ajc-seed:S:user:u')…); existing ones are skipped. */
export async function seedUsersAndAgents(db: SeedTarget, opts: { users: number; seed?: number }): Promise<{ usersCreated: number; agents: number }> {
  const sql = seedStatements();
  const seed = opts.seed ?? 1;
  const created = await db.query(sql.users!, [seed, opts.users]);
  await db.query(sql.agents!, [seed, opts.users, JSON.stringify(vocabulary)]);
  const [a] = await db.query<{ n: number }>(
    `select count(*)::int as n from public.agents a
      where a.owner_id in (select md5('ajc-seed:' || $1::bigint || ':user:' || u)::uuid from generate_series(0, $2::int - 1) u)`,
    [seed, opts.users],
  );
  return { usersCreated: created.length, agents: a?.n ?? 0 };
}

export async function seedLegacy(db: SeedTarget, opts: SeedOptions): Promise<SeedResult> {
  const started = performance.now();
  const nConv = Math.max(0, Math.floor(opts.conversations));
  const nMsg = Math.max(nConv, Math.floor(opts.messages));
  const p = opts.dirtyRate ?? 0.05;
  if (!(p >= 0 && p <= 1)) throw new RangeError(`dirtyRate must be between 0 and 1 (got ${p})`);
  const seed = opts.seed ?? 1;
  const nUsers = Math.max(1, opts.users ?? Math.ceil(nConv / 8));
  const stateRate = opts.stateRate ?? 0.5;
  const nStateOnly = opts.stateOnlyConversations ?? Math.ceil(nConv * 0.05);
  const chunkSize = opts.chunkSize ?? 50_000;
  const vocab = JSON.stringify(vocabulary);
  const sql = seedStatements();

  await assertLegacySchema(db);
  const replica = (opts.skipTriggers ?? (await replicaAllowed(db))) && !!db.transaction;
  // One transaction per statement: JIT off (compiling these wide expressions costs a PostgreSQL 15 server
  // seconds per statement — 20× the work itself), sorts in memory, and replica mode when allowed.
  const run = async <T>(text: string, params: unknown[]): Promise<T[]> => {
    if (!db.transaction) return db.query<T>(text, params);
    return db.transaction(async (tx) => {
      await tx.query(`set local jit = off`);
      await tx.query(`set local work_mem = '128MB'`); // the chunk's sorts stay in memory
      if (replica) await tx.query(`set local session_replication_role = replica`);
      return tx.query<T>(text, params);
    });
  };

  const { usersCreated, agents } = await seedUsersAndAgents({ query: (t, ps) => run(t, ps ?? []), exec: (t) => db.exec(t) }, { users: nUsers, seed });
  // the run key: conversations of this run are named by it (a second run with the same seed adds new ones)
  const [base] = await db.query<{ hi: string | number | null }>(`select coalesce(max(id), 0) as hi from public.chat_messages`);
  const runKey = Number(base?.hi ?? 0);

  // conversation sizes (skewed), remainder spread one by one from the first
  const plan = await db.query<{ c: number; n: number }>(sql.plan!, [seed, runKey, nConv, nMsg]);
  const lens = plan.map((r) => Number(r.n));
  let assigned = lens.reduce((a, b) => a + b, 0);
  for (let c = 0; assigned < nMsg && nConv > 0; c = (c + 1) % nConv) {
    lens[c]!++;
    assigned++;
  }

  const dirt = Object.fromEntries(messageDirtKinds.map((k) => [k, 0])) as Record<MessageDirtKind, number>;
  let done = 0;
  let firstId: number | null = null;
  let lastId: number | null = null;
  // chunks of whole windows (16 conversations are interleaved in id order)
  for (let c0 = 0; c0 < nConv; ) {
    let c1 = c0;
    let n = 0;
    do {
      const w1 = Math.min(nConv, c1 + 16);
      for (let c = c1; c < w1; c++) n += lens[c]!;
      c1 = w1;
    } while (c1 < nConv && n + lens.slice(c1, c1 + 16).reduce((a, b) => a + b, 0) <= chunkSize);
    const [r] = await run<{ n: number; lo: string | number | null; hi: string | number | null; dirt: Record<string, number> }>(sql.messages!, [
      seed, runKey, nUsers, p, c0, lens.slice(c0, c1), done, vocab, [...messageDirtKinds],
    ]);
    if (r!.lo !== null) firstId ??= Number(r!.lo);
    if (r!.hi !== null) lastId = Number(r!.hi);
    for (const [k, v] of Object.entries(r!.dirt ?? {})) dirt[k as MessageDirtKind] += Number(v);
    done += Number(r!.n);
    opts.onProgress?.(done, nMsg);
    c0 = c1;
  }

  const [st] = await run<{ n: number; state_only: number; state_only_history: number; memory_items: number; dirt: Record<string, number> }>(sql.states!, [
    seed, runKey, nUsers, p, nConv, stateRate, nStateOnly, vocab,
  ]);
  const stateDirt = Object.fromEntries(stateDirtKinds.map((k) => [k, Number(st!.dirt?.[k] ?? 0)])) as Record<StateDirtKind, number>;

  const byReason: SeedResult['expectedQuarantine']['byReason'] = {};
  let qMessages = 0;
  for (const k of quarantineDirtKinds) {
    if (dirt[k] > 0) {
      byReason[k] = dirt[k];
      qMessages += dirt[k];
    }
  }
  if (stateDirt.invalid_json) byReason.invalid_json = stateDirt.invalid_json;
  const ms = performance.now() - started;
  return {
    users: nUsers,
    usersCreated,
    agents,
    conversations: nConv,
    stateOnlyConversations: Number(st!.state_only),
    messages: done,
    chatStates: Number(st!.n),
    stateOnlyHistoryMessages: Number(st!.state_only_history),
    memoryContextItems: Number(st!.memory_items),
    firstMessageId: firstId,
    lastMessageId: lastId,
    dirt,
    stateDirt,
    expectedQuarantine: { messages: qMessages, states: stateDirt.invalid_json, byReason },
    expectedMigrated: done - qMessages,
    ms,
    method: `in-database generate_series${replica ? ' (replica)' : ''}`,
    rowsPerSecond: done / Math.max(ms / 1000, 1e-9),
  };
}
