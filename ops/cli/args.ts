/**
 * Argument parsing shared by the CLI entry points: `node:util` parseArgs with `strict: true`, so an unknown
 * or misspelled flag (`--batchsize`) stops the command before it does anything, with exit code 2 and the
 * usage line — it never runs with a default the user did not ask for.
 *
 * npm keeps flags written before `--` for itself (`npm start --reset` sets `npm_config_reset` and passes
 * nothing to the script). When npm launched this very script, such a flag for one of our options is
 * honoured with a note (booleans, `--name=value`), or refused with the `--` form to type (`--name value`,
 * whose value npm passed on as a stray word).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | undefined>;

export interface CliSpec {
  /** Full usage text; its first line is the usage line printed with every usage error. */
  usage: string;
  options: OptionSpec;
  /** How many positional arguments the command takes (default none). */
  positionals?: number;
  /** The entry point, e.g. `scripts/data.ts`: npm's flag handling is only trusted for this script. */
  entry: string;
}

export class UsageError extends Error {
  override name = 'UsageError';
  constructor(
    message: string,
    /** Printed after the message (the usage text). */
    readonly usage?: string,
  ) {
    super(message);
  }
}

/** `npm start` / `npm run data:migrate` for the npm script being run, or null when npm did not launch it. */
function npmCommand(entry: string, env: NodeJS.ProcessEnv): string | null {
  const event = env.npm_lifecycle_event;
  if (!event || !(env.npm_lifecycle_script ?? '').includes(entry)) return null;
  return event === 'start' || event === 'test' ? `npm ${event}` : `npm run ${event}`;
}

export function parseCli(
  spec: CliSpec,
  argv: string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): { values: Values; positionals: string[] } {
  const options: OptionSpec = { help: { type: 'boolean', short: 'h' }, ...spec.options };
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true }) as typeof parsed;
  } catch (e) {
    let msg = (e as Error).message.replace(/\.?\s*To specify a positional argument starting with a '-'.*$/s, '');
    const unknown = /^Unknown option '--?([^']+)'/.exec(msg)?.[1];
    const guess = unknown ? closest(unknown, Object.keys(options)) : undefined;
    if (guess) msg += ` (did you mean --${guess}?)`;
    throw new UsageError(msg, spec.usage);
  }
  const values: Values = { ...parsed.values };

  const npm = npmCommand(spec.entry, env);
  if (npm) {
    for (const [name, o] of Object.entries(spec.options)) {
      if (values[name] !== undefined) continue;
      const envName = (n: string) => `npm_config_${n.replace(/-/g, '_')}`;
      // npm reads `--no-seed` as seed=false and exports npm_config_seed as an empty string
      const negated = o.type === 'boolean' && name.startsWith('no-') && env[envName(name.slice(3))] === '';
      const v = negated ? 'true' : env[envName(name)];
      if (v === undefined || v === '') continue;
      if (o.type === 'boolean') {
        if (v !== 'true') continue;
        values[name] = true;
      } else if (v === 'true') {
        throw new UsageError(`npm took --${name} for itself (it goes after --): ${npm} -- --${name} VALUE`, spec.usage);
      } else {
        values[name] = v;
      }
      console.error(`note: npm kept --${name} for itself; honouring it. Flags for this command go after --: ${npm} -- --${name}${o.type === 'boolean' ? '' : ` ${v}`}`);
    }
  }

  if (values.help) {
    console.log(spec.usage);
    process.exit(0);
  }
  const max = spec.positionals ?? 0;
  if (parsed.positionals.length > max) {
    const extra = parsed.positionals.slice(max);
    throw new UsageError(
      `unexpected argument${extra.length > 1 ? 's' : ''} ${extra.map((x) => JSON.stringify(x)).join(' ')}` +
        (npm ? ` (with npm, flags go after --: ${npm} -- --flag value)` : ''),
      spec.usage,
    );
  }
  return { values, positionals: parsed.positionals };
}

/** The known option a typo most likely meant: same letters without dashes, or at most two edits away. */
function closest(typed: string, known: string[]): string | undefined {
  const norm = (x: string) => x.toLowerCase().replace(/[-_]/g, '');
  const exact = known.find((k) => norm(k) === norm(typed));
  if (exact) return exact;
  const dist = (a: string, b: string) => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) d[0]![j] = j;
    for (let i = 1; i <= a.length; i++)
      for (let j = 1; j <= b.length; j++)
        d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    return d[a.length]![b.length]!;
  };
  const best = known.map((k) => [k, dist(norm(k), norm(typed))] as const).sort((x, y) => x[1] - y[1])[0];
  return best && best[1] <= 2 ? best[0] : undefined;
}

export function stringOpt(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function intOpt(values: Values, name: string, fallback: number, min = 1): number {
  const v = values[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isInteger(n) || n < min) {
    throw new UsageError(`--${name} must be a whole number ≥ ${min} (got ${JSON.stringify(v)})`);
  }
  return n;
}

/**
 * Runs a CLI main; prints errors without a stack trace for the user's own mistakes.
 * Exit codes: what `main` returns (0 by default), 2 for a usage error, 1 for any other error.
 */
export function runMain(main: () => Promise<void | number>): void {
  main().then(
    (code) => {
      process.exitCode = typeof code === 'number' ? code : 0;
    },
    (err: unknown) => {
      const e = err as Error & { hint?: string; code?: string };
      console.error(`error: ${e?.message ?? String(err)}`);
      if (e?.hint) console.error(`hint: ${e.hint}`);
      if (err instanceof UsageError && err.usage) console.error(err.usage);
      if (process.env.DEBUG && e?.stack) console.error(e.stack);
      process.exitCode = err instanceof UsageError ? 2 : 1;
    },
  );
}
