/**
 * The "Call it from your chat client" section of docs/getting-started.md, run as written against a fresh seeded stack: the
 * curl block, then the TypeScript block as a consumer of the package — `advanced-json-chat/client` resolved
 * by name through node_modules and the package's `exports`, under plain Node 20 and through tsc.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../ops/migrations/runner.ts';
import { signUserToken } from '../../devstack/stack/keys.ts';
import { clientWithToken, startTestStack, type TestStack } from './stack.ts';

let t: TestStack;

beforeAll(async () => {
  t = await startTestStack();
});
afterAll(async () => {
  await t?.stop();
});

describe('docs/getting-started.md: "Call it from your chat client"', () => {
  const run = promisify(execFile);

  /** The fenced blocks of one section of the guide, in order. */
  async function readmeBlocks(section: string): Promise<Array<{ lang: string; code: string }>> {
    const readme = await readFile(join(projectRoot, 'docs', 'getting-started.md'), 'utf8');
    const start = readme.indexOf(`## ${section}`);
    expect(start).toBeGreaterThan(-1);
    const end = readme.indexOf('\n## ', start + 3);
    const body = readme.slice(start, end === -1 ? undefined : end);
    return [...body.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, code: m[2]! }));
  }

  it('runs top to bottom on a fresh seeded stack: curl, then the client by package name on Node 20 (and through tsc)', async () => {
    // `npm start` on a new database applies the seed; the guide's default user (Alice) comes from it
    await t.admin.exec(await readFile(join(projectRoot, 'supabase', 'seed.sql'), 'utf8'));
    const blocks = await readmeBlocks('Call it from your chat client');
    const sh = blocks.find((b) => b.lang === 'sh')!;
    const ts = blocks.find((b) => b.lang === 'ts')!;
    const local = (code: string) => code.replaceAll('http://127.0.0.1:54321', t.stack.apiUrl);

    // 1. the curl block, as written: every response newline-terminated, any HTTP error fails the script
    //    (meanwhile the package builds, as its `prepare` script does on install)
    const curlWrapper = `curl() { command curl --fail-with-body -w '\\n' "$@"; }\n`;
    const [shOut] = await Promise.all([
      run('bash', ['-euo', 'pipefail', '-c', curlWrapper + local(sh.code)], { cwd: projectRoot, timeout: 60_000 }),
      run('npm', ['run', '-s', 'build:client'], { cwd: projectRoot, timeout: 120_000 }),
    ]);
    const answers = shOut.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(answers).toEqual([{ message: expect.objectContaining({ content: { type: 'text', text: 'Hello from curl' }, user_id: '00000000-0000-4000-8000-00000000a11c' }) }, { state: null }]);
    // the workspace package is the same module under its own name
    const ws = await run(process.execPath, ['--input-type=module', '-e', `const a = await import('@advanced-json-chat/client'); const b = await import('advanced-json-chat/client'); console.log(typeof a.createChatClient, a.createChatClient === b.createChatClient)`], { cwd: projectRoot });
    expect(ws.stdout.trim()).toBe('function true');

    // 2. the TypeScript block, unchanged, as a consumer of the package: `advanced-json-chat/client`
    //    resolved through node_modules and the package's `exports`, run by plain Node 20
    const app = await mkdtemp(join(tmpdir(), 'ajc-readme-'));
    try {
      await mkdir(join(app, 'node_modules', '@supabase'), { recursive: true });
      await symlink(projectRoot, join(app, 'node_modules', 'advanced-json-chat'));
      for (const dep of ['@supabase/supabase-js', 'ws', '@types']) await symlink(join(projectRoot, 'node_modules', dep), join(app, 'node_modules', dep));
      await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'readme-app', private: true, type: 'module' }));
      await writeFile(join(app, 'example.mjs'), ts.code);
      // TypeScript users get the package's published types: the same block type-checks by package name
      await writeFile(join(app, 'example.ts'), ts.code);
      await writeFile(
        join(app, 'tsconfig.json'),
        JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }, files: ['example.ts'] }),
      );
      const token = await signUserToken('00000000-0000-4000-8000-00000000a11c', { secret: t.stack.jwtSecret }); // what `npm run -s dev:token` prints
      const env = { ...process.env, SUPABASE_URL: t.stack.apiUrl, SUPABASE_ANON_KEY: t.stack.anonKey, TOKEN: token };
      expect(process.versions.node.split('.')[0]).toBe('20');
      const [node, tsc] = await Promise.all([
        run(process.execPath, ['example.mjs'], { cwd: app, env, timeout: 60_000 }),
        run(process.execPath, [join(projectRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], { cwd: app }).catch((e: { stdout: string }) => ({ stdout: `FAILED ${e.stdout}` })),
      ]);
      expect(node.stdout.trim()).toBe('1 null Prefers trains');
      expect(tsc.stdout).toBe('');
    } finally {
      await rm(app, { recursive: true, force: true });
    }
    // Alice now has the agents both blocks created, next to the seed's
    const { agents } = await clientWithToken(t, await signUserToken('00000000-0000-4000-8000-00000000a11c', { secret: t.stack.jwtSecret })).listAgents();
    expect(agents.map((a) => a.name)).toEqual(['Trip planner', 'Trip planner', 'Research helper']);
  }, 180_000);
});
