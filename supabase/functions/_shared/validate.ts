/**
 * Request plumbing shared by the functions: path ids, query-string parsing, opaque keyset cursors. The
 * schemas themselves are the contract's (contract.ts, schemas.ts).
 */
import { z } from 'zod';
import { badRequest, describeZod } from './http.ts';
import type { Endpoint } from './endpoint.ts';
import { isRealTimestamp, uuid } from './schemas.ts';

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

/** The query parameters of a contract endpoint (400 invalid_query when they do not fit). */
export function query<E extends Endpoint & { query: z.ZodObject }>(url: URL, e: E): z.output<E['query']> {
  return parseQuery(url, e.query) as z.output<E['query']>;
}

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
