/**
 * The API's transport against a running stack: exact storage of what a client sends (numbers a double
 * cannot hold, unpaired surrogates, NUL, `__proto__`, impossible dates — refused or kept, never changed),
 * CORS, the 1 MB body cap, JSON 431s for oversized headers, and JSON 404s.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectApiError, newUser, raw, startTestStack, type TestStack, type TestUser } from './stack.ts';

let t: TestStack;
let alice: TestUser;

beforeAll(async () => {
  t = await startTestStack();
  alice = await newUser(t);
});
afterAll(async () => {
  await t?.stop();
});

describe('exact storage', () => {
  const post = (path: string, body: string) => raw(t, 'POST', path, { token: alice.token, body });

  it('keeps __proto__ as an ordinary key in every JSON object it stores', async () => {
    const r = await post('messages', '{"role":"user","content":{"type":"parts","parts":[{"type":"text","text":"x","__proto__":{"p":1}}]},"metadata":{"__proto__":{"polluted":true},"a":1}}');
    expect(r.status).toBe(201);
    expect(r.text).toContain('"metadata":{"a":1,"__proto__":{"polluted":true}}');
    const message = (r.json as { message: { id: string; conversation_id: string; metadata: object; content: { parts: object[] } } }).message;
    expect(Object.keys(message.metadata)).toEqual(['a', '__proto__']);
    expect(Object.keys(message.content.parts[0]!)).toContain('__proto__');
    const a = await post('agents', '{"name":"proto","config":{"__proto__":{"x":1}}}');
    expect(a.status).toBe(201);
    expect(a.text).toContain('"config":{"__proto__":{"x":1}}');
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
  });

  it('refuses numbers a double cannot hold, naming the path, instead of storing them changed', async () => {
    for (const [value, path] of [
      ['1e400', 'metadata.n'],
      ['-1e400', 'metadata.n'],
      ['1e-400', 'metadata.n'],
      ['123456789012345678901234567890', 'metadata.n'],
      ['9007199254740993', 'metadata.n'],
    ] as const) {
      const r = await post('messages', `{"role":"user","content":"x","metadata":{"n":${value}}}`);
      expect(r.status, value).toBe(422);
      expect(r.json).toMatchObject({ error: { code: 'validation_failed', message: expect.stringMatching(new RegExp(`^${path.replace('.', '\\.')}: the number`)) } });
    }
    const deep = await raw(t, 'PUT', 'agent-state', { token: alice.token, body: `{"agent_id":"${alice.agentId}","state_type":"local","state":{"list":[1,2,{"big":1e999}]}}` });
    expect(deep.json).toMatchObject({ error: { message: expect.stringMatching(/^state\.list\.2\.big: /) } });
    // what a double holds exactly is stored exactly, whatever its spelling
    const ok = await post('messages', '{"role":"user","content":"x","metadata":{"a":1.0,"b":1e2,"c":0.1,"d":-0,"e":9007199254740991,"f":1.7976931348623157e308,"g":5e-324}}');
    expect(ok.status).toBe(201);
    expect((ok.json as { message: { metadata: object } }).message.metadata).toEqual({ a: 1, b: 100, c: 0.1, d: 0, e: 9007199254740991, f: 1.7976931348623157e308, g: 5e-324 });
  });

  it('refuses unpaired surrogates and NUL in every text field and key, naming the path', async () => {
    const cases: Array<[string, string, string]> = [
      ['messages', '{"role":"user","content":"ok","title":"bad \\ud800 title"}', 'title'],
      ['messages', '{"role":"user","content":"bad \\udc00"}', 'content'],
      ['messages', '{"role":"user","content":"ok","metadata":{"k\\ud800":1}}', 'metadata.k\ud800'],
      ['messages', '{"role":"user","content":"ok","attachments":[{"name":"a\\u0000b","storage_path":"p"}]}', 'attachments.0.name'],
      ['sessions', '{"title":"\\ud83d"}', 'title'],
      ['agents', '{"name":"\\udfff"}', 'name'],
    ];
    for (const [path, body, where] of cases) {
      const r = await post(path, body);
      expect(r.status, body).toBe(422);
      const message = (r.json as { error: { code: string; message: string } }).error.message;
      expect(message.startsWith(`${where}: `), `${body} → ${message}`).toBe(true);
      expect(message).toMatch(/surrogate|NUL/);
    }
    // a well-formed pair (an emoji written as two escapes) is fine
    const emoji = await post('sessions', '{"title":"\\ud83d\\ude00"}');
    expect(emoji.status).toBe(201);
    expect((emoji.json as { session: { title: string } }).session.title).toBe('😀');
  });

  it('answers a cursor with an impossible date with 400 invalid_cursor, not a database error', async () => {
    const conversation_id = (await alice.chat.sendMessage({ role: 'user', content: 'x' })).message.conversation_id;
    for (const at of ['2025-13-01T00:00:00+00:00', '2025-02-30T00:00:00+00:00', '2025-01-01T24:00:00+00:00', '2025-99-99 99:99:99+00']) {
      const before = Buffer.from(JSON.stringify([at, crypto.randomUUID()])).toString('base64url');
      const e = await expectApiError(alice.chat.listMessages({ conversation_id, before }), 400, 'invalid_cursor');
      expect(e.message).toMatch(/cursor/);
      await expectApiError(alice.chat.listSessions({ before }), 400, 'invalid_cursor');
      await expectApiError(alice.chat.listAgents({ before }), 400, 'invalid_cursor');
    }
    // a leap day is a real date
    const leap = Buffer.from(JSON.stringify(['2024-02-29T00:00:00+00:00', crypto.randomUUID()])).toString('base64url');
    expect((await alice.chat.listMessages({ conversation_id, before: leap })).messages).toEqual([]);
    await expectApiError(alice.chat.storeMemory({ agent_id: alice.agentId, memory_type: 'semantic', content: 'x', expires_at: '2030-02-30T00:00:00Z' }), 422, 'validation_failed');
  });
});

describe('http', () => {
  it('answers CORS preflight', async () => {
    const res = await fetch(`${t.stack.functionsUrl}/messages`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    await res.text();
  });

  it('answers 413 for a body over 1 MB, declared or streamed', async () => {
    const big = JSON.stringify({ role: 'user', content: 'x'.repeat(1024 * 1024) });
    const declared = await raw(t, 'POST', 'messages', { token: alice.token, body: big });
    expect(declared.status).toBe(413);
    expect(declared.json).toMatchObject({ error: { code: 'payload_too_large' } });
    // chunked: no Content-Length, so only counting the bytes read can catch it
    const chunks = new ReadableStream<Uint8Array>({
      start(c) {
        const piece = new TextEncoder().encode('x'.repeat(64 * 1024));
        c.enqueue(new TextEncoder().encode('{"role":"user","content":"'));
        for (let i = 0; i < 20; i++) c.enqueue(piece);
        c.enqueue(new TextEncoder().encode('"}'));
        c.close();
      },
    });
    const res = await fetch(`${t.stack.functionsUrl}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
      body: chunks,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: 'payload_too_large' } });
  });

  it('answers oversized headers and URLs with a JSON 431, not an empty body', async () => {
    const { request } = await import('node:http');
    const send = (path: string, headers: Record<string, string>) =>
      new Promise<{ status: number; type: string | undefined; body: string }>((resolve, reject) => {
        const req = request(`${t.stack.apiUrl}${path}`, { method: 'GET', headers }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
        });
        req.on('error', reject);
        req.end();
      });
    for (const r of [
      await send('/functions/v1/sessions', { authorization: `Bearer ${'a'.repeat(20 * 1024)}` }),
      await send(`/functions/v1/sessions?x=${'a'.repeat(100 * 1024)}`, { authorization: `Bearer ${alice.token}` }),
    ]) {
      expect(r.status).toBe(431);
      expect(r.type).toBe('application/json');
      expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'headers_too_large', message: expect.stringMatching(/16 KB/) } });
    }
  });

  it('answers unknown routes and functions with a JSON 404', async () => {
    expect((await raw(t, 'GET', 'messages/nope/deeper', { token: alice.token })).status).toBe(404);
    const fn = await raw(t, 'GET', 'no-such-function', { token: alice.token });
    expect(fn.status).toBe(404);
    expect(fn.json).toMatchObject({ error: { code: 'function_not_found' } });
  });
});
