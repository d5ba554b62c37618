/**
 * One local stack per e2e test file (in-memory database, free ports) plus helpers to make users,
 * agents and typed clients against it. Every answer those clients (and raw()) get is checked against the
 * HTTP contract (contract-check.ts): a response that does not fit its schema fails the request. Setup SQL goes through the stack's own Postgres port, so it
 * queues behind requests like any other client instead of slipping into one of their transactions.
 *
 * On the native lane the stack serves the test file's own database on the real server
 * (`startStack({ databaseUrl })`, what `npm start -- --database-url` does): no socket, no session-lock
 * proxy, every function on its own connection pool, so requests really run in parallel.
 */
import { openPostgres, type Db } from '../../ops/db.ts';
import { startStack, type Stack, type StackOptions } from '../../devstack/stack/index.ts';
import { onNative, openMigrated, replicaCaughtUp, replicaUrl } from '../helpers/db.ts';
import { signUserToken } from '../../devstack/stack/keys.ts';
import { expect } from 'vitest';
import { createClient } from '@supabase/supabase-js';
import { ChatApiError, createChatClient, type ChatClient } from '../../client/index.ts';
import { checkedFetch, checkResponse } from './contract-check.ts';

export interface TestStack {
  stack: Stack;
  admin: Db;
  stop(): Promise<void>;
}

export async function startTestStack(
  opts: Pick<StackOptions, 'functions' | 'functionEnv' | 'readUrl'> & {
    /** Native lane with its replica: the functions read from this database on the hot standby. */
    replica?: boolean;
  } = {},
): Promise<TestStack> {
  // Native lane: a database of its own on the server (dropped on stop). PGlite: the stack's in-memory one.
  const own = onNative ? await openMigrated() : null;
  const { replica, ...stackOpts } = opts;
  if (replica) {
    if (!own) throw new Error('startTestStack({ replica: true }) needs the native lane with its replica (npm run test:native).');
    stackOpts.readUrl = replicaUrl(own);
    await replicaCaughtUp(own); // the cloned database exists on the standby before the functions read there
  }
  const log = (l: string) => {
    if (process.env.DEBUG) console.log(l);
  };
  let stack: Stack;
  try {
    // The functions' 5 s request deadline is production's; on a loaded 2-core CI machine a burst of 100
    // requests through PGlite's one session can take longer than that. deadlines.test.ts tests the deadline
    // with its own short value; the other files test behaviour, so their stacks get a roomy one.
    const functionEnv = { REQUEST_TIMEOUT_MS: '30000', ...stackOpts.functionEnv };
    stack = await startStack({ ...stackOpts, functionEnv, ...(own ? { databaseUrl: own.url! } : { dataDir: null, dbPort: 0 }), apiPort: 0, log });
  } catch (e) {
    await own?.close();
    throw e;
  }
  const admin = await openPostgres(stack.dbUrl, { max: 1 });
  return {
    stack,
    admin,
    async stop() {
      await admin.close();
      await stack.stop();
      await own?.close();
    },
  };
}

export interface TestUser {
  id: string;
  token: string;
  agentId: string;
  chat: ChatClient;
}

export async function newUser(t: TestStack): Promise<TestUser> {
  const [u] = await t.admin.query<{ id: string }>(
    `insert into auth.users (id, email, aud, role) values (gen_random_uuid(), gen_random_uuid() || '@example.test', 'authenticated', 'authenticated') returning id`,
  );
  const [a] = await t.admin.query<{ id: string }>(`insert into public.agents (owner_id, name) values ($1, 'assistant') returning id`, [u!.id]);
  const token = await signUserToken(u!.id, { secret: t.stack.jwtSecret });
  return { id: u!.id, token, agentId: a!.id, chat: clientWithToken(t, token) };
}

class NoWebSocket {
  constructor() {
    throw new Error('no realtime in the e2e suite');
  }
}

/** A typed client acting with an arbitrary bearer token (service key, anon key, garbage…); answers checked against the contract. */
export function clientWithToken(t: TestStack, token: string): ChatClient {
  const supabase = createClient(t.stack.apiUrl, t.stack.anonKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime: { transport: NoWebSocket as never },
    accessToken: async () => token,
    global: { fetch: checkedFetch },
  });
  return createChatClient(supabase);
}

/** Raw fetch against a function path, for what the typed client will not send (the answer is checked against the contract). */
export async function raw(t: TestStack, method: string, path: string, init: { token?: string; body?: BodyInit | null; headers?: Record<string, string> } = {}) {
  const res = await fetch(`${t.stack.functionsUrl}/${path}`, {
    method,
    headers: {
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.body !== undefined && init.body !== null ? { 'content-type': 'application/json' } : {}),
      ...init.headers,
    },
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
  await checkResponse(method, res.url || `${t.stack.functionsUrl}/${path}`, res);
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* leave null */
  }
  return { status: res.status, text, json, headers: res.headers };
}

/** A unit-ish 1536-dim vector pointing mostly along axis `i`. */
export function axis(i: number, noise = 0): number[] {
  const v = new Array<number>(1536).fill(0);
  v[i % 1536] = 1;
  if (noise) v[(i + 1) % 1536] = noise;
  return v;
}

/** Awaits `p` and asserts it failed with a `ChatApiError` of this status (and code); returns the error. */
export async function expectApiError(p: Promise<unknown>, status: number, code?: string): Promise<ChatApiError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ChatApiError);
  expect((e as ChatApiError).status).toBe(status);
  if (code) expect((e as ChatApiError).code).toBe(code);
  return e as ChatApiError;
}
