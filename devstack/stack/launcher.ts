/**
 * Notices when the process that launched the local stack is gone.
 *
 * `npm start` runs npm → sh → tsx → node (the stack). Killing npm alone (a closed IDE task, a supervisor
 * that signals only its direct child, `kill <npm pid>`) does not reach the stack: npm does not forward
 * the signal, and the stack would keep its ports, its data directory lock and its Deno workers forever.
 * So the stack remembers its chain of launchers up to npm (or just its parent when npm did not launch it)
 * and checks once a second that every link still holds — each launcher alive, with the same start time,
 * still the parent of the next. A broken link (the process died, or its child was re-parented) means the
 * launcher is gone: the stack shuts down as on Ctrl-C.
 */
import { readFileSync } from 'node:fs';
import { procStartTime } from '../pglite/lock.ts';

interface Link {
  pid: number;
  start: number | undefined;
  name: string;
}

function readStat(pid: number): { ppid: number; name: string } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return { ppid, name };
  } catch {
    return null;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '';
  }
}

/** The launcher chain from our parent up to npm (inclusive) when npm ran us, else just the parent. */
export function launcherChain(): Link[] {
  const chain: Link[] = [];
  let pid = process.ppid;
  const underNpm = Boolean(process.env.npm_lifecycle_event);
  for (let depth = 0; depth < 6 && pid > 1; depth++) {
    const st = readStat(pid);
    if (!st) break;
    chain.push({ pid, start: procStartTime(pid), name: st.name });
    // npm retitles itself ("npm start"); its cmdline may also name npm-cli.js
    if (/^npm\b/.test(st.name) || /(^|\/)npm(-cli\.js)?( |$)/.test(cmdline(pid))) return chain;
    if (!underNpm) return chain;
    pid = st.ppid;
  }
  return chain.slice(0, 1); // npm not found above us: watch the parent only
}

/**
 * Calls `onGone` once when a launcher of this process is gone. Returns the function that stops watching.
 * Off Linux (no /proc) it watches the parent pid only.
 */
export function watchLauncher(onGone: (who: string) => void, intervalMs = 1000): () => void {
  const chain = launcherChain();
  const parent = process.ppid;
  const check = (): string | null => {
    if (process.ppid !== parent) return `parent process ${parent}`;
    for (let i = 0; i < chain.length; i++) {
      const link = chain[i]!;
      const st = readStat(link.pid);
      const label = `${link.name} (pid ${link.pid})`;
      if (!st) return label;
      if (link.start !== undefined && procStartTime(link.pid) !== link.start) return label;
      const up = chain[i + 1];
      if (up && st && st.ppid !== up.pid) return `${up.name} (pid ${up.pid})`;
    }
    return null;
  };
  const timer = setInterval(() => {
    const gone = check();
    if (gone) {
      clearInterval(timer);
      onGone(gone);
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
