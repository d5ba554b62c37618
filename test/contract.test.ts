/**
 * One source of truth per contract, checked:
 *  - the fixed vocabularies: each list in supabase/functions/_shared/vocab.ts equals its Postgres enum's
 *    labels (enum_range, in order) and the generated types' Constants, and every enum in public has a list;
 *  - the HTTP contract: docs/openapi.json is what the contract generates (npm run api:openapi -- --check),
 *    every $ref resolves, every endpoint's function routes it, and docs/api.md's endpoint table names exactly
 *    the methods and paths of the OpenAPI document.
 * (That responses fit the contract is checked on every e2e request: test/e2e/contract-check.ts.)
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../ops/db.ts';
import { projectRoot } from '../ops/migrations/runner.ts';
import { ENDPOINTS, routeOf, VOCABULARIES } from '../supabase/functions/_shared/contract.ts';
import { API_VERSION, openApiDocument } from '../supabase/functions/_shared/openapi.ts';
import { Constants } from '../types/database.types.ts';
import { openApiText } from '../scripts/api-openapi.ts';
import { openMigrated } from './helpers/db.ts';

const run = promisify(execFile);

describe('fixed vocabularies', () => {
  let db: Db;
  beforeAll(async () => {
    db = await openMigrated();
  });
  afterAll(async () => {
    await db?.close();
  });

  it('each zod list equals its Postgres enum (labels and order) and the generated Constants', async () => {
    for (const [name, labels] of Object.entries(VOCABULARIES)) {
      const [r] = await db.query<{ labels: string[] }>(`select enum_range(null::public.${name})::text[] as labels`);
      expect(r!.labels, name).toEqual([...labels]);
      expect([...(Constants.public.Enums as Record<string, readonly string[]>)[name]!], name).toEqual([...labels]);
    }
  });

  it('every enum type in public is one of the vocabularies (a new one gets its zod list)', async () => {
    const rows = await db.query<{ typname: string }>(
      `select t.typname from pg_type t where t.typnamespace = 'public'::regnamespace and t.typtype = 'e' order by 1`,
    );
    expect(rows.map((r) => r.typname)).toEqual(Object.keys(VOCABULARIES).sort());
  });
});

describe('OpenAPI document', () => {
  const doc = openApiDocument() as {
    info: { version: string };
    paths: Record<string, Record<string, { operationId: string }>>;
    components: Record<string, Record<string, unknown>>;
  };

  it('docs/openapi.json is what the contract generates (npm run api:openapi -- --check)', async () => {
    expect(await readFile(join(projectRoot, 'docs', 'openapi.json'), 'utf8'), 'docs/openapi.json is out of date — run npm run api:openapi').toBe(openApiText());
    const r = await run(join(projectRoot, 'node_modules', '.bin', 'tsx'), ['scripts/api-openapi.ts', '--check'], { cwd: projectRoot });
    expect(r.stdout).toMatch(/up to date/);
  });

  it('is OpenAPI 3.1 with unique operation ids, every $ref resolving, the package version', async () => {
    expect((doc as unknown as { openapi: string }).openapi).toBe('3.1.0');
    const pkg = JSON.parse(await readFile(join(projectRoot, 'package.json'), 'utf8')) as { version: string };
    expect(doc.info.version).toBe(pkg.version);
    expect(API_VERSION).toBe(pkg.version);
    const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((o) => o.operationId));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(ENDPOINTS.length);
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/(\w+)\/(\w+)"/g)];
    expect(refs.length).toBeGreaterThan(50);
    for (const [, kind, name] of refs) expect(doc.components[kind!]?.[name!], `${kind}/${name}`).toBeDefined();
  });

  it("every endpoint is routed by its function (on(api.<operationId>, …) in the function's index.ts)", async () => {
    for (const e of ENDPOINTS) {
      const src = await readFile(join(projectRoot, 'supabase', 'functions', routeOf(e).fn, 'index.ts'), 'utf8');
      expect(src, `${e.method} ${e.path}`).toContain(`on(api.${e.operationId},`);
    }
  });

  it("docs/api.md's endpoint table lists exactly the methods and paths of the document", async () => {
    const md = await readFile(join(projectRoot, 'docs', 'api.md'), 'utf8');
    const section = md.slice(md.indexOf('## Endpoints'), md.indexOf('\n## ', md.indexOf('## Endpoints') + 1));
    const inDocs = [...section.matchAll(/^\| `(GET|POST|PUT|PATCH|DELETE) (\/[^`]*)` \|/gm)].map((m) => `${m[1]} ${m[2]}`).sort();
    const inOpenApi = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    expect(inDocs.length).toBeGreaterThan(20);
    expect(inDocs).toEqual(inOpenApi);
  });
});
