/**
 * The import rule of the three rooms, checked on every import, `export … from`, dynamic `import()`,
 * `import('…')` type and `require()` of every source file:
 *
 * - product: `supabase/functions/<name>/` imports only its own folder and `_shared/` (packages only through
 *   its deno.json); `_shared/` imports only itself (packages every function's deno.json maps); the typed
 *   client (`client/`) imports only itself, `types/` and `_shared/` (packages only from its package.json);
 * - ops (`ops/`): itself and `types/` — never the devstack, never PGlite (it runs against real servers);
 * - devstack (`devstack/`): itself, ops and `types/`;
 * - scripts/, test/, bench/ wire the rooms together and may import anything; no room imports them.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import ts from 'typescript';
import { projectRoot } from '../ops/migrations/runner.ts';

const SOURCE = /\.(ts|mts|cts|mjs|cjs|js)$/;
const SKIP_DIRS = new Set(['node_modules', 'dist', '.data', '.tmp', '.git', '.temp']);

/** Every source file under the project, as a posix path relative to the root. */
function sourceFiles(dir = projectRoot): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) out.push(...sourceFiles(join(dir, entry.name)));
    } else if (SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts')) {
      out.push(relative(projectRoot, join(dir, entry.name)).split(sep).join('/'));
    }
  }
  return out.sort();
}

interface ImportRef {
  specifier: string | null; // null: a computed specifier (`import(name)`), which cannot be checked
  line: number;
}

/** The module specifiers `file` refers to, with their lines. */
function importsOf(file: string, text: string): ImportRef[] {
  const kind = /\.m?js$|\.cjs$/.test(file) ? ts.ScriptKind.JS : ts.ScriptKind.TS;
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, kind);
  const refs: ImportRef[] = [];
  const add = (node: ts.Node, spec: ts.Node | undefined) => {
    const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
    refs.push({ specifier: spec && ts.isStringLiteralLike(spec) ? spec.text : null, line });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) || (ts.isExportDeclaration(node) && node.moduleSpecifier)) {
      add(node, node.moduleSpecifier);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node, node.moduleReference.expression);
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === 'require' && node.arguments.length === 1)) {
        add(node, node.arguments[0]);
      }
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node, node.argument.literal);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return refs;
}

type Room = 'function' | 'shared' | 'client' | 'types' | 'ops' | 'devstack' | 'wiring' | 'unplaced';

function roomOf(path: string): Room {
  if (path.startsWith('supabase/functions/_shared/')) return 'shared';
  if (path.startsWith('supabase/functions/')) return 'function';
  if (path.startsWith('client/')) return 'client';
  if (path.startsWith('types/')) return 'types';
  if (path.startsWith('ops/')) return 'ops';
  if (path.startsWith('devstack/')) return 'devstack';
  if (/^(scripts|test|bench)\//.test(path) || !path.includes('/')) return 'wiring';
  return 'unplaced';
}

/** Which rooms a room's relative imports may land in. */
const mayImport: Record<Exclude<Room, 'function' | 'unplaced'>, Room[]> = {
  shared: ['shared'],
  client: ['client', 'types', 'shared'],
  types: ['types'],
  ops: ['ops', 'types'],
  devstack: ['devstack', 'ops', 'types'],
  wiring: ['function', 'shared', 'client', 'types', 'ops', 'devstack', 'wiring'],
};

interface Project {
  files: Map<string, string>;
  /** The bare specifiers each edge function's deno.json maps (`imports` keys), by function folder. */
  denoImports: Map<string, string[]>;
  /** The packages the typed client declares (dependencies and peerDependencies of client/package.json). */
  clientPackages: string[];
}

const packageName = (spec: string) => spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');
const mapped = (spec: string, keys: string[]) => keys.some((k) => spec === k || (k.endsWith('/') && spec.startsWith(k)));

/** Every import that breaks the rule, as `file:line imports 'spec' — why`. */
function violations(project: Project): string[] {
  const out: string[] = [];
  const allDeno = [...project.denoImports.values()];
  for (const [file, text] of project.files) {
    const room = roomOf(file);
    if (room === 'unplaced') {
      out.push(`${file} is in no room: product (supabase/functions, client, types), ops, devstack, or scripts/test/bench`);
      continue;
    }
    const fnFolder = room === 'function' ? file.split('/').slice(0, 3).join('/') : undefined;
    for (const { specifier: spec, line } of importsOf(file, text)) {
      const at = `${file}:${line} imports ${spec === null ? 'a computed specifier' : `'${spec}'`}`;
      if (spec === null) {
        if (room !== 'wiring') out.push(`${at} — the rule cannot check it; import a literal path`);
        continue;
      }
      if (spec.startsWith('.')) {
        const target = posix.normalize(posix.join(posix.dirname(file), spec));
        const to = roomOf(target);
        if (room === 'function') {
          if (!target.startsWith(`${fnFolder}/`) && to !== 'shared') out.push(`${at} — an edge function imports only its own folder and supabase/functions/_shared/`);
        } else if (!mayImport[room].includes(to)) {
          const why = to === 'devstack' ? `${room === 'ops' ? 'ops' : 'the product'} never imports the devstack` : `${room} may import only ${mayImport[room].join(', ')}`;
          out.push(`${at} (${to}) — ${why}`);
        }
        continue;
      }
      if (spec.startsWith('node:') && room !== 'client' && room !== 'types') continue;
      if (room === 'function') {
        const keys = project.denoImports.get(fnFolder!) ?? [];
        if (!mapped(spec, keys)) out.push(`${at} — not in ${fnFolder}/deno.json's imports (pin it there)`);
      } else if (room === 'shared') {
        if (!allDeno.every((keys) => mapped(spec, keys))) out.push(`${at} — _shared may use a package only when every function's deno.json maps it`);
      } else if (room === 'client') {
        if (!project.clientPackages.includes(packageName(spec))) out.push(`${at} — not a dependency or peerDependency of client/package.json`);
      } else if (room === 'types') {
        out.push(`${at} — the generated types import nothing`);
      } else if (room === 'ops' && spec.startsWith('@electric-sql/')) {
        out.push(`${at} — ops runs against real servers and must not need PGlite`);
      }
    }
  }
  return out;
}

function loadProject(): Project {
  const files = new Map(sourceFiles().map((f) => [f, readFileSync(join(projectRoot, f), 'utf8')] as const));
  const denoImports = new Map<string, string[]>();
  const fnRoot = join(projectRoot, 'supabase', 'functions');
  for (const name of readdirSync(fnRoot)) {
    const deno = join(fnRoot, name, 'deno.json');
    if (name.startsWith('_') || !statSync(join(fnRoot, name)).isDirectory()) continue;
    const imports = existsSync(deno) ? (JSON.parse(readFileSync(deno, 'utf8')) as { imports?: Record<string, string> }).imports : undefined;
    denoImports.set(`supabase/functions/${name}`, Object.keys(imports ?? {}));
  }
  const pkg = JSON.parse(readFileSync(join(projectRoot, 'client', 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
  return { files, denoImports, clientPackages: [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})] };
}

describe('architecture: three rooms, one import rule', () => {
  it('holds for every source file of the project', () => {
    const project = loadProject();
    expect(project.files.size).toBeGreaterThan(100);
    expect([...project.files.keys()].filter((f) => roomOf(f) === 'devstack').length).toBeGreaterThan(10);
    expect(violations(project)).toEqual([]);
  });

  it('finds every kind of import, and names the file, line and specifier of each breach', () => {
    const text = [
      `import { a } from '../devstack/pglite/engine.ts';`,
      `export { b } from '../devstack/platform.ts';`,
      `export * from '../devstack/target.ts';`,
      `import type { C } from '../devstack/stack/index.ts';`,
      `const d = await import('../devstack/pgtap.ts');`,
      `type E = import('../devstack/stack/keys.ts').Keys;`,
      `const f = require('../devstack/native/cluster.ts');`,
      `const g = await import(someName);`,
      `import { PGlite } from '@electric-sql/pglite';`,
      `import postgres from 'postgres';`,
      `import { join } from 'node:path';`,
      `import { db } from './db.ts';`,
    ].join('\n');
    const found = violations({ files: new Map([['ops/bad.ts', text]]), denoImports: new Map(), clientPackages: [] });
    expect(found).toEqual([
      "ops/bad.ts:1 imports '../devstack/pglite/engine.ts' (devstack) — ops never imports the devstack",
      "ops/bad.ts:2 imports '../devstack/platform.ts' (devstack) — ops never imports the devstack",
      "ops/bad.ts:3 imports '../devstack/target.ts' (devstack) — ops never imports the devstack",
      "ops/bad.ts:4 imports '../devstack/stack/index.ts' (devstack) — ops never imports the devstack",
      "ops/bad.ts:5 imports '../devstack/pgtap.ts' (devstack) — ops never imports the devstack",
      "ops/bad.ts:6 imports '../devstack/stack/keys.ts' (devstack) — ops never imports the devstack",
      "ops/bad.ts:7 imports '../devstack/native/cluster.ts' (devstack) — ops never imports the devstack",
      'ops/bad.ts:8 imports a computed specifier — the rule cannot check it; import a literal path',
      "ops/bad.ts:9 imports '@electric-sql/pglite' — ops runs against real servers and must not need PGlite",
    ]);
  });

  it('fences the edge functions, _shared and the client', () => {
    const files = new Map([
      ['supabase/functions/messages/index.ts', `import { x } from '../_shared/http.ts';\nimport { y } from '../sessions/index.ts';\nimport { z } from 'zod';\nimport { w } from 'npm:left-pad@1.3.0';\nimport { v } from '../../../ops/db.ts';`],
      ['supabase/functions/_shared/http.ts', `import { x } from './errors.ts';\nimport { z } from 'zod';\nimport { j } from 'jose';\nimport { t } from '../../../types/database.types.ts';`],
      ['client/index.ts', `import { createClient } from '@supabase/supabase-js';\nimport type { Tables } from '../types/database.types.ts';\nimport { migrate } from '../ops/migrations/runner.ts';\nimport { keys } from '../devstack/stack/keys.ts';\nimport { readFile } from 'node:fs/promises';`],
      ['src/orphan.ts', ``],
    ]);
    const denoImports = new Map([
      ['supabase/functions/messages', ['zod', 'jose']],
      ['supabase/functions/sessions', ['zod']],
    ]);
    expect(violations({ files, denoImports, clientPackages: ['@supabase/supabase-js'] })).toEqual([
      "supabase/functions/messages/index.ts:2 imports '../sessions/index.ts' — an edge function imports only its own folder and supabase/functions/_shared/",
      "supabase/functions/messages/index.ts:4 imports 'npm:left-pad@1.3.0' — not in supabase/functions/messages/deno.json's imports (pin it there)",
      "supabase/functions/messages/index.ts:5 imports '../../../ops/db.ts' — an edge function imports only its own folder and supabase/functions/_shared/",
      "supabase/functions/_shared/http.ts:3 imports 'jose' — _shared may use a package only when every function's deno.json maps it",
      "supabase/functions/_shared/http.ts:4 imports '../../../types/database.types.ts' (types) — shared may import only shared",
      "client/index.ts:3 imports '../ops/migrations/runner.ts' (ops) — client may import only client, types, shared",
      "client/index.ts:4 imports '../devstack/stack/keys.ts' (devstack) — the product never imports the devstack",
      "client/index.ts:5 imports 'node:fs/promises' — not a dependency or peerDependency of client/package.json",
      'src/orphan.ts is in no room: product (supabase/functions, client, types), ops, devstack, or scripts/test/bench',
    ]);
  });
});
