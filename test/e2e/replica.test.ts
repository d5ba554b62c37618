/**
 * Reads from a read replica (`SUPABASE_DB_URL_READ`), end to end through the functions.
 *
 * Native lane with its hot standby (`npm run test:native` starts `db:native -- --replica`; the per-file
 * database is cloned on the primary, so the standby has it too): WAL replay is paused on the standby to make
 * it fall behind at will. A row committed on the primary meanwhile is then missing from every read the
 * replica serves — that is how these tests see where a read was served. Replay is paused cluster-wide, so
 * every pause lives in this one file and is always resumed.
 *
 * Both lanes: a read URL that nothing answers on — reads come from the primary, nothing fails.
 */
import { createServer, type Server, type Socket } from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../devstack/pglite/socket.ts';
import { replicaCaughtUp, testReplicaUrl } from '../helpers/db.ts';
import { newUser, raw, startTestStack, type TestStack, type TestUser } from './stack.ts';

const LSN = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/;

// Needs a real hot standby of the test server: PGlite has no replication, and `test:native --database-url`
// without --replica-url has no standby to read from.
describe.skipIf(!testReplicaUrl)('with a streaming hot standby (native lane)', () => {
  let t: TestStack;
  let standby: postgres.Sql;
  let database: string;

  beforeAll(async () => {
    // A short wait for the standby, so a read held back by it reaches the primary quickly.
    t = await startTestStack({ replica: true, functions: ['messages', 'sessions'], functionEnv: { READ_WAIT_MS: '300' } });
    database = decodeURIComponent(new URL(t.stack.dbUrl).pathname.slice(1));
    standby = postgres(testReplicaUrl!, { max: 1, onnotice: () => {} });
  });
  afterAll(async () => {
    await standby?.unsafe('select pg_wal_replay_resume() where pg_is_wal_replay_paused()').catch(() => {});
    await standby?.end();
    await t?.stop();
  });

  /** Runs `body` with WAL replay paused on the standby: the replica stops at what it had. */
  async function whilePaused(body: () => Promise<void>): Promise<void> {
    await replicaCaughtUp(t.admin);
    await standby`select pg_wal_replay_pause()`;
    try {
      for (;;) {
        const [s] = await standby<{ state: string }[]>`select pg_get_wal_replay_pause_state() as state`;
        if (s!.state === 'paused') break;
        await new Promise((r) => setTimeout(r, 10));
      }
      await body();
    } finally {
      await standby`select pg_wal_replay_resume()`;
    }
  }

  /** A message committed on the primary directly (as the platform would), not through the API. */
  const insertBehindTheApi = (user: TestUser, conversationId: string, text: string) =>
    t.admin.query(`insert into public.chat_messages_v2 (conversation_id, user_id, role, content) values ($1, $2, 'assistant', $3::jsonb)`, [
      conversationId,
      user.id,
      JSON.stringify({ type: 'text', text }),
    ]);

  const texts = (page: { messages: { content: unknown }[] }) => page.messages.map((m) => (m.content as { text: string }).text);

  it('serves reads from the standby, and a caller always reads their own writes while it lags', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    const convA = crypto.randomUUID();
    const convB = crypto.randomUUID();
    await a.chat.sendMessage({ conversation_id: convA, role: 'user', content: 'a1' });
    await b.chat.sendMessage({ conversation_id: convB, role: 'user', content: 'b1' });
    expect(a.chat.readAfterLsn).toMatch(LSN); // the typed client keeps the write's X-Commit-LSN

    await whilePaused(async () => {
      // A row the standby has not replayed: a read served there cannot contain it.
      await insertBehindTheApi(b, convB, 'written on the primary');
      expect(texts(await b.chat.listMessages({ conversation_id: convB }))).toEqual(['b1']);
      // …and the functions' read pool is connected to this database on the standby.
      const [reading] = await standby<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity where datname = ${database} and application_name = 'advanced-json-chat-functions-read'`;
      expect(reading!.n).toBeGreaterThan(0);
      // The primary sees the standby fall behind (replica_lag(), for the backfill's throttle).
      const lag = await t.admin.query<{ replica: string; state: string; replay_lag_bytes: number }>(`select * from public.replica_lag() where replica = 'ajc_replica'`);
      expect(lag).toEqual([expect.objectContaining({ state: 'streaming', replay_lag_bytes: expect.any(Number) })]);
      expect(lag[0]!.replay_lag_bytes).toBeGreaterThan(0);

      // A writes while the standby is frozen, and reads the write back at once: through the typed client
      // (X-Read-After-LSN), and without any header from the same function instance (its own memory).
      const { message } = await a.chat.sendMessage({ conversation_id: convA, role: 'user', content: 'a2' });
      expect(texts(await a.chat.listMessages({ conversation_id: convA }))).toEqual(['a2', 'a1']);
      const bare = await raw(t, 'GET', `messages?conversation_id=${convA}`, { token: a.token });
      expect(bare.status).toBe(200);
      expect((bare.json as { messages: { id: string }[] }).messages.map((m) => m.id)).toContain(message.id);
      // An edit is a write too: the next read has the new version.
      await a.chat.editMessage(message.id, { content: 'a2, edited' });
      expect(texts(await a.chat.listMessages({ conversation_id: convA }))).toEqual(['a2, edited', 'a1']);

      // B's reads still come from the standby: A's writes hold back A's reads only.
      expect(texts(await b.chat.listMessages({ conversation_id: convB }))).toEqual(['b1']);
    });

    // Replay resumed: the standby catches up, and B's read (still served there) has the row.
    await replicaCaughtUp(t.admin);
    expect(texts(await b.chat.listMessages({ conversation_id: convB }))).toEqual(['written on the primary', 'b1']);
  });

  it('carries a write to another function through X-Read-After-LSN; without it that function reads the lagging standby', async () => {
    const a = await newUser(t);
    await whilePaused(async () => {
      // A new conversation through `messages`; `sessions` is another process with its own memory.
      const conversation_id = crypto.randomUUID();
      const sent = await raw(t, 'POST', 'messages', { token: a.token, body: JSON.stringify({ conversation_id, role: 'user', content: 'hi' }) });
      expect(sent.status).toBe(201);
      const lsn = sent.headers.get('x-commit-lsn');
      expect(lsn).toMatch(LSN);
      expect(sent.headers.get('access-control-expose-headers')).toMatch(/x-commit-lsn/i); // readable from a browser

      // Without the header the session is read from the standby, which has not replayed it (yet)…
      expect((await raw(t, 'GET', `sessions/${conversation_id}`, { token: a.token })).status).toBe(404);
      // …with it, the read waits for the standby, then goes to the primary: the caller's own write is there.
      const fenced = await raw(t, 'GET', `sessions/${conversation_id}`, { token: a.token, headers: { 'X-Read-After-LSN': lsn! } });
      expect(fenced.status).toBe(200);
      expect(fenced.json).toMatchObject({ session: { id: conversation_id, message_count: 1 } });
      // The typed client does the same by itself: its writes' positions go with every later call.
      const { message } = await a.chat.sendMessage({ conversation_id, role: 'user', content: 'again' });
      expect((await a.chat.getSession(conversation_id)).session).toMatchObject({ message_count: 2, last_message_at: message.created_at });
    });
  });

  it('answers a malformed X-Read-After-LSN with 400 and says what to send', async () => {
    const a = await newUser(t);
    for (const bad of ['16B3748', '0/', 'x/1', '1/2/3', '123456789/0']) {
      const r = await raw(t, 'GET', `sessions`, { token: a.token, headers: { 'X-Read-After-LSN': bad } });
      expect(r.status, bad).toBe(400);
      expect(r.json).toMatchObject({ error: { code: 'invalid_header', message: expect.stringMatching(/X-Read-After-LSN must be a WAL position such as 0\/16B3748/) } });
    }
  });
});

/** Reads through a stack whose read URL is `readUrl`: every answer must be what the primary holds. */
async function readsStillAnswer(t: TestStack) {
  const u = await newUser(t);
  const conversation_id = crypto.randomUUID();
  for (const text of ['one', 'two']) await u.chat.sendMessage({ conversation_id, role: 'user', content: text });
  // a caller with nothing written in this instance, and one with (header and memory)
  const other = await newUser(t);
  expect((await raw(t, 'GET', 'sessions', { token: other.token })).json).toEqual({ sessions: [], next_cursor: null });
  for (let i = 0; i < 3; i++) {
    const page = await u.chat.listMessages({ conversation_id });
    expect(page.messages.map((m) => (m.content as { text: string }).text)).toEqual(['two', 'one']);
    expect((await u.chat.getSession(conversation_id)).session).toMatchObject({ message_count: 2 });
  }
}

describe('with a read URL that nothing answers on (both lanes)', () => {
  let refused: TestStack;
  let silent: TestStack;
  let hole: Server;
  const held: Socket[] = [];
  beforeAll(async () => {
    // A port nobody listens on: the read pool's connections are refused at once.
    refused = await startTestStack({ readUrl: `postgresql://postgres:postgres@127.0.0.1:${await freePort()}/postgres`, functions: ['messages', 'sessions'] });
    // A server that accepts connections and never says a word: the replica's share of the deadline runs out.
    hole = createServer((s) => void held.push(s));
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    const port = (hole.address() as { port: number }).port;
    silent = await startTestStack({
      readUrl: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`,
      functions: ['messages', 'sessions'],
      functionEnv: { REQUEST_TIMEOUT_MS: '2000' },
    });
  });
  afterAll(async () => {
    await refused?.stop();
    await silent?.stop();
    for (const s of held) s.destroy();
    await new Promise((r) => hole?.close(r));
  });

  it('refused: reads come from the primary and every answer is the same as without a replica', async () => {
    await readsStillAnswer(refused);
  });

  it('silent: reads still answer from the primary, within the deadline', async () => {
    await readsStillAnswer(silent);
  });
});
