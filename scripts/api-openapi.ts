/**
 * npm run api:openapi [-- --check]
 *
 * Writes docs/openapi.json: the OpenAPI 3.1 document of the edge functions, generated from the contract
 * (supabase/functions/_shared/contract.ts — the same document the `openapi` function serves). --check exits 1
 * with "docs/openapi.json is out of date — run npm run api:openapi" when the committed file differs.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openApiDocument } from '../supabase/functions/_shared/openapi.ts';

const usage = 'usage: npm run api:openapi -- [--check]';
export const openApiFile = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'openapi.json');

/** The file's text: the document, two-space JSON, one trailing newline. */
export const openApiText = () => `${JSON.stringify(openApiDocument(), null, 2)}\n`;

async function main(): Promise<number> {
  let check = false;
  try {
    check = parseArgs({ strict: true, allowPositionals: false, options: { check: { type: 'boolean' } } }).values.check === true;
  } catch (e) {
    console.error(`${(e as Error).message}\n${usage}`);
    return 2;
  }
  const text = openApiText();
  const current = await readFile(openApiFile, 'utf8').catch(() => null);
  if (check) {
    if (current === text) {
      console.log('docs/openapi.json is up to date');
      return 0;
    }
    console.error('docs/openapi.json is out of date — run npm run api:openapi');
    return 1;
  }
  if (current === text) {
    console.log('docs/openapi.json is up to date');
    return 0;
  }
  await writeFile(openApiFile, text);
  console.log('wrote docs/openapi.json');
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then((code) => {
    process.exitCode = code;
  });
}
