/**
 * Generated types: the committed types/database.types.ts is exactly what the migrated schema produces,
 * the Postgres → TypeScript mapping holds for every shape we use, and the output declares the same
 * types as the real `supabase gen types typescript` (CLI v3.1.0) run against the same database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { openEmbedded, pgliteOf } from '../devstack/pglite/engine.ts';
import { openPostgres, type Db } from '../ops/db.ts';
import { ensurePlatform } from '../devstack/platform.ts';
import { projectRoot } from '../ops/migrations/runner.ts';
import { serveSocket } from '../devstack/pglite/socket.ts';
import { onNative, openEmpty, openMigrated, serveDb } from './helpers/db.ts';
import { generateTypes, outOfDateMessage, syncTypesFile, typesFile } from '../devstack/typegen/generate.ts';
import { cliEnv, cliUnavailable, runSupabase } from '../devstack/supabase-cli.ts';
import { canonicalTs, firstDifference } from './helpers/ts-canon.ts';

const kitchenSinkSql = join(projectRoot, 'test', 'fixtures', 'typegen-kitchen-sink.sql');

let migrated: Db;
let sink: Db;
let migratedTypes: string;
let sinkTypes: string;

beforeAll(async () => {
  migrated = await openMigrated();
  migratedTypes = await generateTypes(migrated);
  sink = await openEmpty();
  await ensurePlatform(sink);
  await sink.exec(await readFile(kitchenSinkSql, 'utf8'));
  sinkTypes = await generateTypes(sink);
});
afterAll(async () => {
  await migrated?.close();
  await sink?.close();
});

/** The members of `name: { ... }` at any depth, as the lines between its braces (our formatting). */
function block(text: string, path: string[]): string {
  let from = 0;
  let indent = '';
  for (const name of path) {
    const re = new RegExp(`^([ \\t]*)${name.replace(/[$]/g, '\\$')}: (\\{|\\[)$`, 'm');
    const m = re.exec(text.slice(from));
    if (!m) throw new Error(`no block ${path.join(' > ')} (missing ${name})`);
    indent = m[1]!;
    from += m.index + m[0].length;
  }
  const end = text.indexOf(`\n${indent}}`, from);
  const endArr = text.indexOf(`\n${indent}]`, from);
  const stop = end === -1 ? endArr : endArr === -1 ? end : Math.min(end, endArr);
  return text.slice(from, stop);
}
const members = (text: string, path: string[]) =>
  block(text, path)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);

describe('types/database.types.ts', () => {
  it('is exactly what the migrated schema generates (run npm run db:types after changing a migration)', async () => {
    const committed = await readFile(join(projectRoot, typesFile), 'utf8').catch(() => '');
    if (committed !== migratedTypes) {
      const diff = firstDifference(committed, migratedTypes);
      throw new Error(`${outOfDateMessage}${diff ? `\nfirst difference: ${diff}` : ' (formatting only)'}`);
    }
  });

  it('--check fails with the fix-it message when the file differs, and passes when equal', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ajc-types-'));
    const path = join(dir, 'database.types.ts');
    await writeFile(path, migratedTypes.replace('Row: {', 'Row: {\n          stale: string'));
    expect(await syncTypesFile(migratedTypes, { path, check: true })).toEqual({ ok: false, message: outOfDateMessage });
    expect(outOfDateMessage).toBe('types/database.types.ts is out of date — run npm run db:types');
    await syncTypesFile(migratedTypes, { path });
    expect((await syncTypesFile(migratedTypes, { path, check: true })).ok).toBe(true);
  });

  it('npm run db:types -- --check passes on the committed file (the script CI and developers run)', async () => {
    const { execFile } = await import('node:child_process');
    const tsx = join(projectRoot, 'node_modules', '.bin', 'tsx');
    const env = { ...process.env };
    delete env.DATABASE_URL;
    const r = await new Promise<{ code: number; out: string }>((resolve) =>
      execFile(tsx, ['scripts/db-types.ts', '--check'], { cwd: projectRoot, env, timeout: 120_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
      ),
    );
    expect(r.out).toContain('types/database.types.ts is up to date');
    expect(r.code).toBe(0);
  });

  it('reads the same through DATABASE_URL (postgres.js over the wire) as through embedded PGlite', async () => {
    // PGlite lane: the same PGlite read in-process and over pglite-socket. Native lane: the server
    // database read over the wire and a PGlite one built from the same fixture — PostgreSQL 15 and 18
    // catalogs must give the same types.
    const embedded = onNative ? await openEmbedded() : sink;
    const server = onNative ? null : await serveSocket(pgliteOf(sink)!);
    const remote = server ? await openPostgres(server.url, { max: 1 }) : sink;
    try {
      if (onNative) {
        await ensurePlatform(embedded);
        await embedded.exec(await readFile(kitchenSinkSql, 'utf8'));
      }
      expect(await generateTypes(remote)).toBe(await generateTypes(embedded));
    } finally {
      if (server) {
        await remote.close();
        await server.stop();
      }
      if (embedded !== sink) await embedded.close();
    }
  });

  it('is deterministic (sorted, independent of catalog order)', async () => {
    expect(await generateTypes(migrated)).toBe(migratedTypes);
    expect(migratedTypes).toMatch(/^export type Json =$/m);
    expect(migratedTypes).toMatch(/^export type Database = \{$/m);
    for (const helper of ['Tables', 'TablesInsert', 'TablesUpdate', 'Enums', 'CompositeTypes']) {
      expect(migratedTypes).toMatch(new RegExp(`^export type ${helper}<$`, 'm'));
    }
    expect(migratedTypes).toMatch(/^export const Constants = \{$/m);
  });

  it('covers every table in public, each with Row, Insert, Update and Relationships', async () => {
    const tables = await migrated.query<{ relname: string }>(
      `select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind in ('r', 'p') order by 1`,
    );
    const declared = members(migratedTypes, ['Tables'])
      .filter((l) => /^[A-Za-z_"][^:]*: \{$/.test(l) && !/^(Row|Insert|Update|SetofOptions):/.test(l))
      .map((l) => l.replace(/: \{$/, '').replace(/"/g, ''));
    expect(declared).toEqual(tables.map((t) => t.relname).sort(new Intl.Collator('en').compare));
  });
});

describe('Postgres → TypeScript mapping', () => {
  const row = () => members(sinkTypes, ['kitchen_sink', 'Row']);
  const insert = () => members(sinkTypes, ['kitchen_sink', 'Insert']);
  const update = () => members(sinkTypes, ['kitchen_sink', 'Update']);

  it('maps scalar types like supabase gen types', () => {
    expect(row()).toEqual(
      expect.arrayContaining([
        'u: string', // uuid
        't: string', // text
        'vc: string | null', // varchar
        'ch: string | null', // char
        'n: number | null', // numeric
        'i2: number | null',
        'i4: number | null',
        'id: number', // bigint → number, like the CLI (not bigint/string)
        'f8: number',
        'b: boolean',
        'j: NonNullable<Json>', // jsonb not null
        'jn: Json | null', // json
        'ja: Json[] | null',
        'arr: string[]', // text[] not null
        'iarr: number[] | null',
        'v: string | null', // extensions.vector → string
        'ts: string', // timestamptz
        'tsl: string | null',
        'd: string | null',
        'iv: string | null', // interval
        'by: string | null', // bytea
        'tsv: unknown', // types without a mapping
        'm: Database["public"]["Enums"]["mood"]',
        'marr: Database["public"]["Enums"]["mood"][] | null',
        'dom: string', // domain → its base type, NOT NULL from the domain
        'p: Database["public"]["CompositeTypes"]["point3"] | null',
        '"Mixed Case": string | null',
      ]),
    );
  });

  it('maps types from schemas outside the output: enums to literal unions, others to unknown', () => {
    expect(members(sinkTypes, ['foreign_types', 'Row'])).toEqual([
      'color: "red" | "green"',
      'colors: ("red" | "green")[] | null',
      'id: number',
      'pair: unknown',
      'person: unknown',
    ]);
  });

  it('makes Insert optional for defaults, nullables and identities; never for generated and identity always', () => {
    const ins = insert();
    expect(ins).toEqual(
      expect.arrayContaining([
        'id?: never', // generated always as identity
        'doubled?: never', // generated always as (...) stored
        'serial_id?: number', // generated by default as identity
        'u?: string', // default
        'ts?: string',
        'b?: boolean',
        'arr?: string[]',
        'vc?: string | null', // nullable
        't: string', // not null, no default: required
        'j: NonNullable<Json>',
        'dom: string',
      ]),
    );
    expect(update().every((l) => /^("[^"]+"|\w+)\?: /.test(l))).toBe(true);
    expect(update()).toContain('id?: never');
  });

  it('lists relationships with one-to-one detection (pk/unique columns), composite keys, self references', () => {
    const rels = block(sinkTypes, ['child', 'Relationships']);
    expect(rels).toContain('foreignKeyName: "child_sink_id_fkey"');
    expect(rels).toMatch(/"child_sink_u_fkey"\n\s+columns: \["sink_u"\]\n\s+isOneToOne: true/);
    expect(rels).toMatch(/"child_sink_id_fkey"\n\s+columns: \["sink_id"\]\n\s+isOneToOne: false/);
    expect(rels).toMatch(/"child_parent_id_fkey"[\s\S]*referencedRelation: "child"/);
    expect(block(sinkTypes, ['pair_ref', 'Relationships'])).toMatch(/columns: \["pa", "pb"\]\n\s+isOneToOne: false\n\s+referencedRelation: "pair"\n\s+referencedColumns: \["a", "b"\]/);
    expect(block(sinkTypes, ['pair', 'Relationships'])).toMatch(/columns: \["b"\]\n\s+isOneToOne: false/);
  });

  it('maps functions: optional args with defaults, set-returning → arrays, returns table, overloads', () => {
    const fns = block(sinkTypes, ['Functions']);
    expect(fns).toMatch(/with_defaults: \{\n\s+Args: \{\n\s+p_limit\?: number\n\s+p_name: string\n\s+p_tags\?: string\[\]\n\s+\}/);
    expect(fns).toMatch(/with_defaults: [\s\S]*?\n\s+\}\[\]\n\s+SetofOptions: \{\n\s+from: "\*"\n\s+to: "kitchen_sink"\n\s+isOneToOne: false\n\s+isSetofReturn: true/);
    expect(fns).toMatch(/tabular: \{\n\s+Args: \{\n\s+p_agent: string\n\s+p_min\?: number\n\s+\}\n\s+Returns: \{\n\s+id: string\n\s+kind: Database\["public"\]\["Enums"\]\["mood"\]\n\s+payload: Json\n\s+similarity: number\n\s+tags: string\[\]\n\s+\}\[\]/);
    expect(fns).toMatch(/no_args: \{\n\s+Args: Record<PropertyKey, never>\n\s+Returns: number\n/);
    expect(fns).toMatch(/nothing: \{\n\s+Args: \{\n\s+p_x: number\n\s+\}\n\s+Returns: undefined\n/);
    expect(fns).toMatch(/names: \{\n\s+Args: Record<PropertyKey, never>\n\s+Returns: string\[\]\n/);
    expect(fns).toMatch(/overloaded:\n\s+\| \{\n\s+Args: Record<PropertyKey, never>[\s\S]*\| \{\n\s+Args: \{\n\s+p_a: number\n\s+\}[\s\S]*\| \{\n\s+Args: \{\n\s+p_a: number\n\s+p_b: string/);
    expect(fns).toMatch(/one_sink: \{[\s\S]*?Returns: \{[\s\S]*?\n\s+\}\n\s+SetofOptions: \{\n\s+from: "\*"\n\s+to: "kitchen_sink"\n\s+isOneToOne: true\n\s+isSetofReturn: false/);
    expect(fns).toMatch(/takes_vector: \{\n\s+Args: \{\n\s+p_rows\?: number\n\s+p_v: string/);
    // Not callable through PostgREST: unnamed scalar args, trigger functions, procedures.
    expect(fns).not.toMatch(/^\s+unnamed: /m);
    expect(fns).not.toMatch(/a_trigger|a_procedure/);
  });

  it('infers NOT NULL through views and exposes relationships through views, like the CLI', () => {
    const views = block(sinkTypes, ['Views']);
    expect(members(views, ['sink_view', 'Row'])).toEqual([
      'child_id: string | null', // outer-join side
      'id: number', // NOT NULL column on the preserved side
      'm: Database["public"]["Enums"]["mood"]',
      'note: string | null',
      'sink_id: number | null',
      't: string',
      'twice: number | null', // an expression
    ]);
    expect(members(views, ['sink_summary', 'Row'])).toEqual(['id: number', 'n: number | null', 't: string']); // CTE + subquery
    expect(members(views, ['child_names_again', 'Row'])).toEqual(['id: string', 'note: string | null', 'sink_id: number']); // view on view
    expect(members(views, ['annotated', 'Row'])).toEqual(['id: string', 'note: string']); // @notNull comment
    expect(members(views, ['child_names', 'Insert'])).toEqual(['id?: string | null', 'note?: string | null', 'sink_id?: number | null']);
    expect(block(views, ['sink_view'])).not.toMatch(/Insert:/); // a join is not auto-updatable
    expect(block(views, ['sink_counts'])).not.toMatch(/Insert:|Update:/); // materialized
    expect(block(views, ['child_names', 'Relationships'])).toMatch(/"child_sink_id_fkey"\n\s+columns: \["sink_id"\]\n\s+isOneToOne: false\n\s+referencedRelation: "kitchen_sink"/);
    expect(block(sinkTypes, ['child', 'Relationships'])).toMatch(/referencedRelation: "child_names"/);
  });

  it('maps enums, composite types and Constants', () => {
    expect(members(sinkTypes, ['Enums'])).toEqual(['mood: "happy" | "sad" | "so-so"']);
    expect(members(sinkTypes, ['point3'])).toEqual([
      'x: number | null',
      'y: number | null',
      'label: string | null',
      'tags: string[] | null',
      'm: Database["public"]["Enums"]["mood"] | null',
      'j: Json | null',
    ]);
    expect(sinkTypes).toMatch(/export const Constants = \{\n\s+public: \{\n\s+Enums: \{\n\s+mood: \["happy", "sad", "so-so"\],\n/);
  });

  it('type-checks, and the helpers resolve to the table types', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ajc-types-tsc-'));
    await writeFile(join(dir, 'database.types.ts'), sinkTypes);
    await writeFile(
      join(dir, 'use.ts'),
      `import type { Tables, TablesInsert, TablesUpdate, Enums, CompositeTypes, Database } from './database.types.ts'
       import { Constants } from './database.types.ts'
       const a: Tables<'kitchen_sink'>['t'] = 'x'
       const b: TablesInsert<'kitchen_sink'> = { t: 'x', j: {}, dom: 'd' }
       const c: TablesUpdate<'child'> = { note: null }
       const d: Enums<'mood'> = Constants.public.Enums.mood[0]
       const e: CompositeTypes<'point3'>['x'] = null
       type F = Database['public']['Functions']['tabular']['Returns'][number]['similarity']
       const f: F = 1
       // @ts-expect-error generated always columns cannot be written
       const g: TablesInsert<'kitchen_sink'> = { t: 'x', j: {}, dom: 'd', id: 1 }
       export { a, b, c, d, e, f, g }`,
    );
    const program = ts.createProgram([join(dir, 'use.ts')], {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      allowImportingTsExtensions: true,
      skipLibCheck: true,
      types: [],
    });
    const diags = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(diags).toEqual([]);
  });
});

describe('agrees with the real Supabase CLI (supabase gen types typescript --db-url)', () => {
  for (const [label, get] of [
    ['the migrated schema', () => migrated],
    ['the kitchen-sink fixture (every mapping above)', () => sink],
  ] as const) {
    it(`declares the same types for ${label}`, async (ctx) => {
      const why = await cliUnavailable();
      if (why) {
        console.log(`skipped: ${why}`);
        ctx.skip();
        return;
      }
      const db = get();
      const ours = await generateTypes(db);
      const server = await serveDb(db);
      try {
        const env = { ...(await cliEnv()), PGSSLMODE: 'disable' };
        const r = await runSupabase(['gen', 'types', 'typescript', `--remote=${server.url}`], { env });
        expect(r.code, r.stderr).toBe(0);
        const cli = r.stdout.slice(r.stdout.indexOf('export type Json'));
        expect(canonicalTs(cli).length).toBeGreaterThan(5);
        const diff = firstDifference(ours, cli);
        expect(diff, `our generator and the CLI differ:\n${diff}`).toBeNull();
      } finally {
        await server.stop();
      }
    });
  }
});
