#!/usr/bin/env node
/**
 * Keeps package-lock.json valid for `npm ci` when the registry serves only this machine's platform.
 *
 * `deno` and `supabase` ship their binaries as optional per-platform packages. When the registry answers 404
 * for the other platforms' packages (as the mirror on our build machines does), `npm install` leaves them out
 * of the lockfile and `npm ci` then refuses the lockfile as out of sync ("Missing: @deno/darwin-arm64@").
 * This adds a lockfile entry (version, os, cpu, libc — no tarball) for every per-platform optional dependency
 * of those packages that is missing; npm skips them on a non-matching platform without fetching anything.
 * Run it after any `npm install` that rewrites the lockfile:  node scripts/lockfile-platforms.mjs
 */
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const packages = lock.packages;
let added = 0;
for (const parent of ['node_modules/deno', 'node_modules/supabase']) {
  const optional = packages[parent]?.optionalDependencies ?? {};
  for (const [name, version] of Object.entries(optional)) {
    const key = `node_modules/${name}`;
    if (packages[key]) continue;
    const short = name.split('/')[1] ?? name;
    const os = short.includes('darwin') ? 'darwin' : /win32|windows/.test(short) ? 'win32' : 'linux';
    const cpu = short.includes('arm64') ? 'arm64' : 'x64';
    const entry = { version, cpu: [cpu], license: 'MIT', optional: true, os: [os] };
    if (short.includes('musl')) entry.libc = ['musl'];
    else if (short.includes('glibc')) entry.libc = ['glibc'];
    packages[key] = entry;
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)));
writeFileSync(path, JSON.stringify(lock, null, 2) + '\n');
console.log(added ? `added ${added} per-platform lockfile entries` : 'lockfile already lists every platform');
