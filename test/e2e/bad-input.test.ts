/**
 * Generated bad input (fast-check): ≥ 1,000 bodies, query strings and path ids across every endpoint.
 * Whatever a client sends, the answer is never a 5xx, and every error is `{"error": {"code", "message"}}`.
 * Near-valid bodies (one field replaced by arbitrary JSON, real ids of the caller's own rows) reach the
 * database, so SQLSTATE mapping is exercised too, not just the validators.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { axis, newUser, startTestStack, type TestStack, type TestUser } from './stack.ts';

let t: TestStack;
let u: TestUser;
const ids: Record<string, string> = {};

beforeAll(async () => {
  t = await startTestStack();
  u = await newUser(t);
  const { session } = await u.chat.createSession({ agent_id: u.agentId });
  ids.session = session.id;
  ids.message = (await u.chat.sendMessage({ conversation_id: session.id, role: 'user', content: 'seed' })).message.id;
  await u.chat.saveState({ agent_id: u.agentId, state_type: 'persistent', state: { a: 1 } });
  ids.checkpoint = (await u.chat.checkpoint({ agent_id: u.agentId, state_type: 'persistent' })).checkpoint.id;
  // a second agent for PATCH /agents/:id, so the corpus never renames the one the other bodies use
  ids.agent = (await u.chat.createAgent({ name: 'patched by the corpus' })).agent.id;
});
afterAll(async () => {
  await t?.stop();
});

interface Case {
  method: string;
  path: string;
  body?: string;
  token?: 'user' | 'service' | 'anon';
}

const nasty = fc.constantFrom(
  '', ' ', '\u0000', 'a\u0000b', '\ud800', '\udfff x', '💥'.repeat(3), "'; drop table agents; --", '%00', '../../etc', '{}', '[]',
  'null', 'NaN', '-0', '1e309', '9'.repeat(40), '00000000-0000-0000-0000-000000000000', 'ZZZZZZZZ-0000-0000-0000-000000000000',
  '2025-13-45T25:61:00Z', '0000-01-01T00:00Z', '99999-01-01T00:00:00Z',
);
const str = fc.oneof(fc.string(), fc.string({ unit: 'binary', maxLength: 40 }), nasty);
const anyJson = fc.oneof({ weight: 3, arbitrary: fc.jsonValue({ maxDepth: 4 }) }, { weight: 1, arbitrary: str });

/** A valid body for the endpoint with fields dropped, replaced by arbitrary JSON, or added. */
function mutated(valid: () => Record<string, unknown>) {
  return fc
    .record({
      drop: fc.array(fc.nat(20), { maxLength: 2 }),
      replace: fc.array(fc.tuple(fc.nat(20), anyJson), { maxLength: 2 }),
      extra: fc.option(fc.tuple(str, anyJson), { nil: undefined }),
    })
    .map(({ drop, replace, extra }) => {
      const body: Record<string, unknown> = valid();
      const keys = Object.keys(body);
      for (const i of drop) delete body[keys[i % keys.length]!];
      for (const [i, v] of replace) body[keys[i % keys.length]!] = v;
      if (extra) body[extra[0]] = extra[1];
      return JSON.stringify(body);
    });
}

const rawBody = fc.oneof(
  { weight: 2, arbitrary: fc.json({ maxDepth: 4 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '{', '{"a":', '[1,2', 'true', '"x"', '{"role":"user","content":"x"', '['.repeat(5000) + ']'.repeat(5000), '{"a":' + '{"a":'.repeat(200) + '1' + '}'.repeat(201), '{"role":"user","content":"x","metadata":{"n":1e400}}', '{"name":"x","config":{"n":123456789012345678901234567890}}', '{"title":"\\ud800"}') },
);

const bodyEndpoints: Array<{ method: string; path: () => string; valid: () => Record<string, unknown> }> = [
  { method: 'POST', path: () => 'messages', valid: () => ({ conversation_id: ids.session, role: 'user', content: 'hi', client_message_id: 'x', metadata: { tokens: 1 }, attachments: [{ name: 'a', storage_path: 'p' }], tool_calls: [{ tool_call_id: 't', tool_name: 'n', args: {} }], parent_message_id: ids.message }) },
  { method: 'PATCH', path: () => `messages/${ids.message}`, valid: () => ({ content: { type: 'parts', parts: [{ type: 'text', text: 'x' }] }, metadata: { a: 1 } }) },
  { method: 'POST', path: () => 'memories', valid: () => ({ agent_id: u.agentId, memory_type: 'semantic', content: 'c', importance: 0.5, expires_at: '2030-01-01T00:00:00Z', metadata: {}, embedding: axis(3) }) },
  { method: 'POST', path: () => 'memories/search', valid: () => ({ agent_id: u.agentId, embedding: axis(3), match_count: 5, memory_types: ['semantic'], min_importance: 0.1 }) },
  { method: 'PUT', path: () => 'agent-state', valid: () => ({ agent_id: u.agentId, state_type: 'persistent', state: { a: 2 }, expected_version: 1, session_id: ids.session }) },
  { method: 'POST', path: () => 'agent-state/checkpoints', valid: () => ({ agent_id: u.agentId, state_type: 'persistent', label: 'l', checkpoint_type: 'manual', retain_until: '2030-01-01T00:00:00Z' }) },
  { method: 'POST', path: () => `agent-state/checkpoints/${ids.checkpoint}/restore`, valid: () => ({ expected_version: 1 }) },
  { method: 'POST', path: () => 'sessions', valid: () => ({ agent_id: u.agentId, title: 't', status: 'active', session_state: {}, metadata: {} }) },
  { method: 'PATCH', path: () => `sessions/${ids.session}`, valid: () => ({ title: 't', status: 'idle', session_state: { a: 1 } }) },
  { method: 'POST', path: () => 'agents', valid: () => ({ name: 'agent', config: { model: 'm' } }) },
  { method: 'PATCH', path: () => `agents/${ids.agent}`, valid: () => ({ name: 'renamed', config: { a: 1 } }) },
  { method: 'POST', path: () => `sessions/${ids.session}/snapshots`, valid: () => ({ agent_id: u.agentId, window: 5, context: {}, token_budget: 10, memory_ids: [], message_ids: [ids.message] }) },
];

const queryEndpoints: Array<{ path: string; keys: string[] }> = [
  { path: 'messages', keys: ['conversation_id', 'limit', 'before'] },
  { path: 'agent-state', keys: ['agent_id', 'state_type', 'session_id'] },
  { path: 'agent-state/history', keys: ['agent_id', 'state_type', 'session_id', 'limit', 'before'] },
  { path: 'agent-state/checkpoints', keys: ['agent_id', 'session_id', 'limit'] },
  { path: 'sessions', keys: ['limit', 'before', 'status'] },
  { path: 'agents', keys: ['limit', 'before', 'owner_id'] },
];

function queryValue(key: string) {
  const own: Record<string, string[]> = {
    conversation_id: [ids.session!],
    agent_id: [u.agentId],
    owner_id: [u.id],
    session_id: [ids.session!],
    state_type: ['persistent', 'session', 'bogus'],
    status: ['active', 'nope'],
    limit: ['0', '1', '200', '201', '-1', '1.5', 'abc', '1e2', '', '0001', '99999999999999999999'],
    before: [Buffer.from(JSON.stringify(['2025-01-01T00:00:00Z', crypto.randomUUID()])).toString('base64url'), Buffer.from('["v",3]').toString('base64url'), Buffer.from('["2025-99-99 99:99:99+00",1]').toString('base64url'), 'x', '!!!'],
  };
  return fc.oneof(fc.constantFrom(...(own[key] ?? ['x'])), str);
}

const queryCase: fc.Arbitrary<Case> = fc
  .tuple(fc.constantFrom(...queryEndpoints), fc.nat(), fc.array(fc.tuple(str, str), { maxLength: 2 }), fc.boolean())
  .chain(([ep, seed, extra, dup]) =>
    fc.tuple(...ep.keys.map((k) => fc.option(queryValue(k), { nil: undefined, freq: 3 }))).map((vals) => {
      const q = new URLSearchParams();
      ep.keys.forEach((k, i) => vals[i] !== undefined && q.append(k, vals[i]!));
      if (seed % 5 === 0) for (const [k, v] of extra) q.append(k, v);
      if (dup && ep.keys[0]) q.append(ep.keys[0], 'dup');
      const qs = q.toString();
      return { method: 'GET', path: `${ep.path}${qs ? `?${qs}` : ''}`, token: 'user' as const };
    }),
  );

const bodyCase: fc.Arbitrary<Case> = fc.constantFrom(...bodyEndpoints).chain((ep) =>
  fc
    .tuple(fc.oneof({ weight: 3, arbitrary: mutated(ep.valid) }, { weight: 1, arbitrary: rawBody }), fc.constantFrom('user', 'user', 'user', 'service'))
    .map(([body, token]) => ({ method: ep.method, path: ep.path(), body, token: token as Case['token'] })),
);

const safeEncode = (s: string) => {
  try {
    return encodeURIComponent(s);
  } catch {
    return encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '?')); // lone surrogates cannot be percent-encoded
  }
};
const segment = fc.oneof(str.map(safeEncode), fc.constantFrom('%zz', '%', '..', '%2F', 'a%00b', '00000000-0000-0000-0000-00000000000g'));
const pathCase: fc.Arbitrary<Case> = fc
  .tuple(
    fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE'),
    fc.constantFrom('messages/', 'sessions/', 'agent-state/checkpoints/', 'memories/', 'agent-state/', 'sessions/x/', 'agents/', ''),
    segment,
    fc.constantFrom('', '/restore', '/snapshots', '/x/y'),
    fc.option(rawBody, { nil: undefined }),
  )
  .map(([method, prefix, seg, suffix, body]) => ({ method, path: `${prefix}${seg}${suffix}`, ...(body !== undefined && method !== 'GET' ? { body } : {}), token: 'user' as const }));

it('answers ≥ 1,000 generated bad requests with 4xx JSON errors and never a 5xx', async () => {
  const cases: Case[] = [
    ...fc.sample(bodyCase, { numRuns: 700, seed: 42 }),
    ...fc.sample(queryCase, { numRuns: 350, seed: 43 }),
    ...fc.sample(pathCase, { numRuns: 150, seed: 44 }),
  ];
  expect(cases.length).toBeGreaterThanOrEqual(1000);
  const tokens = { user: u.token, service: t.stack.serviceRoleKey, anon: t.stack.anonKey };
  const failures: string[] = [];
  const statuses = new Map<number, number>();
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const c = cases[next++]!;
      const res = await fetch(`${t.stack.functionsUrl}/${c.path}`, {
        method: c.method,
        headers: { authorization: `Bearer ${tokens[c.token ?? 'user']}`, 'content-type': 'application/json' },
        ...(c.body !== undefined ? { body: c.body } : {}),
      });
      const text = await res.text();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const show = `${c.method} /${c.path} ${c.body?.slice(0, 200) ?? ''} → ${res.status} ${text.slice(0, 300)}`;
      if (res.status >= 500) failures.push(show);
      else if (res.status >= 400) {
        let parsed: unknown = null;
        try {
          parsed = JSON.parse(text);
        } catch {
          /* fall through */
        }
        const e = (parsed as { error?: { code?: unknown; message?: unknown } } | null)?.error;
        if (typeof e?.code !== 'string' || typeof e?.message !== 'string' || !e.message) failures.push(`bad error body: ${show}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
  if (failures.length) console.error(failures.slice(0, 20).join('\n'));
  if (process.env.DEBUG) console.log([...statuses].sort());
  expect(failures).toEqual([]);
  // the corpus is bad input, not noise: most of it must be refused, some near-valid bodies accepted
  const refused = [...statuses].filter(([s]) => s >= 400).reduce((n, [, c]) => n + c, 0);
  expect(refused).toBeGreaterThan(cases.length / 2);
}, 240_000);
