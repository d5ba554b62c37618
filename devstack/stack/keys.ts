/**
 * The local stack's JWT secret and API keys — the same secret and claim shapes `supabase start` uses, so a
 * client configured for the Supabase CLI's local stack works against `npm start` unchanged.
 */
import { SignJWT } from 'jose';

/** Supabase's local default; never use it anywhere but a developer machine. */
export const LOCAL_JWT_SECRET = 'super-secret-jwt-token-with-at-least-32-characters-long';

/** The expiry baked into the Supabase CLI's demo keys (2032-11-12). */
const DEMO_KEY_EXPIRY = 1983812996;

export type ApiRole = 'anon' | 'service_role';

/**
 * Supabase's local `anon` / `service_role` keys: HS256, claims `{iss: "supabase-demo", role, exp}` in that
 * order. With the default secret the result is byte-for-byte the key `supabase start` prints, so clients
 * configured for the CLI's stack work against `npm start` unchanged.
 */
export async function signApiKey(role: ApiRole, secret = LOCAL_JWT_SECRET): Promise<string> {
  return new SignJWT({ iss: 'supabase-demo', role, exp: DEMO_KEY_EXPIRY })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
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
