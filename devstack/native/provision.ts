/**
 * Installs what the native lane needs, from Debian's own packages only:
 *   - PostgreSQL 15, its server headers (PGXS), pg_cron and pgTAP from the machine's apt sources;
 *   - pgvector 0.8.0 built with PGXS from Debian trixie's source package, fetched through a PRIVATE apt
 *     configuration (its own sources list, lists and cache directories under .data/build), so the machine's
 *     apt configuration and state are never changed. apt checks the trixie InRelease signature against the
 *     installed Debian archive keyring and every downloaded file against the signed index.
 *
 * Needs root and apt-get only when something is missing; with everything installed it only looks.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

export const PG_MAJOR = 15;
export const PGVECTOR_VERSION = '0.8.0';
export const pgBinDir = `/usr/lib/postgresql/${PG_MAJOR}/bin`;
const pgLibDir = `/usr/lib/postgresql/${PG_MAJOR}/lib`;
const pgExtensionDir = `/usr/share/postgresql/${PG_MAJOR}/extension`;

/** Debian packages installed with apt (pgvector is built, see below). */
export const aptPackages = [
  `postgresql-${PG_MAJOR}`,
  `postgresql-server-dev-${PG_MAJOR}`,
  `postgresql-${PG_MAJOR}-cron`,
  `postgresql-${PG_MAJOR}-pgtap`,
  // building pgvector: apt-get source unpacks with dpkg-source; PGXS needs make and a C compiler
  'dpkg-dev',
  'make',
  'gcc',
];

const TRIXIE_SOURCES = 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main';

/** The machine cannot provision the native lane; the message says why and what to use instead. */
export class NativeUnavailableError extends Error {
  override name = 'NativeUnavailableError';
}

export type Log = (line: string) => void;

export interface RunResult {
  code: number;
  out: string;
}

/** Runs a command; its output goes to `log` (stderr in the CLI) and is returned. */
export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; log?: Log; quiet?: boolean } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const relay = (buf: Buffer) => {
      const s = buf.toString();
      out += s;
      if (!opts.quiet && opts.log) for (const line of s.split('\n')) if (line.trim()) opts.log(line);
    };
    child.stdout.on('data', relay);
    child.stderr.on('data', relay);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

async function mustRun(cmd: string, args: string[], opts: Parameters<typeof run>[2] = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.code}):\n${r.out.split('\n').slice(-15).join('\n')}`);
  return r.out;
}

export const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

function onPath(bin: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, bin)));
}

async function packageInstalled(pkg: string): Promise<boolean> {
  if (!onPath('dpkg-query')) return false;
  const r = await run('dpkg-query', ['-W', '-f', '${db:Status-Abbrev}', pkg], { quiet: true });
  return r.code === 0 && r.out.startsWith('ii');
}

/** pgvector's control file and library for PostgreSQL 15, at the version we build. */
export function pgvectorInstalled(): boolean {
  const control = join(pgExtensionDir, 'vector.control');
  if (!existsSync(control) || !existsSync(join(pgLibDir, 'vector.so'))) return false;
  return readFileSync(control, 'utf8').includes(`default_version = '${PGVECTOR_VERSION}'`);
}

export async function missingPieces(): Promise<{ packages: string[]; pgvector: boolean }> {
  const packages: string[] = [];
  for (const p of aptPackages) if (!(await packageInstalled(p))) packages.push(p);
  return { packages, pgvector: !pgvectorInstalled() };
}

/**
 * Why this machine cannot install what is missing, as one sentence that also says what to use instead;
 * null when it can (Linux with apt-get, running as root) or when nothing is missing.
 */
export function unavailableReason(missing: string[], machine: { platform: string; aptGet: boolean; root: boolean }): string | null {
  if (!missing.length || (machine.platform === 'linux' && machine.aptGet && machine.root)) return null;
  const needs = machine.platform !== 'linux' || !machine.aptGet ? 'a Debian or Ubuntu machine with apt-get' : 'root (run it with sudo)';
  return (
    `The native lane needs ${needs} to install PostgreSQL ${PG_MAJOR} with pgvector and pg_cron from Debian's packages ` +
    `(missing here: ${missing.join(', ')}); point DATABASE_URL (or --database-url) at an existing PostgreSQL 15+ server ` +
    'with pgvector instead — everything else keeps working on PGlite.'
  );
}

/** Installs what is missing; a no-op (a few dpkg-query calls) when everything is there. */
export async function ensureInstalled(opts: { root: string; log: Log }): Promise<void> {
  const { log } = opts;
  const missing = await missingPieces();
  if (!missing.packages.length && !missing.pgvector) return;
  const what = [...missing.packages, ...(missing.pgvector ? [`pgvector ${PGVECTOR_VERSION} (built from source)`] : [])];
  const why = unavailableReason(what, { platform: process.platform, aptGet: onPath('apt-get') && onPath('dpkg-query'), root: isRoot() });
  if (why) throw new NativeUnavailableError(why);

  if (missing.packages.length) {
    log(`installing ${missing.packages.join(' ')} with apt-get…`);
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    const args = ['install', '-y', '--no-install-recommends', ...missing.packages];
    const first = await run('apt-get', args, { env, log });
    if (first.code !== 0) {
      // Stale package lists on a fresh machine: refresh them (the machine's own sources) and try again.
      log('apt-get install failed; running apt-get update and trying again…');
      await mustRun('apt-get', ['update'], { env, log });
      await mustRun('apt-get', args, { env, log });
    }
  }
  if (!pgvectorInstalled()) await buildPgvector(opts);
}

/**
 * `apt-get source pgvector` from trixie through a private apt configuration, then PGXS against
 * PostgreSQL 15 (`make && make install` with that server's pg_config).
 */
async function buildPgvector({ root, log }: { root: string; log: Log }): Promise<void> {
  const build = join(root, '.data', 'build');
  const aptDir = join(build, 'apt');
  await rm(build, { recursive: true, force: true });
  for (const d of ['sources.list.d', 'preferences.d', 'lists/partial', 'cache/archives/partial']) {
    await mkdir(join(aptDir, d), { recursive: true });
  }
  // apt drops privileges to `_apt` for downloads; let it reach its private directories.
  for (const d of [build, aptDir]) await chmod(d, 0o755);
  await writeFile(join(aptDir, 'sources.list'), `${TRIXIE_SOURCES}\n`);
  const aptOpts = [
    '-o', `Dir::Etc::sourcelist=${join(aptDir, 'sources.list')}`,
    '-o', `Dir::Etc::sourceparts=${join(aptDir, 'sources.list.d')}`,
    '-o', `Dir::Etc::preferencesparts=${join(aptDir, 'preferences.d')}`,
    '-o', `Dir::State::Lists=${join(aptDir, 'lists')}`,
    '-o', `Dir::Cache=${join(aptDir, 'cache')}`,
    '-o', 'APT::Get::List-Cleanup=false',
    '-o', 'Acquire::AllowInsecureRepositories=false',
    '-o', 'Acquire::AllowDowngradeToInsecureRepositories=false',
  ];
  log(`fetching Debian trixie's pgvector source package (private apt state in ${aptDir})…`);
  await mustRun('apt-get', [...aptOpts, 'update'], { log });
  const showsrc = await mustRun('apt-cache', [...aptOpts, 'showsrc', 'pgvector'], { quiet: true });
  const versions = [...showsrc.matchAll(/^Version: (\S+)$/gm)].map((m) => m[1]!).filter((v) => v.startsWith(`${PGVECTOR_VERSION}-`));
  if (!versions.length) {
    throw new Error(`Debian trixie no longer lists pgvector ${PGVECTOR_VERSION} (found: ${[...showsrc.matchAll(/^Version: (\S+)$/gm)].map((m) => m[1]).join(', ') || 'none'}).`);
  }
  const version = versions.sort().at(-1)!;
  await mustRun('apt-get', [...aptOpts, 'source', '--only-source', `pgvector=${version}`], { cwd: build, log });
  const srcDir = (await readdir(build)).find((f) => f.startsWith(`pgvector-${PGVECTOR_VERSION}`));
  if (!srcDir) throw new Error(`apt-get source did not unpack pgvector-${PGVECTOR_VERSION} in ${build}`);
  const pgConfig = join(pgBinDir, 'pg_config');
  log(`building pgvector ${version} with PGXS against PostgreSQL ${PG_MAJOR}…`);
  const make = ['-C', join(build, srcDir), `PG_CONFIG=${pgConfig}`];
  await mustRun('make', [...make, `-j${Math.min(4, availableParallelism())}`], { log, quiet: true });
  await mustRun('make', [...make, 'install'], { log, quiet: true });
  if (!pgvectorInstalled()) throw new Error(`pgvector ${PGVECTOR_VERSION} was built but is not installed in ${pgExtensionDir}`);
  log(`installed pgvector ${version}`);
  await rm(build, { recursive: true, force: true });
}
