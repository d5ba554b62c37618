/**
 * The edge functions as code: they type-check under the real Deno (offline, packages from node_modules),
 * every function has its deno.json and config.toml entry, and no function imports another one — shared
 * code lives in supabase/functions/_shared only.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { projectRoot } from '../ops/migrations/runner.ts';
import { listFunctions } from '../devstack/stack/functions.ts';

const run = promisify(execFile);
const functionsDir = join(projectRoot, 'supabase', 'functions');

it('serves the seven API functions and the OpenAPI document, each with deno.json and a config.toml entry', async () => {
  const names = await listFunctions(functionsDir);
  expect(names).toEqual(['agent-state', 'agents', 'chats', 'memories', 'messages', 'openapi', 'policy-events', 'sessions']);
  const config = await readFile(join(projectRoot, 'supabase', 'config.toml'), 'utf8');
  for (const n of names) {
    expect(existsSync(join(functionsDir, n, 'deno.json'))).toBe(true);
    expect(config).toContain(`[functions.${n}]`);
  }
});

it('imports only _shared code, its own files and the packages of its import map', async () => {
  const names = await listFunctions(functionsDir);
  for (const dir of [...names, '_shared']) {
    for (const file of (await readdir(join(functionsDir, dir))).filter((f) => f.endsWith('.ts'))) {
      const src = await readFile(join(functionsDir, dir, file), 'utf8');
      for (const m of src.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
        const spec = m[1]!;
        const ok = spec.startsWith('./') || spec.startsWith('../_shared/') || ['zod', 'jose', 'postgres'].includes(spec);
        expect(ok, `${dir}/${file} imports ${spec}`).toBe(true);
      }
    }
  }
});

it('type-checks every function under Deno without the network', async () => {
  const names = await listFunctions(functionsDir);
  const deno = join(projectRoot, 'node_modules', '.bin', 'deno');
  // Functions whose deno.json is the same file content are checked together, in one Deno process (the
  // shared code is checked once): same result as one check per function, a fraction of the time.
  const byConfig = new Map<string, string[]>();
  for (const n of names) {
    const config = await readFile(join(functionsDir, n, 'deno.json'), 'utf8');
    byConfig.set(config, [...(byConfig.get(config) ?? []), n]);
  }
  for (const group of byConfig.values()) {
    const r = await run(deno, ['check', '--quiet', '--config', join(functionsDir, group[0]!, 'deno.json'), ...group.map((n) => join(functionsDir, n, 'index.ts'))], {
      cwd: projectRoot,
      env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' },
    }).catch((e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? '', stderr: `FAILED\n${e.stderr ?? ''}` }));
    expect(r.stderr, group.join(', ')).not.toMatch(/FAILED|error/);
  }
});

it('prints the same anon and service_role keys as `supabase start`', async () => {
  const { signApiKey } = await import('../devstack/stack/keys.ts');
  expect(await signApiKey('anon')).toBe(
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0',
  );
  expect(await signApiKey('service_role')).toBe(
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU',
  );
});

it('maps the SQLSTATEs a request can meet without a client mistake to 409 / 503, never 500', async () => {
  // errors.ts is plain TypeScript (no Deno API), so the mapping itself can be read here; the e2e tests
  // exercise the paths they can provoke (AJC13, timeouts through the deadline test).
  const { mapDbError } = await import('../supabase/functions/_shared/errors.ts');
  expect(mapDbError({ code: '55000', message: 'public.chat_messages is read-only: the chat schema mode is v2_only', hint: 'Write to v2.' })).toEqual({
    status: 409,
    code: 'conflict',
    message: 'public.chat_messages is read-only: the chat schema mode is v2_only — Write to v2.',
  });
  for (const code of ['57014', '55P03']) {
    expect(mapDbError({ code, message: 'canceling statement due to statement timeout' })).toMatchObject({ status: 503, code: 'database_busy', headers: { 'Retry-After': '2' } });
  }
  expect(mapDbError({ code: 'CONNECT_TIMEOUT' })).toMatchObject({ status: 503, headers: { 'Retry-After': '2' } });
  expect(mapDbError({ code: 'AJC13', message: 'query embedding cannot be normalised', hint: 'h' })).toMatchObject({ status: 422, code: 'invalid_embedding' });
});
