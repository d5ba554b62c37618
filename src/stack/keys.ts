/**
 * The local stack's JWT secret and API keys — the same secret and claim shapes `supabase start` uses, so a
 * client configured for the Supabase CLI's local stack works against `npm start` unchanged.
 */
import { SignJWT } from 'jose';

/** Supabase's local default; never use it anywhere but a developer machine. */
export const LOCAL_JWT_SECRET = 'super-secret-jwt-token-with-at-least-32-characters-long';

/** Ten years, like the CLI's demo keys: the keys are printed once and pasted into .env files. */
const KEY_LIFETIME_SECONDS = 10 * 365 * 24 * 3600;

export type ApiRole = 'anon' | 'service_role';

/** A key like Supabase's `anon` / `service_role` keys: HS256, `iss: supabase-demo`, `role` claim. */
export async function signApiKey(role: ApiRole, secret = LOCAL_JWT_SECRET, issuedAt = 1_700_000_000): Promise<string> {
  return new SignJWT({ iss: 'supabase-demo', role })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + KEY_LIFETIME_SECONDS)
    .sign(new TextEncoder().encode(secret));
}

export interface UserTokenOptions {
  secret?: string;
  /** Seconds from now; negative for an already-expired token. */
  expiresIn?: number;
  email?: string;
  role?: string;
}

/** An access token as Supabase Auth would issue it for a signed-in user (tests and demos). */
export async function signUserToken(sub: string, opts: UserTokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    sub,
    role: opts.role ?? 'authenticated',
    aud: 'authenticated',
    ...(opts.email ? { email: opts.email } : {}),
    session_id: crypto.randomUUID(),
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer('http://127.0.0.1:54321/auth/v1')
    .setIssuedAt(now)
    .setExpirationTime(now + (opts.expiresIn ?? 3600))
    .sign(new TextEncoder().encode(opts.secret ?? LOCAL_JWT_SECRET));
}
