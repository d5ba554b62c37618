/**
 * Supabase's asymmetric signing keys: with SUPABASE_JWKS_URL set, the functions accept ES256 tokens whose
 * key is in the project's JWKS and refuse ones signed by any other key — while HS256 tokens signed with the
 * project secret keep working (the migration period Supabase documents).
 */
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Db } from '../../ops/db.ts';
import type { Stack } from '../../devstack/stack/index.ts';
import { signUserToken } from '../../devstack/stack/keys.ts';
import { startTestStack, type TestStack } from './stack.ts';

let t: TestStack;
let stack: Stack;
let admin: Db;
let jwksServer: Server;
let projectKey: CryptoKey;
let userId: string;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  projectKey = pair.privateKey as CryptoKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'project-key-1', alg: 'ES256', use: 'sig' };
  jwksServer = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', () => r()));
  const addr = jwksServer.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  t = await startTestStack({
    functions: ['sessions'],
    functionEnv: { SUPABASE_JWKS_URL: `http://127.0.0.1:${port}/auth/v1/.well-known/jwks.json` },
  });
  ({ stack, admin } = t);
  const [u] = await admin.query<{ id: string }>(`insert into auth.users (id, email) values (gen_random_uuid(), 'jwks@example.test') returning id`);
  userId = u!.id;
});
afterAll(async () => {
  await t?.stop();
  jwksServer?.close();
});

async function es256(key: CryptoKey, kid: string) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub: userId, role: 'authenticated', aud: 'authenticated' })
    .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(key);
}

const listSessions = (token: string) =>
  fetch(`${stack.functionsUrl}/sessions`, { headers: { authorization: `Bearer ${token}` } }).then(async (r) => ({ status: r.status, body: await r.json() }));

it('accepts an ES256 token from the JWKS and refuses one from another key', async () => {
  expect((await listSessions(await es256(projectKey, 'project-key-1'))).status).toBe(200);
  const stranger = await generateKeyPair('ES256');
  const forged = await listSessions(await es256(stranger.privateKey as CryptoKey, 'project-key-1'));
  expect(forged.status).toBe(401);
  expect(forged.body).toMatchObject({ error: { code: 'invalid_jwt' } });
});

it('still accepts HS256 tokens signed with the project secret', async () => {
  expect((await listSessions(await signUserToken(userId, { secret: stack.jwtSecret }))).status).toBe(200);
});
