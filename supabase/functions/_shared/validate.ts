/**
 * Input rules shared by the functions: ids, limits, opaque keyset cursors, query-string parsing.
 */
import { z } from 'zod';
import { badRequest, describeZod } from './http.ts';

/** Any 8-4-4-4-12 hex id (Postgres accepts every such uuid, not only RFC v4). */
export const uuid = z.string().regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'must be a uuid');

/**
 * A JSON object, passed on by reference: zod's `record` copies objects key by key, and an assignment to
 * `__proto__` sets the prototype instead of a key — the key would vanish. jsonb stores it like any other.
 */
export const jsonObject = z.custom<Record<string, unknown>>(
  (v) => v !== null && typeof v === 'object' && !Array.isArray(v),
  'must be a JSON object',
);

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

/** ISO-8601 timestamp with a zone that names a real date and time. */
export const timestamp = z
  .string()
  .regex(TS_RE, 'must be an ISO-8601 timestamp with a time zone, e.g. 2030-01-31T12:00:00Z')
  .refine(isRealTimestamp, 'is not a real date and time (month 1-12, a day that month has, hours 0-23, offset at most 15:59)');

export function pathId(params: Record<string, string>, key = 'id'): string {
  const v = params[key] ?? '';
  if (!uuid.safeParse(v).success) throw badRequest('invalid_id', `The ${key} in the path must be a uuid.`);
  return v.toLowerCase();
}

/** Parses the query string with a zod object schema (every value a string); unknown or repeated keys are refused. */
export function parseQuery<T extends z.ZodType>(url: URL, schema: T): z.infer<T> {
  const raw: Record<string, string> = {};
  for (const [k, v] of url.searchParams) {
    if (k in raw) throw badRequest('invalid_query', `Query parameter ${k} is given twice.`);
    // `?before=` (an empty value) means "not given", as clients that template URLs send it.
    if (v === '') continue;
    raw[k] = v;
  }
  const r = schema.safeParse(raw);
  if (!r.success) throw badRequest('invalid_query', describeZod(r.error));
  return r.data;
}

/** `limit` as a query value: a whole number 1..200. */
export const limitParam = z
  .string()
  .regex(/^\d{1,3}$/, 'limit must be a whole number from 1 to 200')
  .transform(Number)
  .refine((n) => n >= 1 && n <= 200, 'limit must be a whole number from 1 to 200');

function b64url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function unb64url(s: string): unknown {
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(s)) throw new Error('bad cursor');
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
  return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bin, (ch) => ch.charCodeAt(0))));
}

const badCursor = () => badRequest('invalid_cursor', 'The cursor is not one this API handed out; start again without `before`.');

/** Cursor over a version-numbered stream (agent-state history): base64url of `["v", <version>]`. */
export function encodeVersionCursor(version: number): string {
  return b64url(JSON.stringify(['v', version]));
}

export function decodeVersionCursor(s: string): number {
  let parsed: unknown;
  try {
    parsed = unb64url(s);
  } catch {
    throw badCursor();
  }
  if (!Array.isArray(parsed) || parsed.length !== 2 || parsed[0] !== 'v') throw badCursor();
  const v = parsed[1];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 2_147_483_647) throw badCursor();
  return v;
}

export interface Cursor {
  at: string;
  id: string;
}

/** Opaque to clients: base64url of `["<created_at as Postgres prints it>", "<id>"]`. */
export function encodeCursor(c: Cursor): string {
  return b64url(JSON.stringify([c.at, c.id]));
}

export function decodeCursor(s: string): Cursor {
  let parsed: unknown;
  try {
    parsed = unb64url(s);
  } catch {
    throw badCursor();
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) throw badCursor();
  const [at, id] = parsed;
  if (typeof at !== 'string' || !/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([+-]\d{2}(:\d{2})?|Z)$/.test(at)) throw badCursor();
  // A well-formed but impossible instant (month 13, 31 June…) would reach Postgres as a 22008.
  if (!isRealTimestamp(at)) throw badCursor();
  if (typeof id !== 'string' || !uuid.safeParse(id).success) throw badCursor();
  return { at, id };
}

/** Parses a JSON body with a zod schema; a failure is a 422 with the field names. */
export function parseBody<T extends z.ZodType>(body: unknown, schema: T): z.infer<T> {
  return schema.parse(body);
}
