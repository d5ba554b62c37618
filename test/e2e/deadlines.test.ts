/**
 * Bounded waits, end to end: a client that holds the database inside an open transaction (psql after
 * `begin`) makes API requests answer 503 `database_busy` with `Retry-After` at their deadline instead of
 * hanging, nothing those requests started lands later, and the API works again once the transaction ends.
 * Bodies and headers that never finish are cut off with a JSON 408 (by the function, and by the gateway).
 *
 * A stack of its own with short deadlines (2 s) and only the function under test. The bounds asserted are
 * "answered, not hung": far above the deadline, far below a client's usual timeout.
 */
import { connect } from 'node:net';
import { request } from 'node:http';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { onNative } from '../helpers/db.ts';
import { newUser, raw, startTestStack, type TestStack, type TestUser } from './stack.ts';

const DEADLINE_MS = 2000;
/** "Answered, not hung": generous for a loaded 2-core machine, well below a 45 s client timeout. */
const ANSWERED_WITHIN_MS = 20_000;

let t: TestStack;
let u: TestUser;

beforeAll(async () => {
  t = await startTestStack({
    functions: ['messages'],
    functionEnv: { REQUEST_TIMEOUT_MS: String(DEADLINE_MS), BODY_TIMEOUT_MS: String(DEADLINE_MS) },
  });
  u = await newUser(t);
});
afterAll(async () => {
  await t?.stop();
});

const send = (conversation_id: string, client_message_id: string) =>
  raw(t, 'POST', 'messages', {
    token: u.token,
    body: JSON.stringify({ conversation_id, role: 'user', content: client_message_id, client_message_id }),
  });

it('answers 503 + Retry-After while another client holds the database in a transaction, writes nothing, and recovers', async () => {
  const conversation_id = crypto.randomUUID();
  expect((await send(conversation_id, 'before')).status).toBe(201);

  // PGlite: psql's `begin; select 1;` through the stack's Postgres port, then idle — the one shared session
  // is held. A real server has many sessions, so there the holder takes the lock a DBA's long `alter table`
  // would: every request on the table waits (and meets lock_timeout / the deadline).
  const holder = postgres(t.stack.dbUrl, { max: 1, prepare: false, onnotice: () => {} });
  try {
    await holder.unsafe('begin');
    await holder.unsafe(onNative ? 'lock table public.chat_messages_v2 in access exclusive mode' : 'select 1');
    const started = Date.now();
    const [write, read] = await Promise.all([
      send(conversation_id, 'during'),
      raw(t, 'GET', `messages?conversation_id=${conversation_id}`, { token: u.token }),
    ]);
    const elapsed = Date.now() - started;
    for (const r of [write, read]) {
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('2');
      expect(r.headers.get('access-control-expose-headers')).toMatch(/retry-after/i); // readable from a browser
      expect(r.json).toMatchObject({ error: { code: 'database_busy', message: expect.stringMatching(/nothing was changed/) } });
    }
    expect(elapsed).toBeGreaterThanOrEqual(DEADLINE_MS - 100); // it did wait for the database first
    expect(elapsed).toBeLessThan(ANSWERED_WITHIN_MS);
  } finally {
    await holder.unsafe('commit').catch(() => {});
    await holder.end();
  }

  // the transaction ended: the API answers again, and the 503'd write never landed
  expect((await send(conversation_id, 'after')).status).toBe(201);
  const page = await u.chat.listMessages({ conversation_id });
  expect(page.messages.map((m) => m.client_message_id)).toEqual(['after', 'before']);
  const [n] = await t.admin.query<{ n: number }>(`select count(*)::int as n from public.chat_messages_v2 where client_message_id = 'during'`);
  expect(n!.n).toBe(0);
}, 60_000);

/** Sends the request head (and `body`, if any) and never finishes; resolves with what comes back. */
function stall(head: string, body = ''): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(t.stack.apiPort, '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (text += c));
    socket.on('end', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text }));
    socket.on('error', reject);
    socket.setTimeout(ANSWERED_WITHIN_MS, () => {
      socket.destroy();
      reject(new Error(`no answer within ${ANSWERED_WITHIN_MS} ms:\n${text}`));
    });
    socket.write(head + body);
  });
}

it('cuts off a body that never finishes (408 from the function) and headers that never finish (408 from the gateway)', async () => {
  const head = (extra: string) =>
    `POST /functions/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${u.token}\r\nContent-Type: application/json\r\n${extra}`;
  const [declared, chunked, headers] = await Promise.all([
    stall(head('Content-Length: 100\r\n\r\n'), '{"role":"user","content":'),
    stall(head('Transfer-Encoding: chunked\r\n\r\n'), '5\r\n{"rol\r\n'),
    stall('POST /functions/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n'),
  ]);
  for (const r of [declared, chunked]) {
    expect(r.status, r.text).toBe(408);
    expect(JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: { code: 'body_timeout' } });
  }
  expect(headers.status, headers.text).toBe(408);
  expect(headers.text).toMatch(/content-type: application\/json/i);
  expect(JSON.parse(headers.text.slice(headers.text.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: { code: 'request_timeout' } });
  // nothing of the cut-off bodies was stored
  const [n] = await t.admin.query<{ n: number }>(`select count(*)::int as n from public.chat_messages_v2 where user_id = $1`, [u.id]);
  expect(n!.n).toBe(2);
}, 60_000);

it('keeps working for a client that sends its body promptly', async () => {
  const r = await new Promise<number>((resolve, reject) => {
    const req = request(`${t.stack.functionsUrl}/messages`, { method: 'POST', headers: { authorization: `Bearer ${u.token}`, 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.write('{"role":"user",');
    setTimeout(() => req.end('"content":"slow but in time"}'), 300);
  });
  expect(r).toBe(201);
});
