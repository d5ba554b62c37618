/**
 * One opener per embedded data directory, with a real `npm start` on a real data directory:
 * - `npm start --reset` (no `--`): npm keeps the flag for itself; the stack still resets (and seeds);
 * - a second opener in another process is refused at once, naming the holder and the way out;
 * - a second `npm start` and `db:reset` refuse; `seed:legacy` goes through the stack's port and loses
 *   no row while the API writes at the same time;
 * - killing only the outermost npm process stops the stack: ports free, Deno workers gone, lock released,
 *   and the directory opens afterwards with every row in it;
 * - then db:reset starts over and applies supabase/seed.sql.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEmbedded } from '../../devstack/pglite/engine.ts';
import { openPostgres, type Db } from '../../ops/db.ts';
import { DataDirInUseError } from '../../devstack/pglite/lock.ts';
import { projectRoot } from '../../ops/migrations/runner.ts';
import { signUserToken } from '../../devstack/stack/keys.ts';

const ALICE = '00000000-0000-4000-8000-00000000a11c'; // from supabase/seed.sql

let parent: string;
let dataDir: string;
let npm: ChildProcess;
let out = '';
let dbUrl: string;
let functionsUrl: string;
let admin: Db;
/** Row counts the last test expects to find on disk after the stack is gone. */
let expected: { legacy: number; v2: number } | undefined;

/** Runs a project script the way its npm script does (node + tsx loader), collecting its output. */
function runScript(script: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'scripts', script), ...args], {
      cwd: projectRoot,
      env: { ...process.env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout.on('data', (b: Buffer) => (text += b.toString()));
    child.stderr.on('data', (b: Buffer) => (text += b.toString()));
    child.on('exit', (code) => resolve({ code, out: text }));
  });
}

/** Every live descendant of `pid` (Linux /proc). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch {
      /* exited meanwhile */
    }
  }
  const all: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      all.push(c);
      walk(c);
    }
  };
  walk(pid);
  return all;
}

/** Running (a zombie waiting for its parent to reap it counts as gone). */
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

const portOpen = (url: string) =>
  new Promise<boolean>((resolve) => {
    const { hostname, port } = new URL(url);
    const s = connect(Number(port), hostname);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  parent = await mkdtemp(join(tmpdir(), 'ajc-datadir-'));
  dataDir = join(parent, 'db');
  // A directory with something in it that only a reset removes.
  mkdirSync(dataDir);
  writeFileSync(join(dataDir, 'reset-marker'), 'only --reset deletes this file');

  // `npm start --reset` without `--`: npm keeps --reset for itself (npm_config_reset) and runs the script.
  npm = spawn('npm', ['start', '--reset', '--', '--data-dir', dataDir, '--db-port', '0', '--api-port', '0'], {
    cwd: projectRoot,
    env: { ...process.env, FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so afterAll can clean up whatever a failure leaves
  });
  npm.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  npm.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  await until('npm start is up', () => out.includes('Press Ctrl-C') || npm.exitCode !== null, 170_000);
  expect(out).toContain('Press Ctrl-C');
  dbUrl = /DB URL: (\S+)/.exec(out)![1]!;
  functionsUrl = /Functions URL: (\S+)\/<name>/.exec(out)![1]!;
  admin = await openPostgres(dbUrl, { max: 1 });
}, 180_000);

afterAll(async () => {
  await admin?.close().catch(() => {});
  if (npm?.pid && npm.exitCode === null && npm.signalCode === null) {
    try {
      process.kill(-npm.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const pid of npm?.pid ? descendants(npm.pid) : []) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  if (parent) await rm(parent, { recursive: true, force: true });
});

describe('npm start on a data directory', () => {
  it('honours --reset written without -- (npm swallows it), and seeds the new database', async () => {
    expect(out).toMatch(/note: npm kept --reset for itself; honouring it\. Flags for this command go after --: npm start -- --reset/);
    expect(out).toContain(`reset: deleted ${dataDir} and created it again`);
    expect(existsSync(join(dataDir, 'reset-marker'))).toBe(false);
    const [r] = await admin.query<{ alice: number }>(`select count(*)::int as alice from auth.users where id = $1`, [ALICE]);
    expect(r).toEqual({ alice: 1 });
  });

  it('refuses a second opener in another process at once, naming the holder and the way out', async () => {
    const holderPid = Number(JSON.parse(readFileSync(`${dataDir}.lock`, 'utf8')).pid);
    expect(descendants(npm.pid!)).toContain(holderPid);
    const err = await openEmbedded({ dataDir }).then(
      async (db) => {
        await db.close();
        return null;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DataDirInUseError);
    expect((err as Error).message).toBe(`${dataDir} is in use by npm start (pid ${holderPid}): stop it, or pass --database-url ${dbUrl}`);
  });

  it('a second npm start and db:reset refuse; seed:legacy goes through the stack and loses no row', async () => {
    const count = async () =>
      (await admin.query<{ legacy: number; v2: number }>(
        `select (select count(*)::int from public.chat_messages) as legacy, (select count(*)::int from public.chat_messages_v2) as v2`,
      ))[0]!;
    const before = await count();
    const token = await signUserToken(ALICE);
    const conversation = crypto.randomUUID();
    const post = async (i: number) => {
      const res = await fetch(`${functionsUrl}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ conversation_id: conversation, role: 'user', content: `written while seeding #${i}`, client_message_id: `seed-${i}` }),
      });
      await res.text();
      return res.status;
    };

    const [second, reset, seed, statuses] = await Promise.all([
      runScript('start.ts', ['--data-dir', dataDir, '--db-port', '0', '--api-port', '0']),
      runScript('db.ts', ['reset', '--data-dir', dataDir]),
      runScript('seed-legacy.ts', ['--data-dir', dataDir, '--conversations', '20', '--messages', '400', '--seed', '4']),
      (async () => {
        const s: number[] = [];
        for (let i = 0; i < 12; i++) s.push(await post(i));
        return s;
      })(),
    ]);

    expect(second.code, second.out).toBe(1);
    expect(second.out).toMatch(/error: \S+ is in use by npm start \(pid \d+\): stop it first .*, or start another stack on its own data: npm start -- --data-dir \S+ --db-port 0 --api-port 0/);
    expect(second.out).not.toContain('Started');

    expect(reset.code, reset.out).toBe(1);
    expect(reset.out).toMatch(/error: \S+ is in use by npm start \(pid \d+\): stop it first \(Ctrl-C in its terminal\), then run npm run db:reset again/);
    expect(reset.out).not.toContain('removed');

    expect(seed.code, seed.out).toBe(0);
    expect(seed.out).toContain(`is open in npm start (pid `);
    expect(seed.out).toContain(`using its database at ${dbUrl}`);
    expect(seed.out).toMatch(/seeded 400 messages/);

    expect(statuses.every((s) => s === 201), String(statuses)).toBe(true);
    expected = { legacy: before.legacy + 400, v2: before.v2 + 12 };
    expect(await count()).toEqual(expected);
  });

  it('stops when only the outermost npm process is killed: ports free, workers gone, lock released, data kept', async () => {
    const family = descendants(npm.pid!);
    const deno = family.filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('deno');
      } catch {
        return false;
      }
    });
    expect(deno.length).toBeGreaterThanOrEqual(4);
    await admin.close();

    process.kill(npm.pid!, 'SIGKILL'); // npm alone: sh, tsx, the stack and the workers are not signalled
    await until('the stack has shut down', async () => !existsSync(`${dataDir}.lock`) && family.every((p) => !alive(p)));
    expect(await portOpen(dbUrl)).toBe(false);
    expect(await portOpen(functionsUrl)).toBe(false);
    expect(out).toMatch(/launcher npm .*is gone: stopping…/);
    expect(out).toContain('stopped.');

    // The directory opens (db:reset did not touch it) and holds every row written above.
    expect(expected).toBeDefined();
    const db = await openEmbedded({ dataDir });
    try {
      const [r] = await db.query<{ legacy: number; v2: number }>(
        `select (select count(*)::int from public.chat_messages) as legacy, (select count(*)::int from public.chat_messages_v2) as v2`,
      );
      expect(r).toEqual(expected);
    } finally {
      await db.close();
    }
  });

  it('db:reset, once the directory is free, starts over and applies supabase/seed.sql like supabase db reset', async () => {
    const reset = await runScript('db.ts', ['reset', '--data-dir', dataDir]);
    expect(reset.code, reset.out).toBe(0);
    expect(reset.out).toContain('applied supabase/seed.sql');
    const db = await openEmbedded({ dataDir });
    try {
      const [r] = await db.query<{ alice: number; agents: number; others: number; v2: number }>(
        `select (select count(*)::int from auth.users where id = $1) as alice,
                (select count(*)::int from public.agents where owner_id = $1) as agents,
                (select count(*)::int from public.chat_messages m where not exists (
                   select 1 from auth.users u where u.id = m.user_id and u.email in ('alice@example.test', 'bob@example.test'))) as others,
                (select count(*)::int from public.chat_messages_v2) as v2`,
        [ALICE],
      );
      expect(r).toEqual({ alice: 1, agents: 1, others: 0, v2: 0 }); // the demo data, and nothing seeded or written above
    } finally {
      await db.close();
    }
  });
});
