/**
 * One local stack per e2e test file (in-memory database, free ports) plus helpers to make users,
 * agents and typed clients against it. Setup SQL goes through the stack's own Postgres port, so it
 * queues behind requests like any other client instead of slipping into one of their transactions.
 */
import { openPostgres, type Db } from '../../src/db/engine.ts';
import { startStack, type Stack } from '../../src/stack/index.ts';
import { signUserToken } from '../../src/stack/keys.ts';
import { connectChat, type ChatClient } from '../../src/client/index.ts';

export interface TestStack {
  stack: Stack;
  admin: Db;
  stop(): Promise<void>;
}

export async function startTestStack(opts: { functions?: string[]; functionEnv?: Record<string, string> } = {}): Promise<TestStack> {
  const stack = await startStack({
    dataDir: null,
    dbPort: 0,
    apiPort: 0,
    ...opts,
    log: (l) => {
      if (process.env.DEBUG) console.log(l);
    },
  });
  const admin = await openPostgres(stack.dbUrl, { max: 1 });
  return {
    stack,
    admin,
    async stop() {
      await admin.close();
      await stack.stop();
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
  const { chat } = connectChat({ url: t.stack.apiUrl, anonKey: t.stack.anonKey, accessToken: token });
  return { id: u!.id, token, agentId: a!.id, chat };
}

/** A client acting with an arbitrary bearer token (service key, anon key, garbage…). */
export function clientWithToken(t: TestStack, token: string): ChatClient {
  return connectChat({ url: t.stack.apiUrl, anonKey: t.stack.anonKey, accessToken: token }).chat;
}

/** Raw fetch against a function path, for what the typed client will not send. */
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
