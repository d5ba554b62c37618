import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Queryable } from '../../ops/db.ts';
import { projectRoot } from '../../ops/migrations/runner.ts';

/**
 * The ledger invariant of the data migration at this instant: every legacy row is migrated, quarantined, or not yet
 * reached (above the run's cursor); nothing is both, nothing twice.
 */
export interface Invariant {
  gaps: number;
  duplicate_v2: number;
  duplicate_quarantine: number;
  both: number;
  migrated: number;
  quarantined: number;
  legacy: number;
  cursor: number;
}

export async function ledgerInvariant(db: Queryable): Promise<Invariant> {
  const r = await db.query<Invariant>(`
    with run as (select coalesce((select (checkpoint ->> 'cursor')::bigint from chat_migration.runs
                                   where name = 'chat_messages' order by id desc limit 1), 0) as cursor),
    q as (select source_id::bigint as id from chat_migration.quarantine
           where source_table = 'chat_messages' and resolved_at is null)
    select
      (select count(*)::int from public.chat_messages m, run
        where m.id <= run.cursor
          and not exists (select 1 from public.chat_messages_v2 v where v.legacy_id = m.id)
          and not exists (select 1 from q where q.id = m.id)) as gaps,
      (select count(*)::int from (select legacy_id from public.chat_messages_v2 where legacy_id is not null
                                  group by 1 having count(*) > 1) d) as duplicate_v2,
      (select count(*)::int from (select id from q group by 1 having count(*) > 1) d) as duplicate_quarantine,
      (select count(*)::int from q join public.chat_messages_v2 v on v.legacy_id = q.id) as both,
      (select count(*)::int from public.chat_messages m
        where exists (select 1 from public.chat_messages_v2 v where v.legacy_id = m.id)) as migrated,
      (select count(*)::int from q) as quarantined,
      (select count(*)::int from public.chat_messages) as legacy,
      (select cursor::int from run) as cursor`);
  return r[0]!;
}

export interface Child {
  proc: ChildProcess;
  out: string[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when `n` lines matching `re` have been printed (or the process ends). */
  waitLines(re: RegExp, n: number): Promise<number>;
}

/**
 * Spawns `node --import tsx scripts/data.ts …` as a real child process. Node itself, not the `tsx` binary:
 * that one is a wrapper that runs node in a grandchild, which a SIGKILL of the wrapper would leave running.
 */
export function spawnData(args: string[], env: Record<string, string> = {}): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'scripts', 'data.ts'), ...args], {
    cwd: projectRoot,
    env: { ...process.env, ...env, FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: string[] = [];
  const waiters: (() => void)[] = [];
  let buf = '';
  const onData = (d: Buffer) => {
    buf += d.toString('utf8');
    const lines = buf.split('\n');
    buf = lines.pop()!;
    out.push(...lines);
    for (const w of [...waiters]) w();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => {
      for (const w of [...waiters]) w();
      resolve({ code, signal });
    }),
  );
  const waitLines = (re: RegExp, n: number) =>
    new Promise<number>((resolve) => {
      const check = () => {
        const seen = out.filter((l) => re.test(l)).length;
        if (seen >= n || proc.exitCode !== null || proc.signalCode !== null) {
          const i = waiters.indexOf(check);
          if (i >= 0) waiters.splice(i, 1);
          resolve(seen);
        }
      };
      waiters.push(check);
      check();
    });
  return { proc, out, exit, waitLines };
}
