/**
 * The driver process really killed (SIGKILL) at random batch boundaries, then resumed; and Ctrl-C (SIGINT)
 * stopping cleanly after the current batch. The child is `tsx scripts/data.ts migrate` connected through
 * the Postgres wire protocol to this process's PGlite (pglite-socket), so a killed client's open
 * transaction is rolled back exactly as a server would when the connection drops.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../ops/db.ts';
import { getStatus, runMigration, verify } from '../../ops/data-migration/driver.ts';
import { prng, seedLegacy, type SeedResult } from '../../ops/seed/legacy.ts';
import { openMigrated, serveDb } from '../helpers/db.ts';
import { ledgerInvariant, spawnData } from './helpers.ts';
import { pgliteOf } from '../../devstack/pglite/engine.ts';

let db: Db;
let socket: { url: string; stop(): Promise<void> };
let seeded: SeedResult;
const batchSize = 7;

beforeAll(async () => {
  db = await openMigrated();
  seeded = await seedLegacy(db, { conversations: 12, messages: 260, dirtyRate: 0.15, seed: 11 });
  socket = await serveDb(db);
});
afterAll(async () => {
  await socket?.stop();
  await db?.close();
});

/** After a client dies, the server (or pglite-socket) rolls its transaction back; wait until that happened. */
async function settle() {
  const open = async () =>
    pgliteOf(db)
      ? pgliteOf(db)!.isInTransaction()
      : (await db.query<{ n: number }>(
          `select count(*)::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`,
        ))[0]!.n > 0;
  for (let i = 0; i < 80 && (await open()); i++) await new Promise((r) => setTimeout(r, 25));
  await new Promise((r) => setTimeout(r, 50));
  if (await open()) {
    throw new Error('the killed client left a transaction open');
  }
}

const batchLine = /^backfill: \d+\/\d+/;

describe('data:migrate as a real process', () => {
  it('refuses an unknown or misspelled flag with exit 2 and the usage line, and migrates nothing', async () => {
    // a typo, an unknown flag, and a flag of another command (quarantine's --limit)
    const cases: Array<[string[], RegExp]> = [
      [['--batchsize', '10'], /error: Unknown option '--batchsize' \(did you mean --batch-size\?\)/],
      [['--bogus'], /error: Unknown option '--bogus'/],
      [['--batch-size', '10', '--limit', '3'], /error: Unknown option '--limit'/],
    ];
    const children = cases.map(([args]) => spawnData(['migrate', ...args, '--database-url', socket.url]));
    for (const [i, [, message]] of cases.entries()) {
      const { code } = await children[i]!.exit;
      const out = children[i]!.out.join('\n');
      expect(code, out).toBe(2);
      expect(out).toMatch(message);
      expect(out).toMatch(/^usage: npm run data:<command>/m);
      expect(out).not.toMatch(/migrating chat_messages/);
    }
    const ran = await db.query<{ runs: number; v2: number }>(
      `select (select count(*)::int from chat_migration.runs) as runs, (select count(*)::int from public.chat_messages_v2) as v2`,
    );
    expect(ran[0]).toEqual({ runs: 0, v2: 0 });
  });

  it('killed with SIGKILL at random batch boundaries (6 trials) resumes with no duplicates and no gaps', async () => {
    const rnd = prng(2024);
    let killed = 0;
    for (let trial = 0; trial < 6; trial++) {
      const before = await ledgerInvariant(db);
      const k = 1 + Math.floor(rnd() * 4);
      const child = spawnData(['migrate', '--batch-size', String(batchSize), '--log-every', '1', '--database-url', socket.url]);
      const seen = await child.waitLines(batchLine, k + 1); // the first line is the starting position
      // Half the trials die right at the boundary, half somewhere inside the next batch.
      if (rnd() < 0.5) await new Promise((r) => setTimeout(r, Math.floor(rnd() * 30)));
      const wasRunning = child.proc.exitCode === null;
      child.proc.kill('SIGKILL');
      const { signal } = await child.exit;
      if (wasRunning) {
        expect(signal).toBe('SIGKILL');
        killed++;
      }
      await settle();
      const inv = await ledgerInvariant(db);
      expect(inv, `trial ${trial} after ${seen} lines: ${child.out.join('\n')}`).toMatchObject({
        gaps: 0,
        duplicate_v2: 0,
        duplicate_quarantine: 0,
        both: 0,
      });
      // Committed batches stay committed: progress only moves forward.
      expect(inv.migrated + inv.quarantined).toBeGreaterThanOrEqual(before.migrated + before.quarantined);
      expect(inv.cursor).toBeGreaterThanOrEqual(before.cursor);
    }
    expect(killed).toBeGreaterThanOrEqual(5);

    // Resume to the end in a new process.
    const last = spawnData(['migrate', '--batch-size', String(batchSize), '--log-every', '5', '--database-url', socket.url]);
    const { code } = await last.exit;
    expect(code, last.out.join('\n')).toBe(0);
    expect(last.out.join('\n')).toMatch(/resuming: \d+ of \d+/);
    await settle();
    const inv = await ledgerInvariant(db);
    expect(inv).toMatchObject({ gaps: 0, duplicate_v2: 0, duplicate_quarantine: 0, both: 0 });
    expect(inv.migrated).toBe(seeded.expectedMigrated);
    expect(inv.quarantined).toBe(seeded.expectedQuarantine.messages);
    expect(inv.migrated + inv.quarantined).toBe(seeded.messages);
    const v = await verify(db);
    expect(v.rows.filter((r) => !r.ok)).toEqual([]);
    // Batch log: consecutive numbers, keyset ranges that never overlap.
    const overlaps = await db.query<{ n: number }>(`
      select count(*)::int as n from chat_migration.batches a join chat_migration.batches b
        on a.run_id = b.run_id and a.batch_number < b.batch_number and a.phase = 'backfill' and b.phase = 'backfill'
       and a.last_id >= b.first_id`);
    expect(overlaps[0]!.n).toBe(0);
  });

  it('stops cleanly after the current batch on Ctrl-C (SIGINT) and prints how to resume', async () => {
    // Fresh legacy rows for a new run.
    await seedLegacy(db, { conversations: 4, messages: 120, dirtyRate: 0.1, seed: 12 });
    const child = spawnData(['migrate', '--batch-size', '5', '--log-every', '1', '--rate', '400', '--database-url', socket.url, '--data-dir', 'ignored/when/a/url/is/given']);
    await child.waitLines(batchLine, 3);
    child.proc.kill('SIGINT');
    const { code } = await child.exit;
    const out = child.out.join('\n');
    expect(code, out).toBe(130);
    expect(out).toMatch(/stopping after the current batch/);
    expect(out).toMatch(/stopped after batch (\d+)/);
    // the hint repeats where the run went (--database-url, --data-dir), not just its pace
    expect(out).toContain(`resume with: npm run data:migrate -- --database-url ${socket.url} --data-dir ignored/when/a/url/is/given --batch-size 5 --rate 400`);
    await settle();
    const stoppedAt = Number(/stopped after batch (\d+)/.exec(out)![1]);
    const s = await getStatus(db);
    expect(s.status).toBe('running'); // resumable, not failed
    expect(s.processed).toBe(stoppedAt * 5); // exactly the batches it reported, all committed
    expect(await ledgerInvariant(db)).toMatchObject({ gaps: 0, duplicate_v2: 0, both: 0 });

    const r = await runMigration(db, { batchSize: 50 });
    expect(r.reason).toBe('done');
    const inv = await ledgerInvariant(db);
    expect(inv.migrated + inv.quarantined).toBe(inv.legacy);
    expect((await verify(db)).ok).toBe(true);
  });

  it('data:status, data:verify and data:quarantine over the wire; verify exits 1 on a mismatch', async () => {
    const status = spawnData(['status', '--database-url', socket.url]);
    expect((await status.exit).code).toBe(0);
    expect(status.out.join('\n')).toMatch(/status\s+\| completed/);
    const q = spawnData(['quarantine', '--limit', '3', '--database-url', socket.url]);
    expect((await q.exit).code).toBe(0);
    expect(q.out.join('\n')).toMatch(/\(3 rows\)/);
    await settle();
    // A v2 row drifts from its legacy row (e.g. edited outside dual_write): verify must say so.
    await db.query(`update public.chat_messages set content = 'drifted' where id = (select min(legacy_id) from public.chat_messages_v2)`);
    const v = spawnData(['verify', '--database-url', socket.url]);
    const { code } = await v.exit;
    expect(code, v.out.join('\n')).toBe(1);
    expect(v.out.join('\n')).toMatch(/verification FAILED: .*message_content/);
  });
});
