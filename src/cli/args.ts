/** Tiny flag parser shared by the CLI entry points: `--name value`, `--name=value`, `--flag`. */
export type Flags = Record<string, string | boolean>;

export function parseFlags(argv: string[]): { flags: Flags; positional: string[] } {
  const flags: Flags = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    if (eq !== -1) flags[a.slice(2, eq)] = a.slice(eq + 1);
    else if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) flags[a.slice(2)] = argv[++i]!;
    else flags[a.slice(2)] = true;
  }
  return { flags, positional };
}

export function intFlag(flags: Flags, name: string, fallback: number, min = 1): number {
  const v = flags[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    throw new UsageError(`--${name} must be a whole number ≥ ${min} (got ${JSON.stringify(v)})`);
  }
  return n;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Default embedded data directory shared by `npm start` and the db:* / data:* scripts. */
export const defaultDataDir = '.data/db';

/** Runs a CLI main; prints errors without a stack trace for the user's own mistakes. */
export function runMain(main: () => Promise<void | number>): void {
  main().then(
    (code) => {
      process.exitCode = typeof code === 'number' ? code : 0;
    },
    (err: unknown) => {
      const e = err as Error & { hint?: string; code?: string };
      console.error(`error: ${e?.message ?? String(err)}`);
      if (e?.hint) console.error(`hint: ${e.hint}`);
      if (process.env.DEBUG && e?.stack) console.error(e.stack);
      process.exitCode = 1;
    },
  );
}
