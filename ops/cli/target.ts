/**
 * How a CLI names the database it works on (`--database-url URL` or `DATABASE_URL`; the devstack's
 * `--data-dir`), for messages and for the commands it suggests next. Opening it is the entry point's job
 * (devstack/target.ts for the embedded database).
 */
import { stringOpt, type Values } from './args.ts';

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

/** The URL a user can paste into a later command: the local stack's well-known password stays, others are elided. */
export function pasteableUrl(url: string): string {
  const m = /\/\/[^:/@]+:([^@]*)@/.exec(url);
  return m && m[1] !== '' && m[1] !== 'postgres' ? redactUrl(url) : url;
}

/** Quotes a word for a POSIX shell when it needs it. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `--database-url` / `--data-dir` as the user gave them, for the commands a CLI suggests next. */
export function targetArgs(values: Values): string[] {
  const out: string[] = [];
  const url = stringOpt(values, 'database-url');
  if (url) out.push('--database-url', shellQuote(pasteableUrl(url)));
  const dir = stringOpt(values, 'data-dir');
  if (dir) out.push('--data-dir', shellQuote(dir));
  return out;
}

/** `npm run <script>` with arguments after `--` when there are any. */
export function npmRun(script: string, args: string[]): string {
  return `npm run ${script}${args.length ? ` -- ${args.join(' ')}` : ''}`;
}
