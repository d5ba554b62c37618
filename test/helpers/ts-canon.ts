/**
 * A formatting-independent fingerprint of a TypeScript file: its syntax tree, with comments,
 * whitespace, member separators (`,` `;` newline), quote style, redundant parentheses and
 * quoted-vs-bare property names all erased. Two files with equal fingerprints declare the same types.
 */
import ts from 'typescript';

export function canonicalTs(source: string): string[] {
  const sf = ts.createSourceFile('x.ts', source, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const canon = (node: ts.Node): string => {
    if (ts.isParenthesizedTypeNode(node)) return canon(node.type);
    if (ts.isIdentifier(node) || ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return JSON.stringify(node.text);
    if (ts.isNumericLiteral(node)) return node.text;
    if (ts.isUnionTypeNode(node) || ts.isIntersectionTypeNode(node)) {
      // A union written with or without a leading `|` is the same node; flatten nested unions of the same kind.
      const parts: string[] = [];
      const flat = (n: ts.TypeNode) => {
        const inner = ts.isParenthesizedTypeNode(n) ? n.type : n;
        if (inner.kind === node.kind) (inner as ts.UnionTypeNode).types.forEach(flat);
        else parts.push(canon(inner));
      };
      node.types.forEach(flat);
      return `${ts.SyntaxKind[node.kind]}(${parts.join(',')})`;
    }
    const kids: string[] = [];
    node.forEachChild((c) => {
      kids.push(canon(c));
    });
    return kids.length ? `${ts.SyntaxKind[node.kind]}(${kids.join(',')})` : ts.SyntaxKind[node.kind];
  };
  return sf.statements.map(canon);
}

/** The first top-level statement where two files differ, pretty enough to read in a test failure. */
export function firstDifference(a: string, b: string): string | null {
  const ca = canonicalTs(a);
  const cb = canonicalTs(b);
  for (let i = 0; i < Math.max(ca.length, cb.length); i++) {
    const x = ca[i] ?? '<missing>';
    const y = cb[i] ?? '<missing>';
    if (x !== y) {
      let j = 0;
      while (j < x.length && x[j] === y[j]) j++;
      return `statement ${i}: …${x.slice(Math.max(0, j - 200), j + 200)}\n   vs …${y.slice(Math.max(0, j - 200), j + 200)}`;
    }
  }
  return null;
}
