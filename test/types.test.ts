/**
 * Generated types: the committed types/database.types.ts is exactly what `npm run db:types` makes of the
 * migrated schema with the real Supabase CLI (`supabase gen types typescript`, v3.1.0) — on the native lane
 * read from PostgreSQL 15, so both engines must give the same file — the reprint keeps every declaration
 * the CLI generated, and the file type-checks with the typed client on top of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import type { Db } from '../ops/db.ts';
import { projectRoot } from '../ops/migrations/runner.ts';
import { cliTypes, formatTypes, outOfDateMessage, syncTypesFile, typesFile } from '../devstack/typegen.ts';
import { openMigrated, serveDb } from './helpers/db.ts';
import { canonicalTs, firstDifference } from './helpers/ts-canon.ts';

let migrated: Db;
let cliOutput: string;
let generated: string;

beforeAll(async () => {
  migrated = await openMigrated();
  const served = await serveDb(migrated);
  try {
    cliOutput = await cliTypes(served.url);
  } finally {
    await served.stop();
  }
  generated = formatTypes(cliOutput);
});
afterAll(async () => {
  await migrated?.close();
});

/** `tsx scripts/db-types.ts …` without DATABASE_URL from the environment. */
function dbTypes(args: string[]): Promise<{ code: number; out: string }> {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  const tsx = join(projectRoot, 'node_modules', '.bin', 'tsx');
  return new Promise((resolve) =>
    execFile(tsx, ['scripts/db-types.ts', ...args], { cwd: projectRoot, env, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    ),
  );
}

/** The property names of a type literal reached through `path` in `export type Database = …`. */
function members(source: string, path: string[]): string[] {
  const sf = ts.createSourceFile('t.ts', source, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
  const db = sf.statements.find((s): s is ts.TypeAliasDeclaration => ts.isTypeAliasDeclaration(s) && s.name.text === 'Database');
  let node: ts.TypeNode | undefined = db?.type;
  for (const name of path) {
    const prop: ts.TypeElement | undefined = node && ts.isTypeLiteralNode(node) ? node.members.find((m) => m.name && ts.isPropertyName(m.name) && (m.name as ts.Identifier | ts.StringLiteral).text === name) : undefined;
    if (!prop || !ts.isPropertySignature(prop)) throw new Error(`no ${path.join(' > ')} (missing ${name})`);
    node = prop.type;
  }
  if (!node || !ts.isTypeLiteralNode(node)) throw new Error(`${path.join(' > ')} is not a type literal`);
  return node.members.map((m) => (m.name as ts.Identifier | ts.StringLiteral).text);
}

describe('types/database.types.ts', () => {
  it('is exactly what the migrated schema generates (run npm run db:types after changing a migration)', async () => {
    const committed = await readFile(join(projectRoot, typesFile), 'utf8').catch(() => '');
    if (committed !== generated) {
      const diff = firstDifference(committed, generated);
      throw new Error(`${outOfDateMessage}${diff ? `\nfirst difference: ${diff}` : ' (formatting only)'}`);
    }
  });

  it('--check fails with the fix-it message when the file differs, and passes when equal', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ajc-types-'));
    const path = join(dir, 'database.types.ts');
    await writeFile(path, generated.replace('Row: {', 'Row: {\n stale: string;'));
    expect(await syncTypesFile(generated, { path, check: true })).toEqual({ ok: false, message: outOfDateMessage });
    expect(outOfDateMessage).toBe('types are out of date, run npm run db:types');
    await syncTypesFile(generated, { path });
    expect(await readFile(path, 'utf8')).toBe(generated);
    expect((await syncTypesFile(generated, { path, check: true })).ok).toBe(true);
  });

  it('npm run db:types -- --check passes on the committed file, and exits 1 for a schema it does not describe', async () => {
    const ok = await dbTypes(['--check']);
    expect(ok.out).toContain('types/database.types.ts is up to date');
    expect(ok.code).toBe(0);
    // The same check against a database with one more table (through --database-url: any Postgres URL).
    await migrated.exec(`create table public.types_drift_probe (id int primary key)`);
    const served = await serveDb(migrated);
    try {
      const stale = await dbTypes(['--check', '--database-url', served.url]);
      expect(stale.out).toContain('types are out of date, run npm run db:types');
      expect(stale.code).toBe(1);
    } finally {
      await served.stop();
      await migrated.exec(`drop table public.types_drift_probe`);
    }
  });

  it('reprints the CLI output declaration for declaration, one member per line', () => {
    expect(canonicalTs(generated)).toEqual(canonicalTs(cliOutput));
    expect(cliOutput).toMatch(/^export type Database = \{$/m);
    expect(generated).toMatch(/^\/\/ Generated by `npm run db:types`: `supabase gen types typescript`/);
    expect(generated).toMatch(/^ {20}"content": string;$/m); // a column of a Row on a line of its own
    for (const helper of ['Json', 'Database', 'Tables', 'TablesInsert', 'TablesUpdate', 'Enums', 'CompositeTypes']) {
      expect(generated).toMatch(new RegExp(`^export type ${helper}\\b`, 'm'));
    }
    expect(generated).toMatch(/^export const Constants = \{$/m);
  });

  it('covers every table in public, each with Row, Insert, Update and Relationships', async () => {
    const tables = await migrated.query<{ relname: string }>(
      `select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind in ('r', 'p') order by 1`,
    );
    const declared = members(generated, ['public', 'Tables']);
    expect([...declared].sort()).toEqual(tables.map((t) => t.relname).sort());
    for (const table of declared) {
      expect(members(generated, ['public', 'Tables', table])).toEqual(expect.arrayContaining(['Row', 'Insert', 'Update', 'Relationships']));
    }
  });

  it('type-checks, with the typed client on top of it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ajc-types-tsc-'));
    await writeFile(
      join(dir, 'use.ts'),
      `import type { Database, Tables, TablesInsert, TablesUpdate, Json } from '${join(projectRoot, typesFile)}'
       import { createChatClient, type Message } from '${join(projectRoot, 'client', 'index.ts')}'
       const a: Tables<'chat_messages_v2'>['content'] = { type: 'text', text: 'hi' } satisfies Json
       const b: TablesInsert<'agents'> = { name: 'x', owner_id: '00000000-0000-4000-8000-000000000000' }
       const c: TablesUpdate<'agent_memories'> = { importance: 0.5 }
       type Match = Database['public']['Functions']['match_agent_memories']['Returns'][number]
       const d: Match['similarity'] = 1
       // @ts-expect-error a required column is missing
       const e: TablesInsert<'agents'> = { name: 'x' }
       const f: Message['role'] = 'assistant'
       export { a, b, c, d, e, f, createChatClient }`,
    );
    const program = ts.createProgram([join(dir, 'use.ts')], {
      strict: true,
      noEmit: true,
      noUncheckedIndexedAccess: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      allowImportingTsExtensions: true,
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [join(projectRoot, 'node_modules', '@types')],
    });
    const diags = ts.getPreEmitDiagnostics(program).map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    expect(diags).toEqual([]);
  });
});
