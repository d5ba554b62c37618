import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Db } from '../../ops/db.ts';
import { openMigrated } from '../helpers/db.ts';

let db: Db;
beforeAll(async () => {
  db = await openMigrated();
});
afterAll(async () => {
  await db?.close();
});

/** Elements that are sometimes right and often subtly wrong. */
const value = fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.constant(null), fc.boolean(), fc.constant({}), fc.constant([]));
const attachment = fc.oneof(
  fc.record({ name: value, storageId: value, size: value }, { requiredKeys: [] }),
  fc.record({ name: fc.string(), storageId: fc.string() }),
  value,
);
const toolCall = fc.oneof(
  fc.record({ toolCallId: value, toolName: value, args: value }, { requiredKeys: [] }),
  fc.record({ toolCallId: fc.string(), toolName: fc.string(), args: fc.oneof(fc.string(), fc.json()) }),
  value,
);
const arrayOr = <T>(el: fc.Arbitrary<T>) => fc.oneof(fc.constant(null), fc.array(el, { maxLength: 4 }), value);

describe('validation', () => {
  it('the inlinable fast check and the element-by-element reason agree on every input', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('user', 'human', 'AI', 'bot', 'function', 'tool', 'system', 'wizard', ''),
        fc.oneof(fc.constant(null), fc.constant({ tokens: 3 }), fc.constant([1]), fc.constant('x')),
        arrayOr(attachment), arrayOr(toolCall), arrayOr(toolCall),
        async (role, metadata, attachments, toolCalls, partial) => {
          const j = (v: unknown) => (v === null ? null : JSON.stringify(v));
          const [r] = await db.query<{ fast: string | null; slow: string | null }>(
            `select chat_migration.message_problem($1, $2::jsonb, $3::jsonb, $4::jsonb, $5::jsonb) as fast,
                    chat_migration.message_problem_detail($1, $2::jsonb, $3::jsonb, $4::jsonb, $5::jsonb) as slow`,
            [role, j(metadata), j(attachments), j(toolCalls), j(partial)],
          );
          expect(r!.fast).toBe(r!.slow);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('args: JSON held in a string is parsed, anything else kept verbatim', async () => {
    const cases: [unknown, unknown][] = [
      ['{"a":1}', { a: 1 }], ['[1,2]', [1, 2]], ['42', 42], ['"quoted"', 'quoted'], ['true', true],
      ['not json', 'not json'], ['{broken', '{broken'], ['', ''], [{ a: 1 }, { a: 1 }], [null, null], ['  {"x":null} ', { x: null }],
    ];
    for (const [input, expected] of cases) {
      const [r] = await db.query<{ v: unknown }>(`select chat_migration.parse_args($1::jsonb) as v`, [JSON.stringify(input)]);
      expect(r!.v, JSON.stringify(input)).toEqual(expected);
    }
  });
});
