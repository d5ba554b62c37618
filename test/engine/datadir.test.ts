/**
 * The embedded engine on a data directory (devstack/pglite/engine.ts + lock.ts), in this process:
 * the lock's life cycle (taken, refused, released, taken over when stale) and a damaged directory's message.
 * The cross-process cases run against a real `npm start` in test/e2e/datadir.test.ts.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataDirDamagedError, openEmbedded } from '../../devstack/pglite/engine.ts';
import { acquireDataDirLock, DataDirInUseError, procStartTime } from '../../devstack/pglite/lock.ts';
import { ensureTemplate } from '../../devstack/templates/pglite.ts';

let parent: string;
let template: Blob;
beforeAll(async () => {
  parent = await mkdtemp(join(tmpdir(), 'ajc-engine-'));
  template = new Blob([readFileSync(await ensureTemplate())]);
});
afterAll(async () => {
  await rm(parent, { recursive: true, force: true });
});

describe('data directory lock', () => {
  it('is held while open (pid, command), refuses a second opener, and is gone after close', async () => {
    const dir = join(parent, 'held');
    const db = await openEmbedded({ dataDir: dir, loadDataDir: template });
    try {
      const info = JSON.parse(readFileSync(`${dir}.lock`, 'utf8'));
      expect(info).toMatchObject({ pid: process.pid, command: expect.any(String) });
      const second = await openEmbedded({ dataDir: dir }).catch((e: unknown) => e);
      expect(second).toBeInstanceOf(DataDirInUseError);
      expect((second as Error).message).toMatch(/is in use by .* \(pid \d+\) in this process/);
    } finally {
      await db.close();
    }
    expect(existsSync(`${dir}.lock`)).toBe(false);
  });

  it('takes over a stale lock: a dead pid, or a live pid that is another process (reused)', async () => {
    const dir = join(parent, 'stale');
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => dead.on('exit', r));
    const stale = [
      { pid: dead.pid, command: 'npm start', startedAt: '2025-01-01T00:00:00Z', dbUrl: 'postgresql://postgres:postgres@127.0.0.1:1/postgres' },
      // our parent is alive, but it did not start at this time: the pid was reused
      { pid: process.ppid, procStart: (procStartTime(process.ppid) ?? 0) + 12345, command: 'npm start', startedAt: '2025-01-01T00:00:00Z' },
    ];
    for (const info of stale) {
      writeFileSync(`${dir}.lock`, JSON.stringify(info));
      const lock = await acquireDataDirLock(dir); // what openEmbedded does first
      expect(JSON.parse(readFileSync(`${dir}.lock`, 'utf8'))).toMatchObject({ pid: process.pid, procStart: procStartTime(process.pid) });
      lock.release();
      expect(existsSync(`${dir}.lock`)).toBe(false);
    }
  });

  it('refuses while another live process holds it, with the holder and its database URL', async () => {
    const dir = join(parent, 'live');
    const url = 'postgresql://postgres:postgres@127.0.0.1:54399/postgres';
    writeFileSync(`${dir}.lock`, JSON.stringify({ pid: process.ppid, procStart: procStartTime(process.ppid), command: 'npm start', startedAt: 'x', stack: true, dbUrl: url }));
    try {
      const err = await openEmbedded({ dataDir: dir }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DataDirInUseError);
      expect((err as Error).message).toBe(`${dir} is in use by npm start (pid ${process.ppid}): stop it, or pass --database-url ${url}`);
      expect(existsSync(join(dir, 'PG_VERSION'))).toBe(false); // refused before touching a file
    } finally {
      rmSync(`${dir}.lock`);
    }
  });
});

describe('damaged data directory', () => {
  it('says how to recover instead of "Aborted()", and releases the lock', async () => {
    const dir = join(parent, 'held'); // a real data directory, closed by the first test
    expect(existsSync(join(dir, 'PG_VERSION'))).toBe(true);
    rmSync(join(dir, 'global', 'pg_control')); // what a second writer or a half copy leaves behind
    for (let attempt = 0; attempt < 2; attempt++) {
      const err = (await openEmbedded({ dataDir: dir }).catch((e: unknown) => e)) as DataDirDamagedError;
      expect(err).toBeInstanceOf(DataDirDamagedError);
      expect(err.message).toMatch(/^the embedded database in \S+ cannot be opened \(Aborted\(\)/);
      expect(err.message).toMatch(/damaged/);
      expect(err.hint).toMatch(/npm start -- --reset .*DELETES everything in \S+ \(add --data-dir \S+\)/);
      expect(existsSync(`${dir}.lock`)).toBe(false); // the second attempt is told the same, not "in use"
    }
  });
});
