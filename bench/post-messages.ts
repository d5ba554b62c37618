/**
 * npm run bench:post-messages -- --database-url URL [--requests 200] [--warmup 20]
 *
 * Latency of POST /functions/v1/messages as a client sees it, on a real server (the native lane:
 * `npm run db:native` prints the URL). Creates a scratch database on that server, serves it with
 * `npm start -- --database-url`, then sends the requests one after the other — each a message with two
 * attachments and two tool calls into one conversation, as a user — and prints p50 / p90 / p99 / mean.
 * Sequential on purpose: it measures the work of one request (HTTP, auth, validation, SQL), not queueing.
 * Drops the scratch database at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import * as jose from 'jose';
import postgres from 'postgres';

const usage = 'usage: npm run bench:post-messages -- --database-url URL [--requests N] [--warmup N]';
const JWT_SECRET = 'super-secret-jwt-token-with-at-least-32-characters-long';

function fail(message: string): never {
  console.error(`${message}\n${usage}`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    strict: true,
    options: { 'database-url': { type: 'string' }, requests: { type: 'string', default: '200' }, warmup: { type: 'string', default: '20' } },
  });
} catch (e) {
  fail((e as Error).message);
}
const { values } = parsed;
const serverUrl = values['database-url'] ?? fail('--database-url is required');
const requests = Number(values.requests);
const warmup = Number(values.warmup);
if (!Number.isInteger(requests) || requests < 1 || !Number.isInteger(warmup) || warmup < 0) fail('--requests and --warmup are whole numbers');

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

function startStack(url: string): Promise<{ child: ChildProcess; functionsUrl: string }> {
  const child = spawn('npm', ['start', '--silent', '--', '--database-url', url, '--api-port', '0'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /Functions URL:\s*(\S+)\/<name>/.exec(out);
      if (m) resolve({ child, functionsUrl: m[1]! });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${out.slice(-2000)}`)));
  });
}

const pct = (s: number[], p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;

async function main(): Promise<void> {
  const dbName = `ajc_bench_post_${process.pid}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${dbName}`);
  const url = withDatabase(serverUrl, dbName);
  let stack: { child: ChildProcess; functionsUrl: string } | null = null;
  try {
    stack = await startStack(url);
    const db = postgres(url, { max: 1, onnotice: () => {} });
    const [u] = await db`insert into auth.users (id, email, aud, role) values (gen_random_uuid(), 'bench@example.test', 'authenticated', 'authenticated') returning id`;
    const [a] = await db`insert into public.agents (owner_id, name) values (${u!.id}, 'bench') returning id`;
    await db.end();
    const token = await new jose.SignJWT({ sub: u!.id, role: 'authenticated', aud: 'authenticated' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(JWT_SECRET));
    let conversationId: string | undefined;
    const post = async (i: number) => {
      const t0 = performance.now();
      const res = await fetch(`${stack!.functionsUrl}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          ...(conversationId ? { conversation_id: conversationId } : {}),
          role: i % 2 ? 'assistant' : 'user',
          content: `message ${i}`,
          agent_id: a!.id,
          client_message_id: `bench-${i}`,
          metadata: { tokens: 3 },
          attachments: [
            { name: 'a.png', storage_path: `uploads/${i}/a.png`, mime_type: 'image/png', size_bytes: 1024 },
            { name: 'b.pdf', storage_path: `uploads/${i}/b.pdf`, mime_type: 'application/pdf', size_bytes: 2048, metadata: { pages: 2 } },
          ],
          tool_calls: [
            { tool_call_id: `call_${i}_1`, tool_name: 'search', args: { q: 'lisbon' }, result: { hits: 3 } },
            { tool_call_id: `call_${i}_2`, tool_name: 'weather', args: { city: 'Lisbon' }, is_partial: true },
          ],
        }),
      });
      const body = (await res.json()) as { message?: { conversation_id: string } };
      const ms = performance.now() - t0;
      if (res.status !== 201) throw new Error(`POST /messages answered ${res.status}: ${JSON.stringify(body)}`);
      conversationId ??= body.message!.conversation_id;
      return ms;
    };
    for (let i = 0; i < warmup; i++) await post(-1 - i);
    const lat: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < requests; i++) lat.push(await post(i));
    const wall = performance.now() - t0;
    const s = [...lat].sort((x, y) => x - y);
    const r = (x: number) => Math.round(x * 100) / 100;
    console.log(
      JSON.stringify({ requests, warmup, p50_ms: r(pct(s, 50)), p90_ms: r(pct(s, 90)), p99_ms: r(pct(s, 99)), mean_ms: r(lat.reduce((x, y) => x + y, 0) / lat.length), max_ms: r(s.at(-1)!), wall_s: r(wall / 1000) }),
    );
  } finally {
    if (stack) {
      const exited = new Promise((res) => stack!.child.once('exit', res));
      process.kill(-stack.child.pid!, 'SIGINT');
      await exited;
    }
    await admin.unsafe(`drop database if exists ${dbName} with (force)`);
    await admin.end();
  }
}

main().catch((e: unknown) => {
  console.error((e as Error).message);
  process.exit(1);
});
