/**
 * The CLIs' argument parser (ops/cli/args.ts): strict, and aware of what npm does to flags written before
 * `--`. The real npm and the real scripts are exercised in test/e2e/datadir.test.ts (`npm start --reset`)
 * and test/driver/kill.test.ts (`data:migrate --batchsize 10`).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { intOpt, parseCli, UsageError, type CliSpec } from '../../ops/cli/args.ts';

const spec: CliSpec = {
  usage: 'usage: npm run db:<command> -- [options]',
  entry: 'scripts/db.ts',
  positionals: 1,
  options: { reset: { type: 'boolean' }, 'no-seed': { type: 'boolean' }, 'batch-size': { type: 'string' }, 'data-dir': { type: 'string' } },
};
/** The environment npm gives `npm run db:reset …`: its lifecycle variables plus npm_config_* for flags it kept. */
const npmEnv = (extra: Record<string, string>) => ({ npm_lifecycle_event: 'db:reset', npm_lifecycle_script: 'tsx scripts/db.ts reset', ...extra });

afterEach(() => vi.restoreAllMocks());

describe('parseCli', () => {
  it('refuses unknown flags, typos and stray words with the usage, suggesting the near miss', () => {
    const cases: Array<[string[], RegExp]> = [
      [['reset', '--bogus'], /^Unknown option '--bogus'$/],
      [['reset', '--batchsize', '2000'], /^Unknown option '--batchsize' \(did you mean --batch-size\?\)$/],
      [['reset', '--batch-size'], /argument missing/],
      [['reset', 'extra'], /^unexpected argument "extra"$/],
    ];
    for (const [argv, msg] of cases) {
      let err: unknown;
      try {
        parseCli(spec, argv, {});
      } catch (e) {
        err = e;
      }
      expect(err, argv.join(' ')).toBeInstanceOf(UsageError);
      expect((err as UsageError).message).toMatch(msg);
      expect((err as UsageError).usage).toBe(spec.usage);
    }
    expect(() => intOpt({ 'batch-size': 'many' }, 'batch-size', 5000)).toThrow(/--batch-size must be a whole number ≥ 1 \(got "many"\)/);
  });

  it('honours flags npm kept for itself (npm start --reset, --no-seed, --name=value), with a note', () => {
    const notes: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((m: string) => void notes.push(m));
    const r = parseCli(spec, ['reset'], npmEnv({ npm_config_reset: 'true', npm_config_seed: '', npm_config_batch_size: '10' }));
    expect(r.values).toMatchObject({ reset: true, 'no-seed': true, 'batch-size': '10' });
    expect(notes).toContain('note: npm kept --reset for itself; honouring it. Flags for this command go after --: npm run db:reset -- --reset');
    expect(notes).toContain('note: npm kept --batch-size for itself; honouring it. Flags for this command go after --: npm run db:reset -- --batch-size 10');
  });

  it('refuses a value flag whose value npm passed on as a stray word, showing the -- form', () => {
    // `npm run db:reset --data-dir /tmp/x`: npm sets npm_config_data_dir=true and passes "/tmp/x" along
    expect(() => parseCli(spec, ['reset', '/tmp/x'], npmEnv({ npm_config_data_dir: 'true' }))).toThrow(
      /npm took --data-dir for itself \(it goes after --\): npm run db:reset -- --data-dir VALUE/,
    );
  });

  it('ignores npm_config_* when npm launched another script (a test run, a parent npm start)', () => {
    const r = parseCli(spec, ['reset'], { npm_lifecycle_event: 'test', npm_lifecycle_script: 'vitest run', npm_config_reset: 'true' });
    expect(r.values.reset).toBeUndefined();
  });
});
