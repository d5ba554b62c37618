/**
 * Runs pgTAP test files (supabase/tests/database/*.test.sql, the layout `supabase test db` uses) inside
 * PGlite — or on the native lane's server — and reads their TAP output, so vitest fails with the failing assertion's own description.
 *
 * pgTAP lives in the `extensions` schema, as on Supabase (`create extension pgtap with schema extensions`),
 * so its ~1000 functions never show up in `public` (nor in the generated types); the session's search_path
 * is `"$user", public, extensions`, like Supabase's `postgres` role, so files call plan(), ok(), … unqualified.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { Queryable } from '../ops/db.ts';
import { splitSql } from '../ops/migrations/sql-split.ts';

export interface TapTest {
  ok: boolean;
  number: number;
  description: string;
  directive?: string;
  diagnostics: string[];
}
export interface TapResult {
  plan: number | null;
  tests: TapTest[];
  /** Diagnostics not attached to a test (e.g. "# Looks like you failed 1 test of 3"). */
  comments: string[];
  /** A SQL error that stopped the file, with the statement that raised it. */
  error?: string;
}

export const pgtapSetupSql = `create extension if not exists pgtap with schema extensions;`;
export const pgtapSearchPath = `set search_path = "$user", public, extensions;`;

/** TAP lines → result (plan, tests with their diagnostics). */
export function parseTap(lines: string[]): TapResult {
  const result: TapResult = { plan: null, tests: [], comments: [] };
  for (const line of lines) {
    const plan = /^1\.\.(\d+)/.exec(line);
    if (plan) {
      result.plan = Number(plan[1]);
      continue;
    }
    const t = /^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?(.*)$/.exec(line);
    if (t) {
      let description = t[3] ?? '';
      let directive: string | undefined;
      const d = /\s+#\s*((?:TODO|SKIP)\b.*)$/i.exec(description);
      if (d) {
        directive = d[1];
        description = description.slice(0, d.index);
      }
      result.tests.push({
        ok: t[1] === 'ok',
        number: t[2] ? Number(t[2]) : result.tests.length + 1,
        description,
        ...(directive ? { directive } : {}),
        diagnostics: [],
      });
      continue;
    }
    if (line.startsWith('#')) {
      const last = result.tests[result.tests.length - 1];
      if (last && !/^#\s*Looks like/.test(line)) last.diagnostics.push(line);
      else result.comments.push(line);
    }
  }
  return result;
}

/** Problems that make a file fail: SQL error, missing plan, count mismatch, `not ok` (TODO excepted). */
export function tapFailures(r: TapResult): string[] {
  const out: string[] = [];
  if (r.error) out.push(`error: ${r.error}`);
  for (const t of r.tests) {
    if (!t.ok && !/^TODO/i.test(t.directive ?? '')) {
      out.push([`not ok ${t.number} - ${t.description}`, ...t.diagnostics].join('\n'));
    }
  }
  if (r.plan === null) out.push('no plan: the file must call plan(n) (or finish() after no_plan())');
  else if (r.plan !== r.tests.length) out.push(`planned ${r.plan} tests but ran ${r.tests.length}`);
  return out;
}

/** Runs one statement and returns the rows of each result it produced. */
type StatementRunner = (stmt: string) => Promise<Record<string, unknown>[][]>;

function statementRunner(target: PGlite | Queryable): StatementRunner {
  if (target instanceof PGlite) {
    return async (stmt) => (await target.exec(stmt)).map((r) => r.rows as Record<string, unknown>[]);
  }
  // A server session (postgres.js, one connection): each statement on its own, its rows back.
  return async (stmt) => [await target.query<Record<string, unknown>>(stmt)];
}

/**
 * psql's `\ir FILE` (include, relative to the including file), the one meta-command the pgTAP files use: the
 * lines are replaced by that file's text (includes nest). `supabase test db` runs the files through pg_prove,
 * i.e. psql, which does the same. Without `dir` an include is an error.
 */
export function expandIncludes(sql: string, dir: string | undefined, depth = 0): string {
  return sql.replace(/^\\ir\s+(\S+)\s*$/gm, (_line, file: string) => {
    if (!dir) throw new Error(`\\ir ${file}: includes need the directory of the test file (runTapFile(target, sql, { dir }))`);
    if (depth > 10) throw new Error(`\\ir ${file}: includes nested more than 10 deep`);
    const path = resolve(dir, file);
    if (!existsSync(path)) throw new Error(`\\ir ${file}: no such file ${path}`);
    return expandIncludes(readFileSync(path, 'utf8'), dirname(path), depth + 1);
  });
}

/**
 * Runs one file statement by statement, collecting every text value as TAP lines. The target is a PGlite
 * instance or a one-session server Db (the native lane), so the same file runs on both engines. `dir` is the
 * test file's directory, for its `\ir` includes.
 */
export async function runTapFile(target: PGlite | Queryable, sql: string, opts: { dir?: string } = {}): Promise<TapResult> {
  const lines: string[] = [];
  let error: string | undefined;
  const run = statementRunner(target);
  await run(pgtapSearchPath);
  for (const stmt of splitSql(expandIncludes(sql, opts.dir))) {
    try {
      for (const rows of await run(stmt)) {
        for (const row of rows) {
          for (const v of Object.values(row)) if (typeof v === 'string') lines.push(...v.split('\n'));
        }
      }
    } catch (err) {
      const e = err as Error & { detail?: string; hint?: string };
      error = `${e.message}${e.detail ? ` (${e.detail})` : ''}${e.hint ? ` hint: ${e.hint}` : ''}\n  in: ${stmt.slice(0, 300)}`;
      await run('rollback').catch(() => {});
      break;
    }
  }
  const result = parseTap(lines);
  return error ? { ...result, error } : result;
}
