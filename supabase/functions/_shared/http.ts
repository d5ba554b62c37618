/**
 * HTTP plumbing shared by every function: the error shape, CORS, bounded body reading and a tiny router.
 *
 * Every failure a client can cause leaves here as `{"error": {"code", "message"}}` with a 4xx status;
 * only our own bugs and an unreachable database become 5xx.
 */
import { type z, ZodError } from 'zod';
import { routeOf, type Endpoint } from './endpoint.ts';
import { mapDbError } from './errors.ts';
import { parseJsonBody } from './json.ts';

export const MAX_BODY_BYTES = 1024 * 1024;

export const corsHeaders: Record<string, string> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': 'authorization, x-client-info, apikey, content-type, x-region, x-read-after-lsn',
  'Access-Control-Allow-Methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
  'Access-Control-Max-Age': '86400',
  // Browsers hide response headers from scripts unless listed: a 503's Retry-After must be readable, and
  // so must a write's X-Commit-LSN (sent back as X-Read-After-LSN: reads see that write, see db.ts).
  'Access-Control-Expose-Headers': 'Retry-After, X-Commit-LSN',
};

/** An error with its HTTP status and a stable machine-readable code. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const badRequest = (code: string, message: string) => new HttpError(400, code, message);
export const notFound = (what: string) =>
  new HttpError(404, 'not_found', `${what} was not found, or it belongs to someone else.`);

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === null ? null : JSON.stringify(body), {
    status,
    headers: { ...corsHeaders, ...(body === null ? {} : { 'Content-Type': 'application/json' }), ...headers },
  });
}

export function errorResponse(status: number, code: string, message: string, headers: Record<string, string> = {}) {
  return json(status, { error: { code, message } }, headers);
}

/** Zod issues as one readable line: `content: Required; limit: Too big`. */
export function describeZod(e: ZodError): string {
  return e.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`)
    .join('; ');
}

/** How long a client may take to send its body (`BODY_TIMEOUT_MS`, default 10 s); past it: 408. */
export const BODY_TIMEOUT_MS = positiveMs('BODY_TIMEOUT_MS', 10_000);

export function positiveMs(name: string, fallback: number): number {
  const raw = Deno.env.get(name);
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a whole number of milliseconds, got ${JSON.stringify(raw)}`);
  return n;
}

const bodyTimeout = () =>
  new HttpError(408, 'body_timeout', `The request body did not arrive within ${BODY_TIMEOUT_MS} ms; send it again (all at once).`);

/**
 * Reads the body as JSON with the 1 MB cap enforced twice — on Content-Length up front and on the bytes
 * actually received (a chunked or lying client cannot get past it) — and a deadline: a body that is slow
 * or never finishes is cut off with 408 instead of holding the request open. Parsing refuses what cannot
 * be stored exactly (json.ts).
 */
export async function readJson(req: Request, opts: { optional?: boolean } = {}): Promise<unknown> {
  const declared = req.headers.get('content-length');
  if (declared !== null && Number(declared) > MAX_BODY_BYTES) {
    throw new HttpError(413, 'payload_too_large', `Request bodies are limited to ${MAX_BODY_BYTES} bytes.`);
  }
  if (!req.body) {
    if (opts.optional) return {};
    throw badRequest('invalid_json', 'This endpoint needs a JSON body.');
  }
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(bodyTimeout()), BODY_TIMEOUT_MS);
  });
  expired.catch(() => {});
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await Promise.race([reader.read(), expired]);
      } catch (e) {
        if (e instanceof HttpError) throw e;
        throw badRequest('invalid_body', 'The request body could not be read to the end (the connection broke mid-upload); send it again.');
      }
      if (chunk.done) break;
      size += chunk.value.byteLength;
      if (size > MAX_BODY_BYTES) {
        throw new HttpError(413, 'payload_too_large', `Request bodies are limited to ${MAX_BODY_BYTES} bytes.`);
      }
      chunks.push(chunk.value);
    }
  } catch (e) {
    reader.cancel().catch(() => {});
    throw e;
  } finally {
    clearTimeout(timer);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw badRequest('invalid_json', 'The body is not valid UTF-8.');
  }
  if (!text.trim()) {
    if (opts.optional) return {};
    throw badRequest('invalid_json', 'This endpoint needs a JSON body.');
  }
  return parseJsonBody(text);
}

export interface RouteContext {
  req: Request;
  url: URL;
  params: Record<string, string>;
}

export interface Route<C> {
  method: string;
  /** Path below the function name, e.g. `/`, `/search`, `/checkpoints/:id/restore`. */
  path: string;
  handler: (ctx: RouteContext, caller: C) => Promise<Response>;
}

/** The route of a contract endpoint (method and path come from the contract, never typed twice). */
export function on<C>(e: Endpoint, handler: Route<C>['handler']): Route<C> {
  return { method: e.method, path: routeOf(e).path, handler };
}

/** The request body of a contract endpoint: read (bounded, exact JSON), then validated by its schema (422). */
export async function body<E extends Endpoint & { body: z.ZodType }>(req: Request, e: E): Promise<z.output<E['body']>> {
  return e.body.parse(await readJson(req, { optional: e.bodyRequired === false })) as z.output<E['body']>;
}

/** The function's own sub-path: strips `/functions/v1` (if a gateway kept it) and `/<name>`. */
export function subPath(pathname: string, name: string): string {
  let p = pathname.replace(/\/+$/, '') || '/';
  if (p.startsWith('/functions/v1/')) p = p.slice('/functions/v1'.length);
  if (p === `/${name}`) return '/';
  if (p.startsWith(`/${name}/`)) return p.slice(name.length + 1);
  return p;
}

function match(pattern: string, path: string): Record<string, string> | null {
  const a = pattern.split('/').filter(Boolean);
  const b = path.split('/').filter(Boolean);
  if (a.length !== b.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < a.length; i++) {
    if (a[i]!.startsWith(':')) {
      try {
        params[a[i]!.slice(1)] = decodeURIComponent(b[i]!);
      } catch {
        return null;
      }
    } else if (a[i] !== b[i]) return null;
  }
  return params;
}

/**
 * `Deno.serve` handler for one function: CORS preflight, authentication, routing, error mapping.
 * `authenticate` runs before routing so an unauthenticated caller learns nothing about the routes.
 */
export function handler<C>(
  name: string,
  authenticate: (req: Request) => Promise<C>,
  routes: Route<C>[],
): (req: Request) => Promise<Response> {
  return async (req) => {
    if (req.method === 'OPTIONS') return new Response('ok', { headers: corsHeaders });
    try {
      const url = new URL(req.url);
      const path = subPath(url.pathname, name);
      const caller = await authenticate(req);
      const candidates = routes.map((r) => ({ r, params: match(r.path, path) })).filter((c) => c.params);
      if (!candidates.length) throw new HttpError(404, 'route_not_found', `No endpoint ${req.method} /${name}${path === '/' ? '' : path}.`);
      const hit = candidates.find((c) => c.r.method === req.method);
      if (!hit) {
        const allow = [...new Set(candidates.map((c) => c.r.method))].join(', ');
        throw new HttpError(405, 'method_not_allowed', `Use ${allow} on /${name}${path === '/' ? '' : path}.`, { Allow: allow });
      }
      return await hit.r.handler({ req, url, params: hit.params! }, caller);
    } catch (e) {
      return toResponse(e);
    }
  };
}

export function toResponse(e: unknown): Response {
  if (e instanceof HttpError) return errorResponse(e.status, e.code, e.message, e.headers);
  if (e instanceof ZodError) return errorResponse(422, 'validation_failed', describeZod(e));
  const mapped = mapDbError(e);
  if (mapped) return errorResponse(mapped.status, mapped.code, mapped.message, mapped.headers);
  console.error(e);
  return errorResponse(500, 'internal_error', 'The function failed unexpectedly; the error is in its log.');
}
