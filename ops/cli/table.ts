/** Prints rows as an aligned text table (psql-like) — for status, verify and quarantine output. */
export function formatTable(rows: Record<string, unknown>[], columns?: string[]): string {
  if (!rows.length) return '(0 rows)';
  const cols = columns ?? Object.keys(rows[0]!);
  const cell = (v: unknown): string => {
    if (v === null || v === undefined) return '';
    if (v instanceof Date) return v.toISOString();
    if (typeof v === 'object') return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
    return String(v);
  };
  const clip = (s: string) => (s.length > 80 ? `${s.slice(0, 77)}...` : s.replace(/\n/g, '\\n'));
  const body = rows.map((r) => cols.map((c) => clip(cell(r[c]))));
  const widths = cols.map((c, i) => Math.max(c.length, ...body.map((b) => b[i]!.length)));
  const line = (xs: string[]) => xs.map((x, i) => x.padEnd(widths[i]!)).join(' | ').trimEnd();
  return [line(cols), widths.map((w) => '-'.repeat(w)).join('-+-'), ...body.map(line), `(${rows.length} row${rows.length === 1 ? '' : 's'})`].join('\n');
}

/** One record as `key : value` lines (psql's \x). */
export function formatRecord(row: Record<string, unknown>): string {
  const keys = Object.keys(row);
  const w = Math.max(...keys.map((k) => k.length));
  return keys
    .map((k) => {
      const v = row[k];
      const s = v === null || v === undefined ? '' : v instanceof Date ? v.toISOString() : typeof v === 'object' ? JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x)) : String(v);
      return `${k.padEnd(w)} | ${s}`;
    })
    .join('\n');
}
