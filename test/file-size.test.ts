/**
 * No source file grows past what a reader takes in at once: every TypeScript, JavaScript, SQL and shell file
 * of the repository (tracked, or new and not ignored) has at most MAX_LINES lines. Generated files are the
 * exception. A file over the limit is split by concern (one table family, one API, one job per file), not
 * trimmed of its comments.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../ops/migrations/runner.ts';

const MAX_LINES = 460;
const SOURCE = /\.(ts|js|mjs|sql|sh)$/;

/** Generated, never edited by hand: their size follows the schema and the contract. */
const GENERATED = new Set(['types/database.types.ts', 'docs/openapi.json', 'package-lock.json']);


function sourceFiles(): string[] {
  return execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: projectRoot, encoding: 'utf8' })
    .split('\n')
    .filter((f) => SOURCE.test(f) && !GENERATED.has(f) && existsSync(join(projectRoot, f)));
}

function lineCount(file: string): number {
  const text = readFileSync(join(projectRoot, file), 'utf8');
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

describe('file size', () => {
  const files = sourceFiles();

  it('finds the source files (migrations, TypeScript, scripts)', () => {
    expect(files).toContain('ops/migrations/runner.ts');
    expect(files.some((f) => f.startsWith('supabase/migrations/') && f.endsWith('.sql'))).toBe(true);
    expect(files).not.toContain('types/database.types.ts');
  });

  it(`no source file is over ${MAX_LINES} lines, generated files aside`, () => {
    const over = files
      .map((f) => ({ file: f, lines: lineCount(f) }))
      .filter((f) => f.lines > MAX_LINES);
    expect(over, `split these by concern (at most ${MAX_LINES} lines each)`).toEqual([]);
  });


  it('counts lines as an editor does', () => {
    expect(lineCount('package.json')).toBe(readFileSync(join(projectRoot, 'package.json'), 'utf8').trimEnd().split('\n').length);
  });
});
