/**
 * Every response the e2e suite gets from the functions is parsed with the contract's schema for it
 * (supabase/functions/_shared/contract.ts): a success with the endpoint's response schema for that status
 * (a status the contract does not declare is a failure too), an error with the error shape. The schemas are
 * strict objects, so a column a function starts returning, or one it stops returning, fails the test that
 * made the request — the contract cannot drift from what the functions answer.
 */
import { ApiError, ENDPOINTS, type Endpoint } from '../../supabase/functions/_shared/contract.ts';

const routes = ENDPOINTS.map((e) => ({
  e,
  re: new RegExp(`^${e.path.replace(/\./g, '\\.').replace(/\{\w+\}/g, '[^/]+')}/?$`),
}));

/** The endpoint a request goes to (method and path below /functions/v1), if the contract has it. */
export function endpointFor(method: string, pathname: string): Endpoint | undefined {
  // /functions/v1/openapi is the hosted path of /openapi.json (a function name has no dot).
  const p = pathname.replace(/^.*\/functions\/v1/, '').replace(/^\/openapi\/?$/, '/openapi.json');
  return routes.find((r) => r.e.method === method.toUpperCase() && r.re.test(p))?.e;
}

export class ContractViolation extends Error {
  override name = 'ContractViolation';
}

/** Which (operationId, status) pairs this process saw answered as the contract says. */
export const seen = new Set<string>();

/** Checks one response against the contract; throws ContractViolation when it does not fit. */
export async function checkResponse(method: string, url: string, res: Response): Promise<void> {
  if (method.toUpperCase() === 'OPTIONS') return;
  const { pathname } = new URL(url);
  if (!pathname.includes('/functions/v1/')) return;
  const e = endpointFor(method, pathname);
  const text = await res.clone().text();
  const where = `${method.toUpperCase()} ${pathname} → ${res.status}`;
  const parse = (what: string, schema: { safeParse(v: unknown): { success: boolean; error?: unknown } }) => {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ContractViolation(`${where}: the body is not JSON (${what} expected): ${text.slice(0, 200)}`);
    }
    const r = schema.safeParse(body);
    if (!r.success) throw new ContractViolation(`${where}: the body does not fit ${what}: ${String(r.error)}\n${text.slice(0, 500)}`);
  };
  if (res.status >= 400) {
    parse('the error shape', ApiError);
    return;
  }
  if (!e) throw new ContractViolation(`${where}: a success from an endpoint the contract does not declare`);
  if (!(res.status in e.responses)) {
    throw new ContractViolation(`${where}: ${e.operationId} declares ${Object.keys(e.responses).join(', ')}, not ${res.status}`);
  }
  const schema = e.responses[res.status];
  if (schema === null) {
    if (text !== '') throw new ContractViolation(`${where}: ${e.operationId} answers ${res.status} without a body, got ${text.slice(0, 200)}`);
  } else {
    parse(`${e.operationId}'s ${res.status} body`, schema!);
  }
  seen.add(`${e.operationId} ${res.status}`);
}

/** `fetch` that checks every answer against the contract (for supabase-js `global.fetch` and raw requests). */
export const checkedFetch: typeof fetch = async (input, init) => {
  const req = new Request(input, init);
  const res = await fetch(req);
  await checkResponse(req.method, req.url, res);
  return res;
};
