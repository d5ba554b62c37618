/**
 * Postgres errors a client can provoke, mapped to 4xx by SQLSTATE (never by message text).
 * Anything not listed is our bug or an outage and stays a 5xx.
 */
export interface Mapped {
  status: number;
  code: string;
  message: string;
  headers?: Record<string, string>;
}

/** 503s are temporary: `Retry-After` tells the client when to come back. */
export const RETRY_AFTER_SECONDS = 2;
const retryLater = { 'Retry-After': String(RETRY_AFTER_SECONDS) };

/** SQLSTATEs raised by our own SQL API for a stale optimistic-concurrency check. */
export const STALE_VERSION_CODES = new Set(['40001']);

/**
 * The SQL API's own SQLSTATEs (class AJ, catalogue in docs/schema.md). "Not found" covers "not yours":
 * RLS makes the two indistinguishable on purpose.
 */
const API_CODES: Record<string, { status: number; code: string }> = {
  AJC01: { status: 409, code: 'version_conflict' },
  AJC02: { status: 409, code: 'immutable' },
  AJC03: { status: 404, code: 'not_found' },
  AJC04: { status: 422, code: 'invalid_value' },
  AJC05: { status: 404, code: 'not_found' },
  AJC06: { status: 404, code: 'no_state' },
  AJC07: { status: 404, code: 'not_found' },
  AJC08: { status: 422, code: 'invalid_value' },
  AJC09: { status: 422, code: 'invalid_reference' },
  AJC13: { status: 422, code: 'invalid_embedding' },
  AJC14: { status: 404, code: 'not_found' },
  AJC15: { status: 422, code: 'user_required' },
  AJC16: { status: 409, code: 'conflict' },
  AJC17: { status: 409, code: 'already_exists' },
  AJC18: { status: 422, code: 'invalid_reference' },
  AJC19: { status: 422, code: 'validation_failed' },
  AJC20: { status: 422, code: 'validation_failed' },
  AJC21: { status: 409, code: 'conflict' },
};

interface PgLike {
  code?: string;
  message?: string;
  detail?: string;
  hint?: string;
  constraint_name?: string;
  constraint?: string;
}

function withHint(e: PgLike): string {
  return [e.message, e.hint].filter(Boolean).join(' — ');
}

export function mapDbError(err: unknown): Mapped | null {
  const e = err as PgLike;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (!code) return null;
  const api = API_CODES[code];
  if (code === 'AJC01') {
    // The SQL hint speaks of p_expected_version (psql users); HTTP callers send expected_version.
    return { ...api!, message: `${e.message}. Reload the state (GET /agent-state) and save again with expected_version set to the version you read.` };
  }
  if (api) return { ...api, message: withHint(e) };
  if (code.startsWith('AJ')) return { status: 422, code: 'rejected', message: withHint(e) };
  if (STALE_VERSION_CODES.has(code) || code === '40P01') {
    return { status: 409, code: 'conflict', message: withHint(e) };
  }
  if (code === '23505') {
    return { status: 409, code: 'already_exists', message: `A row with the same key already exists (${e.constraint_name ?? e.constraint ?? 'unique key'}).` };
  }
  if (code === '23503') {
    return { status: 422, code: 'invalid_reference', message: 'A referenced row does not exist or is not yours.' };
  }
  if (code === '23514' || code === '23502' || code === '23P01') {
    return { status: 422, code: 'constraint_violation', message: `The data breaks a rule of the schema (${e.constraint_name ?? e.constraint ?? code}).` };
  }
  if (code === '42501') {
    return { status: 403, code: 'forbidden', message: 'You are not allowed to do that.' };
  }
  if (code === 'P0002') return { status: 404, code: 'not_found', message: withHint(e) };
  if (code === 'P0001' || code.startsWith('22') || code === '2201B') {
    // data exceptions: bad text representation, out-of-range numbers, bad timestamps, vector dims…
    return { status: 422, code: 'invalid_value', message: withHint(e) };
  }
  if (code.startsWith('54')) return { status: 413, code: 'too_large', message: withHint(e) };
  if (code === '55000') {
    // object_not_in_prerequisite_state: e.g. a write that would reach a legacy table while the chat
    // schema mode is v2_only (deleting an agent cascades to legacy rows). The message and hint say why.
    return { status: 409, code: 'conflict', message: withHint(e) };
  }
  if (code === '57014' || code === '55P03') {
    // statement_timeout / lock_timeout, set per transaction from the request's deadline (db.ts); the
    // transaction is rolled back.
    return { status: 503, code: 'database_busy', message: 'The database is busy (the request ran out of time waiting for it); nothing was changed. Retry in a moment.', headers: retryLater };
  }
  if (['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT', 'ECONNREFUSED'].includes(code)) {
    return { status: 503, code: 'database_unavailable', message: 'The database is not reachable right now; try again.', headers: retryLater };
  }
  return null;
}
