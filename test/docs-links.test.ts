/**
 * The documentation points only at what exists: every relative link in a Markdown file names a file or
 * folder of the repository (and, for a link into a Markdown file, one of its headings), and every
 * repository path written in backticks (`devstack/stack/pg-proxy.ts`) is there.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { projectRoot } from '../ops/migrations/runner.ts';

const markdownFiles = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.md'], { cwd: projectRoot, encoding: 'utf8' })
  .split('\n')
  .filter((f) => f && existsSync(join(projectRoot, f)));

/** GitHub's heading anchors: lowercase, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = !fenced && /^#{1,6}\s+(.*)$/.exec(line);
    if (!m) continue;
    const base = m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

const TOP = /^(client|ops|devstack|scripts|test|bench|supabase|types|docs|src)\/[\w./-]*$/;

function brokenReferences(file: string, text = readFileSync(join(projectRoot, file), 'utf8')): string[] {
  const prose = text.replace(/^```[\s\S]*?^```/gm, '');
  const out: string[] = [];
  for (const m of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = m[1]!;
    if (/^[a-z]+:/i.test(target)) continue; // http:, https:, mailto:
    const [path, anchor] = target.split('#') as [string, string | undefined];
    const resolved = path ? normalize(join(dirname(join(projectRoot, file)), path)) : join(projectRoot, file);
    if (!existsSync(resolved)) {
      out.push(`${file}: link to ${target} — no such file`);
      continue;
    }
    if (anchor && resolved.endsWith('.md') && !anchors(readFileSync(resolved, 'utf8')).has(anchor)) {
      out.push(`${file}: link to ${target} — ${relative(projectRoot, resolved)} has no heading #${anchor}`);
    }
  }
  for (const m of prose.matchAll(/`([^`\s]+)`/g)) {
    const path = m[1]!;
    if (!TOP.test(path) || /[*<>]/.test(path)) continue;
    if (!existsSync(join(projectRoot, path))) out.push(`${file}: \`${path}\` — no such file or folder`);
  }
  return out;
}

describe('documentation references', () => {
  it('every relative link and every backticked repository path in *.md exists', () => {
    expect(markdownFiles.length).toBeGreaterThan(5);
    expect(markdownFiles.flatMap((f) => brokenReferences(f))).toEqual([]);
  });

  it('catches a missing file, a missing heading and a stale path', () => {
    expect([...anchors('# Run against a real Postgres\n## With a read replica\n```sh\n# not a heading\n```\n## Notes\n## Notes')]).toEqual([
      'run-against-a-real-postgres',
      'with-a-read-replica',
      'notes',
      'notes-1',
    ]);
    const text = [
      'See [the runbook](runbook.md), [replicas](../devstack/README.md#with-a-read-replica) and `devstack/stack/pg-proxy.ts`.',
      'Gone: [old](old-notes.md), [anchor](../README.md#no-such-heading), `src/db/engine.ts`, `scripts/*.ts` (a glob).',
      '```sh\ncat src/not-checked-in-code.ts  # [x](nowhere.md)\n```',
    ].join('\n');
    expect(brokenReferences('docs/example.md', text)).toEqual([
      'docs/example.md: link to old-notes.md — no such file',
      'docs/example.md: link to ../README.md#no-such-heading — README.md has no heading #no-such-heading',
      'docs/example.md: `src/db/engine.ts` — no such file or folder',
    ]);
  });
});
