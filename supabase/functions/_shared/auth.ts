/**
 * Verifies the caller's JWT the way Supabase's gateway would, then decides which database role the
 * request runs as. Only three roles can come out of here — a token cannot pick an arbitrary role.
 *
 * - HS256 with the project's JWT secret (`SUPABASE_JWT_SECRET`, or `JWT_SECRET`);
 * - RS256/ES256 against `SUPABASE_JWKS_URL` when configured (Supabase's asymmetric signing keys).
 */
import * as jose from 'jose';
import { HttpError } from './http.ts';

export type DbRole = 'authenticated' | 'service_role' | 'anon';

export interface Caller {
  role: DbRole;
  /** auth.uid() for authenticated callers. */
  userId: string | null;
  claims: Record<string, unknown>;
}

const secret = Deno.env.get('SUPABASE_JWT_SECRET') ?? Deno.env.get('JWT_SECRET') ?? '';
const secretKey = new TextEncoder().encode(secret);
const jwksUrl = Deno.env.get('SUPABASE_JWKS_URL');
const jwks = jwksUrl ? jose.createRemoteJWKSet(new URL(jwksUrl)) : null;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const unauthorized = (code: string, message: string) =>
  new HttpError(401, code, message, { 'WWW-Authenticate': 'Bearer' });

export async function authenticate(req: Request): Promise<Caller> {
  const header = req.headers.get('authorization');
  if (!header) throw unauthorized('missing_authorization', 'Send `Authorization: Bearer <access token>`.');
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw unauthorized('invalid_authorization', 'The Authorization header must be `Bearer <access token>`.');
  const token = m[1]!;
  let payload: jose.JWTPayload;
  try {
    const { alg } = jose.decodeProtectedHeader(token);
    if (alg === 'HS256') {
      if (!secret) throw new Error('no JWT secret configured');
      ({ payload } = await jose.jwtVerify(token, secretKey, { algorithms: ['HS256'] }));
    } else if (jwks && (alg === 'RS256' || alg === 'ES256')) {
      ({ payload } = await jose.jwtVerify(token, jwks, { algorithms: ['RS256', 'ES256'] }));
    } else {
      throw new Error(`unsupported alg ${alg}`);
    }
  } catch (e) {
    if (e instanceof jose.errors.JWTExpired) {
      throw unauthorized('jwt_expired', 'The access token has expired; refresh the session and retry.');
    }
    throw unauthorized('invalid_jwt', 'The access token is not valid (malformed, or not signed by this project).');
  }
  const role = payload.role;
  if (role === 'service_role') return { role, userId: null, claims: payload as Record<string, unknown> };
  if (role === 'anon') return { role, userId: null, claims: payload as Record<string, unknown> };
  if (role === 'authenticated') {
    if (typeof payload.sub !== 'string' || !UUID_RE.test(payload.sub)) {
      throw unauthorized('invalid_jwt', 'The access token has no user id (sub).');
    }
    return { role, userId: payload.sub.toLowerCase(), claims: payload as Record<string, unknown> };
  }
  throw new HttpError(403, 'forbidden_role', `Tokens with role ${JSON.stringify(role)} cannot call this API.`);
}

/** Endpoints that act for a user: anon keys get a 401 that says what to send instead. */
export function requireUserOrService(c: Caller): Caller {
  if (c.role === 'anon') {
    throw unauthorized('user_required', 'Sign in first: this endpoint needs a user access token, not the anon key.');
  }
  return c;
}
