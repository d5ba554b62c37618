/**
 * The HTTP contract of the edge-function API, declared once: every endpoint's method, path, query, body and
 * responses as zod schemas (contract-<function>.ts, built on endpoint.ts, schemas.ts and vocab.ts). The
 * functions validate requests and take their routes from it, the typed client takes its types from it
 * (z.input for requests, z.output for responses), openapi.ts generates docs/openapi.json from it, and the
 * e2e suite parses every response it gets with the matching response schema.
 */
import { z } from 'zod';
import { agentState } from './contract-agent-state.ts';
import { agents } from './contract-agents.ts';
import { chats, policyEvents } from './contract-chats.ts';
import { memories } from './contract-memories.ts';
import { messages } from './contract-messages.ts';
import { sessions } from './contract-sessions.ts';
import { component, endpoint, type Endpoint } from './endpoint.ts';

export * from './contract-agent-state.ts';
export * from './contract-agents.ts';
export * from './contract-chats.ts';
export * from './contract-memories.ts';
export * from './contract-messages.ts';
export * from './contract-sessions.ts';
export { ApiError, type Endpoint, type Method, routeOf } from './endpoint.ts';
export * from './vocab.ts';

/** The OpenAPI document itself (served by the `openapi` function). */
export const OpenApiDocument = component(
  'OpenApiDocument',
  z.looseObject({ openapi: z.string(), info: z.looseObject({ title: z.string(), version: z.string() }), paths: z.record(z.string(), z.unknown()) }),
);

export const meta = {
  openApi: endpoint({
    method: 'GET', path: '/openapi.json', operationId: 'openApi', summary: 'This API as an OpenAPI 3.1 document',
    description: 'Generated from the zod schemas of supabase/functions/_shared/contract.ts; the same as docs/openapi.json.',
    responses: { 200: OpenApiDocument }, errors: [405], public: true,
  }),
};

/** Every endpoint by operationId (= the typed client's method name). */
export const api = { ...agents, ...messages, ...memories, ...agentState, ...sessions, ...chats, ...policyEvents, ...meta };
export type Api = typeof api;

/** Every endpoint, in the order of docs/api.md. */
export const ENDPOINTS: readonly Endpoint[] = Object.values(api);

/** The request body a client sends to an endpoint (strings where the API accepts them). */
export type RequestBody<E extends Endpoint> = E['body'] extends z.ZodType ? z.input<E['body']> : never;
/** The query parameters, as typed values (the client turns them into strings). */
export type RequestQuery<E extends Endpoint> = E['query'] extends z.ZodObject ? QueryValues<z.input<E['query']>> : never;
/** The success body of an endpoint (the union over its success statuses; undefined for 204). */
export type ResponseBody<E extends Endpoint> = {
  [S in keyof E['responses']]: E['responses'][S] extends z.ZodType ? z.output<E['responses'][S]> : undefined;
}[keyof E['responses']];

/** A query schema takes strings (`limit=20`); the client takes the values they stand for. */
type QueryValues<Q> = { [K in keyof Q]: K extends 'limit' ? number | Q[K] : Q[K] };
