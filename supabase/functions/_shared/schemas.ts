/**
 * The building blocks of the HTTP contract (contract*.ts): ids, timestamps, JSON objects, limits — zod only,
 * no Deno API, so the functions, the typed client and Node tests import the same definitions. Each carries
 * the JSON Schema it stands for (`.meta`), which is what the generated OpenAPI document shows.
 */
import { z } from 'zod';

/** Named schemas: the `components.schemas` of the OpenAPI document (and `$ref`s wherever they are used). */
export const components = z.registry<{ id: string; description?: string }>();

export function component<T extends z.ZodType>(id: string, schema: T, description?: string): T {
  components.add(schema as z.ZodType, { id, ...(description ? { description } : {}) });
  return schema;
}

/** Any JSON value (jsonb). */
export const jsonValue = component('JsonValue', z.json(), 'Any JSON value.');

/** Any 8-4-4-4-12 hex id (Postgres accepts every such uuid, not only RFC v4). */
export const uuid = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'must be a uuid')
  .meta({ format: 'uuid' });

/**
 * A JSON object, passed on by reference: zod's `record` copies objects key by key, and an assignment to
 * `__proto__` sets the prototype instead of a key — the key would vanish. jsonb stores it like any other.
 */
export const jsonObject = z
  .custom<{ [key: string]: z.core.util.JSONType }>((v) => v !== null && typeof v === 'object' && !Array.isArray(v), 'must be a JSON object')
  .meta({ type: 'object', additionalProperties: true });

/** A JSON object as the API returns it (jsonb built in SQL). */
export const jsonObjectOut = z.record(z.string(), jsonValue);

const TS_RE = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?(?:Z|[+-](\d{2})(?::?(\d{2}))?)$/;

/** True when the text names a real instant: month 1..12, a day that month has, 00:00..23:59:59, offset ≤ 15:59. */
export function isRealTimestamp(text: string): boolean {
  const m = TS_RE.exec(text);
  if (!m) return false;
  const [year, month, day, hour, minute, second, offH, offM] = m.slice(1).map((x) => (x === undefined ? 0 : Number(x)));
  if (year! < 1 || month! < 1 || month! > 12 || day! < 1) return false;
  const leap = year! % 4 === 0 && (year! % 100 !== 0 || year! % 400 === 0);
  if (day! > [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month! - 1]!) return false;
  return hour! <= 23 && minute! <= 59 && second! <= 59 && offH! <= 15 && offM! <= 59;
}

/** ISO-8601 timestamp with a zone that names a real date and time (request bodies). */
export const timestamp = z
  .string()
  .regex(TS_RE, 'must be an ISO-8601 timestamp with a time zone, e.g. 2030-01-31T12:00:00Z')
  .refine(isRealTimestamp, 'is not a real date and time (month 1-12, a day that month has, hours 0-23, offset at most 15:59)')
  .meta({ format: 'date-time' });

/** A timestamptz as Postgres' jsonb prints it (`2026-11-22T00:28:30.101234+00:00`), microseconds kept. */
export const timestampOut = z.iso.datetime({ offset: true });

/** `limit` as a query value: a whole number 1..200. */
export const limitParam = z
  .string()
  .regex(/^\d{1,3}$/, 'limit must be a whole number from 1 to 200')
  .transform(Number)
  .refine((n) => n >= 1 && n <= 200, 'limit must be a whole number from 1 to 200')
  .meta({ type: 'integer', minimum: 1, maximum: 200, default: 50 });

/** An opaque keyset cursor (a `next_cursor` handed out earlier). */
export const cursorParam = z.string().meta({ description: 'next_cursor of the previous page' });

/** Whole numbers as Postgres integer holds them. */
export const int32 = z.number().int().min(0).max(2_147_483_647);

/** A page of a keyset-paginated list: `next_cursor` is null on the last page. */
export const nextCursor = z.string().nullable();
