/**
 * Every supabase/tests/database/*.test.sql (pgTAP, the files `supabase test db` runs) inside PGlite, each
 * on its own fresh copy of the migrated template with pgTAP installed in `extensions` — and on the native
 * lane on its own database cloned on the server, with the server's pgTAP (Debian's package).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { openEmbedded, pgliteOf } from '../devstack/pglite/engine.ts';
import type { Db } from '../ops/db.ts';
import { projectRoot } from '../ops/migrations/runner.ts';
import { onNative, openMigrated } from './helpers/db.ts';
import { expandIncludes, parseTap, pgtapSetupSql, runTapFile, tapFailures } from '../devstack/pgtap.ts';

const dir = join(projectRoot, 'supabase', 'tests', 'database');
const files = readdirSync(dir).filter((f) => f.endsWith('.test.sql')).sort();

/** The migrated template with pgTAP installed, dumped once and loaded per file (~1 s instead of ~4 s). */
let image: Blob;
beforeAll(async () => {
  if (onNative) return;
  const db = await openMigrated();
  try {
    await db.exec(pgtapSetupSql);
    image = await pgliteOf(db)!.dumpDataDir('none');
  } finally {
    await db.close();
  }
});

/** A fresh migrated database with pgTAP: a PGlite loaded from the image, or a server clone (native lane). */
async function withTapDb(fn: (target: PGlite | Db) => Promise<void>): Promise<void> {
  if (onNative) {
    const db = await openMigrated();
    try {
      await db.exec(pgtapSetupSql);
      await fn(db);
    } finally {
      await db.close();
    }
    return;
  }
  const db = await openEmbedded({ loadDataDir: image });
  try {
    await fn(pgliteOf(db)!);
  } finally {
    await db.close();
  }
}

describe('pgTAP (supabase/tests/database)', () => {
  it('has test files', () => {
    expect(files).toContain('00_legacy_schema.test.sql');
  });

  for (const file of files) {
    it(file, async () => {
      await withTapDb(async (target) => {
        const result = await runTapFile(target, await readFile(join(dir, file), 'utf8'), { dir });
        const failures = tapFailures(result);
        if (failures.length) throw new Error(`${file}:\n${failures.join('\n')}`);
        expect(result.tests.length).toBeGreaterThan(0);
      });
    });
  }
});

describe('shared setup (pgtap_setup.psql)', () => {
  it('every test file includes it right after begin, and none repeats the pgTAP grants itself', async () => {
    for (const file of files) {
      const sql = await readFile(join(dir, file), 'utf8');
      expect(sql, file).toMatch(/^begin;\n\\ir pgtap_setup\.psql\n/m);
      expect(sql, file).not.toMatch(/grant execute on function/);
    }
  });

  it('expands \\ir relative to the including file, and refuses one it cannot find', () => {
    const sql = expandIncludes('begin;\n\\ir pgtap_setup.psql\nselect plan(1);', dir);
    expect(sql).toContain("execute format('grant execute on function %s to anon, authenticated, service_role', v_fn)");
    expect(sql.startsWith('begin;\n')).toBe(true);
    expect(() => expandIncludes('\\ir nope.psql', dir)).toThrow(/no such file/);
    expect(() => expandIncludes('\\ir pgtap_setup.psql', undefined)).toThrow(/directory of the test file/);
  });
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

  it(`reports a real failing assertion from ${onNative ? 'the server' : 'PGlite'} with its description`, async () => {
    await withTapDb(async (target) => {
      const r = await runTapFile(
        target,
        `begin; select plan(2); select ok(true, 'fine'); select is(1, 2, 'one is two'); select * from finish(); rollback;`,
      );
      expect(tapFailures(r)).toEqual([expect.stringMatching(/^not ok 2 - one is two\n# Failed test 2: "one is two"/)]);
    });
  });

  it('reports an SQL error with the statement that raised it', async () => {
    await withTapDb(async (target) => {
      const r = await runTapFile(target, `begin; select plan(1); select ok(1 / 0 = 1, 'divides'); select * from finish(); rollback;`);
      expect(tapFailures(r)[0]).toMatch(/^error: division by zero\n {2}in: select ok\(1 \/ 0 = 1, 'divides'\)/);
    });
  });
});
