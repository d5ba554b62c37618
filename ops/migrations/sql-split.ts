/**
 * Splits a SQL script into statements the way the Supabase CLI records them in
 * `supabase_migrations.schema_migrations.statements`: on top-level semicolons, keeping
 * quoted strings, quoted identifiers, dollar-quoted bodies and comments intact.
 */
export function splitSql(script: string): string[] {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  const n = script.length;
  let depth = 0; // parentheses, so `create rule ... (a; b)` style bodies are not split
  while (i < n) {
    const c = script[i]!;
    const next = script[i + 1];
    if (c === '-' && next === '-') {
      const end = script.indexOf('\n', i);
      i = end === -1 ? n : end + 1;
    } else if (c === '/' && next === '*') {
      let level = 1;
      i += 2;
      while (i < n && level > 0) {
        if (script[i] === '/' && script[i + 1] === '*') { level++; i += 2; }
        else if (script[i] === '*' && script[i + 1] === '/') { level--; i += 2; }
        else i++;
      }
    } else if (c === "'" || c === '"') {
      i++;
      while (i < n) {
        if (script[i] === c) {
          if (script[i + 1] === c) { i += 2; continue; }
          i++;
          break;
        }
        i++;
      }
    } else if (c === '$') {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(script.slice(i));
      if (m && !/[A-Za-z0-9_]/.test(script[i - 1] ?? '')) {
        const tag = m[0];
        const end = script.indexOf(tag, i + tag.length);
        i = end === -1 ? n : end + tag.length;
      } else i++;
    } else if (c === '(') { depth++; i++; }
    else if (c === ')') { depth = Math.max(0, depth - 1); i++; }
    else if (c === ';' && depth === 0) {
      push(script.slice(start, i));
      i++;
      start = i;
    } else i++;
  }
  push(script.slice(start));
  return out;

  function push(stmt: string) {
    if (stripComments(stmt).trim() !== '') out.push(stmt.trim());
  }
}

function stripComments(s: string): string {
  return s.replace(/--[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
}
