/**
 * /functions/v1/openapi (locally also /functions/v1/openapi.json) — this API as an OpenAPI 3.1 document,
 * generated from the contract (_shared/contract.ts) when the function starts. Public: it says nothing the
 * repository's docs/openapi.json does not.
 */
import { api } from '../_shared/contract.ts';
import { handler, json, on } from '../_shared/http.ts';
import { openApiDocument } from '../_shared/openapi.ts';

const doc = openApiDocument();

Deno.serve(handler('openapi', () => Promise.resolve(null), [on(api.openApi, () => Promise.resolve(json(200, doc)))]));
