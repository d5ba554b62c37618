/**
 * stack: `npm start` as a user runs it. Cold start = spawn → the first 200 from GET /functions/v1/messages
 * (in-memory database, and a fresh data directory that is migrated from scratch); then 50 concurrent clients,
 * each its own user and conversation, POST and GET /messages; p50 / p99 per endpoint.
 * Every request crosses Deno → postgres.js → the session proxy → pglite-socket → ONE PGlite session, so the
 * stack serializes queries: the latencies measure queueing on that session as much as the SQL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPostgres, type Db } from '../../ops/db.ts';
import { projectRoot } from '../../ops/migrations/runner.ts';
import { figure, percentile, type Figure } from '../lib/stats.ts';
import { notMeasured, type ScenarioContext, type ScenarioResult } from '../lib/types.ts';

interface Started {
  child: ChildProcess;
  functionsUrl: string;
  dbUrl: string;
  spawnedAt: number;
  readyAt: number;
}

function startNpm(args: string[], timeoutMs: number): Promise<Started> {
  const spawnedAt = performance.now();
  const child = spawn('npm', ['start', '--silent', '--', ...args], { cwd: projectRoot, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let functionsUrl = '';
    let dbUrl = '';
    const timer = setTimeout(() => {
      stop(child);
      reject(new Error(`npm start did not print its URLs within ${timeoutMs} ms:\n${out.slice(-2000)}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString();
      functionsUrl ||= /Functions URL:\s*(\S+)\/<name>/.exec(out)?.[1] ?? '';
      dbUrl ||= /DB URL:\s*(\S+)/.exec(out)?.[1] ?? '';
      if (functionsUrl && dbUrl) {
        clearTimeout(timer);
        resolve({ child, functionsUrl, dbUrl, spawnedAt, readyAt: performance.now() });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${code}:\n${out.slice(-2000)}`));
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    try {
      process.kill(-child.pid!, 'SIGINT');
    } catch {
      resolve();
    }
    setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
      resolve();
    }, 10_000).unref();
  });
}

interface Client {
  token: string;
  conversationId: string | null;
}

async function newClient(admin: Db, i: number): Promise<Client> {
  const { signUserToken } = await import('../../devstack/stack/keys.ts');
  const [u] = await admin.query<{ id: string }>(
    `insert into auth.users (id, email, aud, role) values (gen_random_uuid(), 'stack-' || $1 || '-' || gen_random_uuid() || '@example.test', 'authenticated', 'authenticated') returning id`,
    [i],
  );
  return { token: await signUserToken(u!.id), conversationId: null };
}

async function post(url: string, c: Client, text: string): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${c.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ role: 'user', content: text, ...(c.conversationId ? { conversation_id: c.conversationId } : {}) }),
  });
  const json = (await res.json().catch(() => null)) as { message?: { conversation_id?: string } } | null;
  if (res.status < 300 && json?.message?.conversation_id) c.conversationId = json.message.conversation_id;
  return { status: res.status, ms: performance.now() - t0 };
}

async function get(url: string, c: Client): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/messages?conversation_id=${c.conversationId}&limit=50`, { headers: { authorization: `Bearer ${c.token}` } });
  await res.arrayBuffer();
  return { status: res.status, ms: performance.now() - t0 };
}

/** Spawn → db reachable → a user → POST until 2xx → GET until 200. */
async function coldStart(args: string[]): Promise<{ printed_ms: number; first_200_ms: number; stack: Started }> {
  const s = await startNpm(args, 180_000);
  const admin = await openPostgres(s.dbUrl, { max: 1 });
  try {
    const c = await newClient(admin, 0);
    for (;;) {
      const p = await post(s.functionsUrl, c, 'hello');
      if (p.status < 300) break;
      if (performance.now() - s.spawnedAt > 180_000) throw new Error(`POST /messages kept answering ${p.status}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    for (;;) {
      const g = await get(s.functionsUrl, c);
      if (g.status === 200) break;
      if (performance.now() - s.spawnedAt > 180_000) throw new Error(`GET /messages kept answering ${g.status}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return { printed_ms: s.readyAt - s.spawnedAt, first_200_ms: performance.now() - s.spawnedAt, stack: s };
  } finally {
    await admin.close();
  }
}

export async function run(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { cfg, log } = ctx;
  if (!cfg.stack.enabled) return notMeasured('disabled in this mode (toy sizes never spawn processes)');
  if (!existsSync(join(projectRoot, 'devstack', 'stack', 'index.ts')) || !existsSync(join(projectRoot, 'supabase', 'functions', 'messages'))) {
    return notMeasured('the local stack (devstack/stack, supabase/functions/messages) is not in this checkout');
  }
  const cold: Record<string, { printed: number[]; first200: number[] }> = { memory: { printed: [], first200: [] } };
  if (cfg.stack.freshDataDir) cold.fresh_data_dir = { printed: [], first200: [] };
  let kept: Started | null = null;
  try {
    for (let rep = 0; rep < cfg.stack.coldStarts; rep++) {
      const variants = cfg.stack.freshDataDir ? ['memory', 'fresh_data_dir'] : ['memory'];
      for (const variant of rep % 2 ? [...variants].reverse() : variants) {
        const dir = variant === 'fresh_data_dir' ? await mkdtemp(join(tmpdir(), 'ajc-bench-')) : null;
        const args = [...(dir ? ['--data-dir', dir, '--reset'] : ['--memory']), '--db-port', '0', '--api-port', '0'];
        const r = await coldStart(args);
        cold[variant]!.printed.push(r.printed_ms);
        cold[variant]!.first200.push(r.first_200_ms);
        log(`stack: cold start (${variant}) → first 200 in ${Math.round(r.first_200_ms)} ms`);
        if (!kept && variant === 'memory' && rep === cfg.stack.coldStarts - 1) kept = r.stack;
        else await stop(r.stack.child);
        if (dir) await rm(dir, { recursive: true, force: true });
      }
    }
    if (!kept) kept = (await coldStart(['--memory', '--db-port', '0', '--api-port', '0'])).stack;

    // load: N clients, each with its own user and conversation, R POSTs then R GETs per repetition
    const admin = await openPostgres(kept.dbUrl, { max: 1 });
    const clients: Client[] = [];
    try {
      for (let i = 0; i < cfg.stack.clients; i++) clients.push(await newClient(admin, i + 1));
    } finally {
      await admin.close();
    }
    for (const c of clients) await post(kept.functionsUrl, c, 'first message');
    const per: Record<'post' | 'get', { p50: number[]; p99: number[]; rps: number[]; errors: number }> = {
      post: { p50: [], p99: [], rps: [], errors: 0 },
      get: { p50: [], p99: [], rps: [], errors: 0 },
    };
    for (let rep = 0; rep < cfg.reps; rep++) {
      for (const kind of rep % 2 ? (['get', 'post'] as const) : (['post', 'get'] as const)) {
        const lat: number[] = [];
        const t0 = performance.now();
        await Promise.all(
          clients.map(async (c, i) => {
            for (let k = 0; k < cfg.stack.requestsPerClient; k++) {
              const r = kind === 'post' ? await post(kept!.functionsUrl, c, `message ${rep}.${k} from client ${i}`) : await get(kept!.functionsUrl, c);
              if (r.status >= 300) per[kind].errors++;
              lat.push(r.ms);
            }
          }),
        );
        const wall = performance.now() - t0;
        per[kind].p50.push(percentile(lat, 50));
        per[kind].p99.push(percentile(lat, 99));
        per[kind].rps.push((lat.length / wall) * 1000);
      }
      log(`stack: load rep ${rep + 1}/${cfg.reps}: POST p50 ${Math.round(per.post.p50.at(-1)!)} ms, GET p50 ${Math.round(per.get.p50.at(-1)!)} ms`);
    }
    const fig = (k: 'post' | 'get') => ({ p50_ms: figure(per[k].p50), p99_ms: figure(per[k].p99), requests_per_s: figure(per[k].rps), errors: per[k].errors });
    const coldFig: Record<string, { printed_ready_ms: Figure; first_200_ms: Figure }> = Object.fromEntries(
      Object.entries(cold).map(([k, v]) => [k, { printed_ready_ms: figure(v.printed), first_200_ms: figure(v.first200) }]),
    );
    const notes = cfg.stack.coldStarts < 5 ? [`cold start measured ${cfg.stack.coldStarts}× per variant (not 5)`] : [];
    return {
      status: 'measured',
      notes,
      goals: [],
      cold_start: coldFig,
      clients: cfg.stack.clients,
      requests_per_client_per_rep: cfg.stack.requestsPerClient,
      reps: cfg.reps,
      post_messages: fig('post'),
      get_messages: fig('get'),
    };
  } catch (e) {
    return notMeasured(`the stack did not come up: ${(e as Error).message.split('\n')[0]}`);
  } finally {
    if (kept) await stop(kept.child);
  }
}
