/**
 * JSON bodies parsed so that what is stored is exactly what the client sent, or the request is refused
 * with a 422 naming the path:
 *
 * - numbers must round-trip through a 64-bit float (V8's JSON.parse hands the reviver each number's
 *   source text): `1e400` (→ Infinity → null), `1e-400` (→ 0) or a 30-digit integer (rounded) are refused
 *   rather than stored changed — send such values as strings;
 * - every string (keys included) must be well-formed Unicode without NUL: an unpaired surrogate would turn
 *   into U+FFFD in a text column and fail in jsonb, and neither can hold U+0000;
 * - `__proto__` is an ordinary key: JSON.parse makes it an own property and the validators keep objects
 *   by reference (see `jsonObject` in validate.ts), so it is stored like any other key.
 */
import { HttpError } from './http.ts';

/** Deeper documents than this are refused: serializing them again (JSON.stringify, jsonb) recurses. */
export const MAX_JSON_DEPTH = 64;

/** Stands in for a number whose source text a double cannot hold; reported with its path after parsing. */
class InexactNumber {
  constructor(readonly source: string) {}
}

/** `-12.50e3` → `-125e2`: sign, significant digits without leading/trailing zeros, exponent. */
function canonicalDecimal(text: string): string | null {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m) return null;
  const all = (m[2]! + (m[3] ?? '')).replace(/^0+/, '');
  if (!all) return '0'; // -0 is 0 in jsonb and numeric
  const digits = all.replace(/0+$/, '');
  const exp = BigInt(m[4] ?? '0') - BigInt(m[3]?.length ?? 0) + BigInt(all.length - digits.length);
  return `${m[1]}${digits}e${exp}`;
}

/** True when the double `value` denotes the same decimal number as its JSON source text. */
export function numberIsExact(source: string, value: number): boolean {
  if (!Number.isFinite(value)) return false;
  const a = canonicalDecimal(source);
  return a !== null && a === canonicalDecimal(String(value));
}

type Reviver = (this: unknown, key: string, value: unknown, context?: { source?: string }) => unknown;

const reviver: Reviver = (_key, value, context) => {
  if (typeof value === 'number' && context?.source !== undefined && !numberIsExact(context.source, value)) {
    return new InexactNumber(context.source);
  }
  return value;
};

const pathText = (path: Array<string | number>) => (path.length ? path.join('.') : 'body');
const invalid = (path: Array<string | number>, what: string) => new HttpError(422, 'validation_failed', `${pathText(path)}: ${what}`);

function checkString(s: string, path: Array<string | number>, isKey: boolean): void {
  const what = isKey ? 'the key' : 'the text';
  if (!s.isWellFormed()) {
    throw invalid(path, `${what} contains an unpaired UTF-16 surrogate, which is not valid Unicode and cannot be stored as sent; fix the encoding on the client.`);
  }
  if (s.includes('\u0000')) throw invalid(path, `${what} contains a NUL character (\\u0000), which Postgres text and jsonb cannot store; remove it.`);
}

/**
 * Parses a JSON text and checks every value (iteratively: a hostile body cannot blow the stack).
 * Throws 400 `invalid_json` for bad syntax and 422 for what cannot be stored exactly or nests too deep.
 */
export function parseJsonBody(text: string): unknown {
  let root: unknown;
  try {
    root = JSON.parse(text, reviver as (this: unknown, key: string, value: unknown) => unknown);
  } catch (e) {
    // The reviver pass recurses: a document nested tens of thousands deep overflows it (no syntax error).
    if (e instanceof RangeError) throw new HttpError(422, 'too_deep', `JSON nested deeper than ${MAX_JSON_DEPTH} levels is not accepted.`);
    throw new HttpError(400, 'invalid_json', 'The body is not valid JSON.');
  }
  const stack: Array<[unknown, Array<string | number>]> = [[root, []]];
  while (stack.length) {
    const [v, path] = stack.pop()!;
    if (v instanceof InexactNumber) {
      throw invalid(path, `the number ${v.source.length > 40 ? `${v.source.slice(0, 40)}…` : v.source} cannot be stored exactly (a JSON number must round-trip through a 64-bit float: up to 15 significant digits always do, and it must be non-zero if written so and below 1.8e308); send it as a string instead.`);
    }
    if (typeof v === 'string') {
      checkString(v, path, false);
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (path.length >= MAX_JSON_DEPTH) {
      throw new HttpError(422, 'too_deep', `JSON nested deeper than ${MAX_JSON_DEPTH} levels is not accepted.`);
    }
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], [...path, i]]);
    } else {
      const keys = Object.keys(v);
      for (let i = keys.length - 1; i >= 0; i--) {
        const k = keys[i]!;
        checkString(k, [...path, k], true);
        stack.push([(v as Record<string, unknown>)[k], [...path, k]]);
      }
    }
  }
  return root;
}
