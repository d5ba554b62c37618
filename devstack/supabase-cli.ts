/**
 * Runs the real Supabase CLI (npm `supabase`, a wrapper around the platform binary) offline:
 * temp HOME, telemetry off, no keyring. Every command is pointed at a local pglite-socket URL, so
 * nothing leaves 127.0.0.1.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../ops/migrations/runner.ts';

export const supabaseBin = join(projectRoot, 'node_modules', '.bin', 'supabase');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function cliEnv(): Promise<NodeJS.ProcessEnv> {
  const home = await mkdtemp(join(tmpdir(), 'ajc-supabase-home-'));
  return {
    PATH: process.env.PATH,
    HOME: home,
    SUPABASE_TELEMETRY_DISABLED: '1',
    DO_NOT_TRACK: '1',
    SUPABASE_NO_KEYRING: '1',
    // The CLI asks before touching a "remote"; tests confirm with --yes, never with a prompt.
    CI: '1',
  };
}

export async function runSupabase(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  const env = opts.env ?? (await cliEnv());
  // The CLI keeps state in ./supabase/.temp of its working directory: never let that be the checkout.
  const cwd = opts.cwd ?? env.HOME ?? (await mkdtemp(join(tmpdir(), 'ajc-supabase-cwd-')));
  return new Promise((resolve) => {
    execFile(
      supabaseBin,
      args,
      { cwd, env, timeout: opts.timeoutMs ?? 90_000, maxBuffer: 32 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** Why the CLI cannot run here, or null when it can (`supabase --version` answers). */
export async function cliUnavailable(): Promise<string | null> {
  if (!existsSync(supabaseBin)) return `the supabase CLI is not installed (${supabaseBin} is missing)`;
  const r = await runSupabase(['--version'], { timeoutMs: 30_000 });
  if (r.code !== 0) return `the supabase CLI binary does not run on this platform: ${(r.stderr || r.stdout).trim().split('\n')[0]}`;
  return null;
}
