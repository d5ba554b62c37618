/**
 * The OpenAPI 3.1 document of the API, generated from the contract (contract.ts): every path and method,
 * path and query parameters, request bodies, success responses and the error shape, with the named schemas
 * under components.schemas (zod 4's toJSONSchema; OpenAPI 3.1 schemas are JSON Schema 2020-12).
 * The `openapi` function serves it; `npm run api:openapi` writes it to docs/openapi.json.
 */
import { z } from 'zod';
import { ENDPOINTS } from './contract.ts';
import type { Endpoint } from './endpoint.ts';
import { components } from './schemas.ts';

/** The version of the API this document describes (the package version; test/contract.test.ts checks). */
export const API_VERSION = '0.1.0';

const ERROR_TEXT: Record<number, string> = {
  400: 'Malformed request: body not JSON, bad query string, id in the path not a uuid, cursor not handed out by the API',
  401: 'No, malformed, forged or expired access token; or the anon key where a user is needed',
  403: 'A token role that may not call this API, or a user doing what only the service role may',
  404: 'Not found — or not yours: the two are indistinguishable on purpose',
  405: 'Known path, other method (the Allow header lists the right ones)',
  408: 'The body did not arrive in time',
  409: 'Stale expected_version, an id already taken, or a concurrent writer',
  413: 'Body over 1 MB, or a value too large for Postgres',
  422: 'The body fails the schema, cannot be stored exactly, or Postgres rejected a value',
  503: 'The database did not answer within the deadline (Retry-After); nothing was changed',
  504: 'The commit was sent but not confirmed in time: read it back before retrying',
};

/** Drop what JSON Schema 2020-12 output carries that does not belong inside an OpenAPI document. */
function clean(ctx: { jsonSchema: Record<string, unknown> }): void {
  const s = ctx.jsonSchema;
  delete s.$schema;
  // Query values declared as integers (limit) are strings on the wire; the document shows the number.
  if (s.type === 'integer') delete s.pattern;
}

const options = {
  io: 'input' as const,
  unrepresentable: 'any' as const,
  override: clean,
};

function ref(schema: z.ZodType): { $ref: string } {
  const m = components.get(schema);
  if (!m) throw new Error('a request or response schema of the contract has no component id');
  return { $ref: `#/components/schemas/${m.id}` };
}

function operation(e: Endpoint): Record<string, unknown> {
  const parameters: Record<string, unknown>[] = [];
  for (const m of e.path.matchAll(/\{(\w+)\}/g)) {
    parameters.push({ name: m[1], in: 'path', required: true, schema: { type: 'string', format: 'uuid' } });
  }
  for (const [name, field] of Object.entries(e.query?.shape ?? {})) {
    const f = field as z.ZodType;
    const schema = z.toJSONSchema(f, options) as Record<string, unknown>;
    delete schema.$schema;
    parameters.push({ name, in: 'query', required: !f.safeParse(undefined).success, schema });
  }
  const responses: Record<string, unknown> = {};
  for (const [status, schema] of Object.entries(e.responses)) {
    responses[status] = schema
      ? { description: Number(status) === 201 ? 'Created' : 'OK', content: { 'application/json': { schema: ref(schema) } } }
      : { description: 'No content' };
  }
  for (const status of e.errors) {
    responses[String(status)] = { $ref: `#/components/responses/E${status}` };
  }
  const [, fn] = /^\/([^/.]+)/.exec(e.path)!;
  return {
    operationId: e.operationId,
    summary: e.summary,
    ...(e.description ? { description: e.description } : {}),
    tags: [fn],
    ...(e.public ? { security: [] } : {}),
    ...(parameters.length ? { parameters } : {}),
    ...(e.body ? { requestBody: { required: e.bodyRequired ?? true, content: { 'application/json': { schema: ref(e.body) } } } } : {}),
    responses,
    ...(e.replicaRead ? { 'x-read-replica': true } : {}),
  };
}

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const e of ENDPOINTS) (paths[e.path] ??= {})[e.method.toLowerCase()] = operation(e);
  const { schemas } = z.toJSONSchema(components, { ...options, uri: (id: string) => `#/components/schemas/${id}` }) as {
    schemas: Record<string, Record<string, unknown>>;
  };
  for (const s of Object.values(schemas)) {
    delete s.$schema;
    delete s.$id;
  }
  const errorStatuses = [...new Set(ENDPOINTS.flatMap((e) => [...e.errors]))].sort((a, b) => a - b);
  return {
    openapi: '3.1.0',
    info: {
      title: 'advanced-json-chat edge functions',
      version: API_VERSION,
      description:
        'Generated from supabase/functions/_shared/contract.ts (npm run api:openapi); do not edit. JSON in and out; ' +
        'Authorization: Bearer <user access token or service_role key>; errors are {"error": {"code", "message"}} (docs/api.md).',
    },
    servers: [
      { url: 'http://127.0.0.1:54321/functions/v1', description: 'local stack (npm start)' },
      { url: 'https://{project}.supabase.co/functions/v1', description: 'hosted Supabase', variables: { project: { default: 'your-project-ref' } } },
    ],
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas,
      responses: Object.fromEntries(
        errorStatuses.map((s) => [`E${s}`, { description: ERROR_TEXT[s] ?? `HTTP ${s}`, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }]),
      ),
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
  };
}
