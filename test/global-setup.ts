import { ensureTemplate } from '../src/db/template.ts';

/** Build the migrated template once per run so every test file can load it in under a second. */
export default async function setup() {
  await ensureTemplate();
}
