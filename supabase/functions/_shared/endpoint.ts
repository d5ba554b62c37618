/**
 * What an endpoint of the HTTP contract is: method, path, request (path id, query, body) and responses, each
 * a zod schema. The contract*.ts files declare every endpoint once with these; the functions validate with
 * them and take their routes from them, the typed client takes its types from them, and openapi.ts turns
 * them into the OpenAPI document. zod only, no Deno API.
 */
import { z } from 'zod';
import { component } from './schemas.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface Endpoint {
  method: Method;
  /** Under /functions/v1, OpenAPI style: `/messages/{id}`. The first segment is the function. */
  path: `/${string}`;
  /** Also the typed client's method name. */
  operationId: string;
  summary: string;
  description?: string;
  /** Query parameters: an object schema whose fields are strings on the wire. */
  query?: z.ZodObject;
  /** JSON request body. */
  body?: z.ZodType;
  /** False when the body may be left out (it then counts as `{}`). Default true when there is a body. */
  bodyRequired?: boolean;
  /** Success statuses and their JSON body (null: no body, e.g. 204). */
  responses: Record<number, z.ZodType | null>;
  /** Error statuses this endpoint answers with (the body is always ApiError). */
  errors: readonly number[];
  /** Served by the read replica when one is configured (docs/api.md, read replicas). */
  replicaRead?: boolean;
  /** No Authorization needed. */
  public?: boolean;
}

/** Keeps the literal types of a declaration (the client's types come from them). */
export const endpoint = <const E extends Endpoint>(e: E): E => e;

export { component, components } from './schemas.ts';

/** The error body of every 4xx and 5xx: a stable code and a message that says what to do next. */
export const ApiError = component(
  'Error',
  z.object({ error: z.object({ code: z.string(), message: z.string() }).strict() }).strict(),
  'Every error: {"error": {"code", "message"}}; the codes are listed in docs/api.md.',
);

/** Statuses most endpoints share: bad input, auth, not found / not yours, infrastructure. */
export const READ_ERRORS = [400, 401, 403, 404, 422, 503] as const;
/** Plus what a body or a write can meet: a slow or huge body, conflicts, an unknown commit outcome. */
export const WRITE_ERRORS = [400, 401, 403, 404, 408, 409, 413, 422, 503, 504] as const;

/**
 * `/messages/{id}` → the function (`messages`) and the route it serves (`/:id`). A function name has no dot,
 * so `/openapi.json` is the root of the function `openapi` (the local gateway routes it there; on hosted
 * Supabase the same document is at /functions/v1/openapi).
 */
export function routeOf(e: Endpoint): { fn: string; path: string } {
  const [, first, ...rest] = e.path.split('/');
  return { fn: first!.replace(/\.json$/, ''), path: `/${rest.map((s) => s.replace(/^\{(\w+)\}$/, ':$1')).join('/')}` };
}
