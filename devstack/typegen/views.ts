/**
 * What `supabase gen types` knows about views beyond pg_attribute, derived from each view's stored query
 * tree (`pg_rewrite.ev_action`, a `pg_node_tree`):
 *  - NOT NULL inference: a view column that is a plain reference to a NOT NULL column, not on the
 *    nullable side of an outer join, through subqueries, joins, non-recursive CTEs and other views,
 *    is typed without `| null` (and a column comment `@notNull` forces it);
 *  - relationships through views: a view that exposes all columns of a foreign key (or of the key it
 *    references) gets that relationship too, as PostgREST's schema cache does.
 */
import type { Column, ForeignKey, KeyColumn, Metadata, Relation } from './generate.ts';

// ---------------------------------------------------------------------------------------------
// pg_node_tree parser: `{TYPE :field value ...}`, `(...)` lists, `<>` null, backslash escapes.
// ---------------------------------------------------------------------------------------------

export type NodeValue = string | null | NodeValue[] | PgNode;
export interface PgNode {
  type: string;
  fields: Record<string, NodeValue>;
}
interface Token {
  raw: string;
  text: string;
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n') {
      i++;
      continue;
    }
    if ('(){}'.includes(c)) {
      out.push({ raw: c, text: c });
      i++;
      continue;
    }
    const start = i;
    let text = '';
    while (i < src.length) {
      const d = src[i]!;
      if (d === '\\' && i + 1 < src.length) {
        text += src[i + 1];
        i += 2;
        continue;
      }
      if (d === ' ' || d === '\t' || d === '\n' || '(){}'.includes(d)) break;
      text += d;
      i++;
    }
    out.push({ raw: src.slice(start, i), text });
  }
  return out;
}

/** Integer / oid / bitmap / xid list markers that open some lists: `(i 1 2)`. */
const LIST_MARKERS = new Set(['i', 'o', 'b', 'x']);

export function parseNodeTree(src: string): NodeValue {
  const tokens = tokenize(src);
  let pos = 0;
  const peek = () => tokens[pos];
  const next = () => {
    const t = tokens[pos++];
    if (!t) throw new Error('Unexpected end of pg_node_tree');
    return t;
  };
  const atFieldEnd = (t: Token | undefined) => t === undefined || t.raw === '}' || t.raw.startsWith(':');
  const value = (): NodeValue => {
    const t = next();
    if (t.raw === '{') {
      const type = next().text;
      const fields: Record<string, NodeValue> = {};
      while (peek()?.raw !== '}') {
        const name = next().raw.slice(1);
        fields[name] = atFieldEnd(peek()) ? null : value();
        while (!atFieldEnd(peek())) value();
      }
      next();
      return { type, fields };
    }
    if (t.raw === '(') {
      const items: NodeValue[] = [];
      const first = peek();
      if (first !== undefined && LIST_MARKERS.has(first.raw)) next();
      while (peek()?.raw !== ')') items.push(value());
      next();
      return items;
    }
    if (t.raw === '<>') return null;
    return t.text;
  };
  const root = value();
  if (pos !== tokens.length) throw new Error('Trailing tokens after pg_node_tree');
  return root;
}

const isNode = (v: NodeValue | undefined, type?: string): v is PgNode =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && (type === undefined || v.type === type);
const list = (v: NodeValue | undefined): NodeValue[] => (Array.isArray(v) ? v : []);

/** The first QUERY of a view's rule. */
function ruleQuery(definition: string): PgNode | undefined {
  const tree = parseNodeTree(definition);
  const q = Array.isArray(tree) ? tree[0] : tree;
  return isNode(q, 'QUERY') ? q : undefined;
}

// ---------------------------------------------------------------------------------------------
// NOT NULL inference
// ---------------------------------------------------------------------------------------------

const RTE_RELATION = '0';
const RTE_SUBQUERY = '1';
const RTE_JOIN = '2';
const RTE_CTE = '6';
const RTE_GROUP = '9';
const JOIN_INNER = '0';
const JOIN_LEFT = '1';
const JOIN_RIGHT = '3';

const simpleQuery = (q: PgNode) => q.fields.setOperations === null && list(q.fields.groupingSets).length === 0;

/** Range-table indexes on the nullable side of an outer join. */
function nullableRtIndexes(q: PgNode): Set<number> {
  const out = new Set<number>();
  const walk = (n: NodeValue | undefined, nullable: boolean) => {
    if (isNode(n, 'RANGETBLREF')) {
      if (nullable) out.add(Number(n.fields.rtindex));
    } else if (isNode(n, 'FROMEXPR')) {
      for (const f of list(n.fields.fromlist)) walk(f, nullable);
    } else if (isNode(n, 'JOINEXPR')) {
      const jt = n.fields.jointype;
      if (nullable) out.add(Number(n.fields.rtindex));
      walk(n.fields.larg, nullable || (jt !== JOIN_INNER && jt !== JOIN_LEFT));
      walk(n.fields.rarg, nullable || (jt !== JOIN_INNER && jt !== JOIN_RIGHT));
    }
  };
  walk(q.fields.jointree, false);
  return out;
}

const NOT_NULL_COMMENT = /^\s*@notNull\s*$/m;

/** `${viewId}.${attnum}` of every view column the query trees prove NOT NULL. */
export function inferViewNotNull(rules: Metadata['viewRules']): Set<string> {
  const definitions = new Map(rules.map((r) => [r.viewId, r.definition]));
  const notNullBase = new Set(rules.flatMap((r) => r.nonNullColumns.map(([rel, att]) => `${rel}.${att}`)));
  const memo = new Map<number, Set<number>>();
  const nullableMemo = new Map<PgNode, Set<number>>();
  const nullableOf = (q: PgNode) => {
    let s = nullableMemo.get(q);
    if (!s) nullableMemo.set(q, (s = nullableRtIndexes(q)));
    return s;
  };

  const viewNotNull = (viewId: number): Set<number> => {
    const known = memo.get(viewId);
    if (known) return known;
    const cols = new Set<number>();
    memo.set(viewId, cols); // cycles read as "nothing proven"
    try {
      const q = ruleQuery(definitions.get(viewId) ?? '');
      if (q && simpleQuery(q)) {
        for (const te of list(q.fields.targetList)) {
          if (isNode(te, 'TARGETENTRY') && te.fields.resjunk !== 'true' && exprNotNull(te.fields.expr, [q])) {
            cols.add(Number(te.fields.resno));
          }
        }
      }
    } catch {
      cols.clear();
    }
    return cols;
  };
  const columnNotNull = (relid: number, attnum: number) =>
    definitions.has(relid) ? viewNotNull(relid).has(attnum) : notNullBase.has(`${relid}.${attnum}`);

  const exprNotNull = (e: NodeValue | undefined, stack: PgNode[]): boolean => {
    const q = stack[stack.length - 1];
    if (!q || !isNode(e, 'VAR') || e.fields.varlevelsup !== '0') return false;
    const varno = Number(e.fields.varno);
    const attno = Number(e.fields.varattno);
    if (attno <= 0 || nullableOf(q).has(varno)) return false;
    const rte = list(q.fields.rtable)[varno - 1];
    if (!isNode(rte, 'RANGETBLENTRY')) return false;
    switch (rte.fields.rtekind) {
      case RTE_RELATION:
        return typeof rte.fields.relid === 'string' && columnNotNull(Number(rte.fields.relid), attno);
      case RTE_SUBQUERY:
        return outputNotNull(rte.fields.subquery, attno, stack);
      case RTE_JOIN:
        return exprNotNull(list(rte.fields.joinaliasvars)[attno - 1], stack);
      case RTE_GROUP:
        return exprNotNull(list(rte.fields.groupexprs)[attno - 1], stack);
      case RTE_CTE: {
        const levelsUp = Number(rte.fields.ctelevelsup);
        const owner = stack[stack.length - 1 - levelsUp];
        const cte = list(owner?.fields.cteList).find((c) => isNode(c, 'COMMONTABLEEXPR') && c.fields.ctename === rte.fields.ctename);
        return isNode(cte) && cte.fields.cterecursive !== 'true' && outputNotNull(cte.fields.ctequery, attno, stack.slice(0, stack.length - levelsUp));
      }
      default:
        return false;
    }
  };
  const outputNotNull = (sub: NodeValue | undefined, resno: number, stack: PgNode[]): boolean => {
    if (!isNode(sub, 'QUERY') || !simpleQuery(sub)) return false;
    const te = list(sub.fields.targetList).find((t) => isNode(t, 'TARGETENTRY') && Number(t.fields.resno) === resno);
    return isNode(te) && exprNotNull(te.fields.expr, [...stack, sub]);
  };

  const out = new Set<string>();
  for (const viewId of definitions.keys()) for (const att of viewNotNull(viewId)) out.add(`${viewId}.${att}`);
  return out;
}

/** Columns with view nullability applied (only columns of views can change). */
export function applyViewNullability(meta: Metadata): Column[] {
  const viewIds = new Set(meta.viewRules.map((r) => r.viewId));
  if (viewIds.size === 0) return meta.columns;
  const proven = inferViewNotNull(meta.viewRules);
  return meta.columns.map((c) =>
    c.isNullable && viewIds.has(c.tableId) && (proven.has(`${c.tableId}.${c.attnum}`) || NOT_NULL_COMMENT.test(c.comment ?? ''))
      ? { ...c, isNullable: false }
      : c,
  );
}

// ---------------------------------------------------------------------------------------------
// Relationships through views
// ---------------------------------------------------------------------------------------------

interface ColumnDependency {
  tableColumn: string;
  viewColumns: string[];
}
interface ViewKeyDependency {
  tableSchema: string;
  tableName: string;
  viewSchema: string;
  viewName: string;
  constraint: string;
  type: KeyColumn['type'];
  columns: ColumnDependency[];
}

/** For each view of our schemas: which key columns of which tables it exposes (whole keys only). */
function viewKeyDependencies(meta: Metadata): ViewKeyDependency[] {
  const rels = new Map<number, Relation>(meta.relations.map((r) => [r.id, r]));
  const ours = meta.viewRules.filter((r) => {
    const rel = rels.get(r.viewId);
    return rel && (rel.kind === 'view' || rel.kind === 'matview');
  });
  type Entry = { viewId: number; viewColumn: number; origTbl: number; origCol: number };
  const results: Entry[] = [];
  for (const rule of ours) {
    let q: PgNode | undefined;
    try {
      q = ruleQuery(rule.definition);
    } catch {
      continue;
    }
    for (const te of list(q?.fields.targetList)) {
      if (!isNode(te, 'TARGETENTRY')) continue;
      results.push({
        viewId: rule.viewId,
        viewColumn: Number(te.fields.resno),
        origTbl: Number(te.fields.resorigtbl ?? 0),
        origCol: Number(te.fields.resorigcol ?? 0),
      });
    }
  }
  const byView = new Map<string, Entry>(results.map((e) => [`${e.viewId}.${e.viewColumn}`, e]));
  // Follow a column through views down to every relation it comes from (each hop is a row, like the CLI).
  const rows: Entry[] = [];
  for (const start of results) {
    const path = new Set<number>([start.origTbl]);
    let cur: Entry = start;
    rows.push(start);
    for (;;) {
      const next = byView.get(`${cur.origTbl}.${cur.origCol}`);
      if (!next) break;
      const row = { viewId: start.viewId, viewColumn: start.viewColumn, origTbl: next.origTbl, origCol: next.origCol };
      rows.push(row);
      if (path.has(next.origTbl)) break;
      path.add(next.origTbl);
      cur = row;
    }
  }
  const colName = new Map(meta.columns.map((c) => [`${c.tableId}.${c.attnum}`, c.name]));
  const refs = new Map<string, { viewId: number; origTbl: number; origCol: number; viewColumns: string[] }>();
  for (const r of [...rows].sort((a, b) => a.viewColumn - b.viewColumn)) {
    const name = colName.get(`${r.viewId}.${r.viewColumn}`);
    if (name === undefined) continue;
    const k = `${r.viewId}|${r.origTbl}|${r.origCol}`;
    const ref = refs.get(k) ?? { viewId: r.viewId, origTbl: r.origTbl, origCol: r.origCol, viewColumns: [] };
    ref.viewColumns.push(name);
    refs.set(k, ref);
  }
  const keysAt = new Map<string, KeyColumn[]>();
  for (const kc of meta.keyColumns) {
    const k = `${kc.relid}|${kc.attnum}`;
    if (!keysAt.has(k)) keysAt.set(k, []);
    keysAt.get(k)!.push(kc);
  }
  const groups = new Map<string, { dep: ViewKeyDependency; ncol: number; cols: { ord: number; dep: ColumnDependency }[] }>();
  for (const ref of refs.values()) {
    const view = rels.get(ref.viewId)!;
    for (const kc of keysAt.get(`${ref.origTbl}|${ref.origCol}`) ?? []) {
      const k = JSON.stringify([kc.schema, kc.table, view.schema, view.name, kc.name, kc.type, kc.ncol]);
      let g = groups.get(k);
      if (!g) {
        g = {
          dep: { tableSchema: kc.schema, tableName: kc.table, viewSchema: view.schema, viewName: view.name, constraint: kc.name, type: kc.type, columns: [] },
          ncol: kc.ncol,
          cols: [],
        };
        groups.set(k, g);
      }
      g.cols.push({ ord: kc.ord, dep: { tableColumn: kc.attname, viewColumns: ref.viewColumns } });
    }
  }
  const out: ViewKeyDependency[] = [];
  for (const g of groups.values()) {
    if (g.cols.length !== g.ncol) continue; // no partial keys
    g.dep.columns = g.cols.sort((a, b) => a.ord - b.ord).map((c) => c.dep);
    out.push(g.dep);
  }
  return out;
}

/** Our schemas' foreign keys plus the relationships views expose (PostgREST's view relationships). */
export function relationshipsWithViews(meta: Metadata): ForeignKey[] {
  if (meta.viewRules.length === 0) return meta.foreignKeys;
  const deps = viewKeyDependencies(meta);
  const byKey = new Map<string, ViewKeyDependency[]>();
  for (const d of deps) {
    const k = JSON.stringify([d.tableSchema, d.tableName, d.constraint, d.type]);
    if (!byKey.has(k)) byKey.set(k, []);
    byKey.get(k)!.push(d);
  }
  const ident = (fk: ForeignKey) => JSON.stringify([fk.schema, fk.relation, fk.name]);
  const included = new Set(meta.foreignKeys.map(ident));
  /** Every way to pick one view column per key column. */
  const combos = (cols: ColumnDependency[]): string[][] =>
    cols.reduce<string[][]>((acc, c) => acc.flatMap((prefix) => c.viewColumns.map((v) => [...prefix, v])), [[]]);
  const derived = meta.allForeignKeys.flatMap((fk) => {
    const from = byKey.get(JSON.stringify([fk.schema, fk.relation, fk.name, 'f'])) ?? [];
    const to = byKey.get(JSON.stringify([fk.referencedSchema, fk.referencedRelation, fk.name, 'f_ref'])) ?? [];
    const viaSource = from.flatMap((u) =>
      combos(u.columns).map((columns): ForeignKey => ({ ...fk, schema: u.viewSchema, relation: u.viewName, columns })),
    );
    const viaTarget = (included.has(ident(fk)) ? to : []).flatMap((u) =>
      combos(u.columns).map((referencedColumns): ForeignKey => ({
        ...fk,
        referencedSchema: u.viewSchema,
        referencedRelation: u.viewName,
        referencedColumns,
      })),
    );
    const viaBoth = from.flatMap((u) =>
      combos(u.columns).flatMap((columns) =>
        to.flatMap((p) =>
          combos(p.columns).map((referencedColumns): ForeignKey => ({
            ...fk,
            schema: u.viewSchema,
            relation: u.viewName,
            columns,
            referencedSchema: p.viewSchema,
            referencedRelation: p.viewName,
            referencedColumns,
          })),
        ),
      ),
    );
    return [...viaSource, ...viaTarget, ...viaBoth];
  });
  return [...meta.foreignKeys, ...derived];
}
