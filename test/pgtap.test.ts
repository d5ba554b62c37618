/**
 * Every supabase/tests/database/*.test.sql (pgTAP, the files `supabase test db` runs) inside PGlite, each
 * on its own fresh copy of the migrated template with pgTAP installed in `extensions`.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openEmbedded } from '../src/db/engine.ts';
import { projectRoot } from '../src/db/runner.ts';
import { openMigrated } from '../src/db/template.ts';
import { parseTap, pgtapSetupSql, runTapFile, tapFailures } from './helpers/pgtap.ts';

const dir = join(projectRoot, 'supabase', 'tests', 'database');
const files = readdirSync(dir).filter((f) => f.endsWith('.test.sql')).sort();

/** The migrated template with pgTAP installed, dumped once and loaded per file (~1 s instead of ~4 s). */
let image: Blob;
beforeAll(async () => {
  const db = await openMigrated();
  try {
    await db.exec(pgtapSetupSql);
    image = await db.pglite!.dumpDataDir('none');
  } finally {
    await db.close();
  }
});

describe('pgTAP (supabase/tests/database)', () => {
  it('has test files', () => {
    expect(files).toContain('00_legacy_schema.test.sql');
  });

  for (const file of files) {
    it(file, async () => {
      const db = await openEmbedded({ loadDataDir: image });
      try {
        const result = await runTapFile(db.pglite!, await readFile(join(dir, file), 'utf8'));
        const failures = tapFailures(result);
        if (failures.length) throw new Error(`${file}:\n${failures.join('\n')}`);
        expect(result.tests.length).toBeGreaterThan(0);
      } finally {
        await db.close();
      }
    });
  }
});

describe('TAP parser', () => {
  it('reads plan, ok / not ok, TODO and diagnostics', () => {
    const r = parseTap([
      '1..4',
      'ok 1 - tables exist',
      'not ok 2 - RLS is enabled on agents',
      '# Failed test 2: "RLS is enabled on agents"',
      '#         have: false',
      '#         want: true',
      'not ok 3 - later # TODO not yet',
      'ok 4 - skipped # SKIP no vector',
      '# Looks like you failed 2 tests of 4',
    ]);
    expect(r.plan).toBe(4);
    expect(r.tests.map((t) => [t.ok, t.number, t.description])).toEqual([
      [true, 1, 'tables exist'],
      [false, 2, 'RLS is enabled on agents'],
      [false, 3, 'later'],
      [true, 4, 'skipped'],
    ]);
    expect(r.tests[1]!.diagnostics).toHaveLength(3);
    expect(tapFailures(r)).toEqual([
      'not ok 2 - RLS is enabled on agents\n# Failed test 2: "RLS is enabled on agents"\n#         have: false\n#         want: true',
    ]);
  });

  it('fails a file without a plan, with a count mismatch, or that stopped on an SQL error', () => {
    expect(tapFailures(parseTap(['ok 1 - a']))).toEqual([expect.stringMatching(/^no plan/)]);
    expect(tapFailures(parseTap(['1..2', 'ok 1 - a']))).toEqual(['planned 2 tests but ran 1']);
    expect(tapFailures({ ...parseTap(['1..1']), error: 'boom' })[0]).toBe('error: boom');
  });

  it('reports a real failing assertion from PGlite with its description', async () => {
    const db = await openEmbedded({ loadDataDir: image });
    try {
      const r = await runTapFile(
        db.pglite!,
        `begin; select plan(2); select ok(true, 'fine'); select is(1, 2, 'one is two'); select * from finish(); rollback;`,
      );
      expect(tapFailures(r)).toEqual([expect.stringMatching(/^not ok 2 - one is two\n# Failed test 2: "one is two"/)]);
    } finally {
      await db.close();
    }
  });
});
