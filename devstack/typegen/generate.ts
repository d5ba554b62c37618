/**
 * TypeScript types from the live schema, in the shape `supabase gen types typescript` produces.
 *
 * The reference is the generator the Supabase CLI (v3.1.0, `@supabase/typegen`) runs: same metadata
 * (pg_catalog), same rules (which functions are exposed, Insert/Update optionality, `NonNullable<Json>`,
 * overloads, `SetofOptions`, computed fields, relationship detection), same ordering (Intl.Collator('en')).
 * test/types.test.ts proves it: it runs the real CLI against the same database over pglite-socket and
 * compares both outputs node by node (only whitespace and separators may differ — the CLI leaves
 * formatting to an optional formatter, we print formatted).
 *
 * Views get what the CLI derives from their query trees (views.ts): NOT NULL inference and
 * relationships through views.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Queryable } from '../../ops/db.ts';
import { applyViewNullability, relationshipsWithViews } from './views.ts';

const collator = new Intl.Collator('en');
const cmp = (a: string, b: string) => collator.compare(a, b);

// ---------------------------------------------------------------------------------------------
// Metadata
// ---------------------------------------------------------------------------------------------

export interface Relation {
  id: number;
  schema: string;
  name: string;
  kind: 'table' | 'foreign' | 'view' | 'matview';
  isUpdatable: boolean;
  isInsertEnabled: boolean;
  isUpdateEnabled: boolean;
}
export interface Column {
  tableId: number;
  attnum: number;
  name: string;
  comment: string | null;
  format: string;
  typeSchema: string;
  isNullable: boolean;
  hasDefault: boolean;
  isIdentity: boolean;
  identityGeneration: 'ALWAYS' | 'BY DEFAULT' | null;
  isGenerated: boolean;
  isUpdatable: boolean;
}
export interface ForeignKey {
  name: string;
  schema: string;
  relation: string;
  columns: string[];
  isOneToOne: boolean;
  referencedSchema: string;
  referencedRelation: string;
  referencedColumns: string[];
}
export interface FunctionArg {
  mode: 'in' | 'out' | 'inout' | 'variadic' | 'table';
  name: string;
  typeId: number;
  hasDefault: boolean | null;
}
export interface PgFunction {
  id: number;
  schema: string;
  name: string;
  args: FunctionArg[];
  argumentTypes: string;
  returnType: string;
  returnTypeId: number;
  returnTypeRelationId: number | null;
  isSetReturning: boolean;
  prorows: number | null;
}
export interface PgType {
  id: number;
  name: string;
  schema: string;
  format: string;
  enums: string[];
  attributes: { name: string; typeId: number }[];
  typeRelationId: number | null;
}
/** A view's `_RETURN` rule (views in the schemas and every view they read, recursively). */
export interface ViewRule {
  viewId: number;
  definition: string;
  /** [relid, attnum] of NOT NULL columns the rule depends on. */
  nonNullColumns: [number, number][];
}
/** One column of a primary key ('p'), a foreign key ('f') or the columns a foreign key references ('f_ref'). */
export interface KeyColumn {
  type: 'p' | 'f' | 'f_ref';
  name: string;
  ncol: number;
  relid: number;
  attnum: number;
  attname: string;
  ord: number;
  schema: string;
  table: string;
}
export interface Metadata {
  schemas: string[];
  /** Foreign keys of every non-system schema (views in our schemas may expose them). */
  allForeignKeys: ForeignKey[];
  viewRules: ViewRule[];
  keyColumns: KeyColumn[];
  relations: Relation[];
  columns: Column[];
  foreignKeys: ForeignKey[];
  functions: PgFunction[];
  types: PgType[];
}

const num = (v: unknown): number => Number(v);

/** Reads everything the generator needs for `schemas` (default: public, like the CLI's default). */
export async function introspect(db: Queryable, schemas: string[] = ['public']): Promise<Metadata> {
  const present = await db.query<{ nspname: string }>(
    `select nspname from pg_namespace where nspname = any($1::text[]) order by nspname`,
    [schemas],
  );
  const schemaList = present.map((r) => r.nspname).sort(cmp);

  const relations = (
    await db.query<{ id: string; schema: string; name: string; relkind: string; upd: number | null; trig: number | null }>(
      `select c.oid::int8 as id, n.nspname as schema, c.relname as name, c.relkind::text as relkind,
              case when c.relkind = 'v' then pg_relation_is_updatable(c.oid, false) end as upd,
              case when c.relkind = 'v' then pg_relation_is_updatable(c.oid, true) end as trig
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any($1::text[]) and c.relkind in ('r', 'p', 'f', 'v', 'm')`,
      [schemaList],
    )
  ).map((r): Relation => {
    const kind = r.relkind === 'v' ? 'view' : r.relkind === 'm' ? 'matview' : r.relkind === 'f' ? 'foreign' : 'table';
    const upd = Number(r.upd ?? 0);
    const trig = Number(r.trig ?? 0);
    return {
      id: num(r.id),
      schema: r.schema,
      name: r.name,
      kind,
      // information_schema.views: updatable when it supports both UPDATE (4) and DELETE (16).
      isUpdatable: kind === 'view' && (upd & 20) === 20,
      // Counting INSTEAD OF triggers / rules too: PostgREST writes through those (INSERT 8, UPDATE 4).
      isInsertEnabled: kind === 'view' && (trig & 8) === 8,
      isUpdateEnabled: kind === 'view' && (trig & 4) === 4,
    };
  });

  const columns = (
    await db.query<{
      table_id: string; attnum: number; comment: string | null; name: string; format: string; type_schema: string;
      is_nullable: boolean; has_default: boolean;
      identity: string; generated: boolean; is_updatable: boolean;
    }>(
      `select c.oid::int8 as table_id, a.attnum::int as attnum, a.attname as name, col_description(c.oid, a.attnum) as comment,
              coalesce(bt.typname, t.typname) as format,
              coalesce(nbt.nspname, nt.nspname) as type_schema,
              not (a.attnotnull or (t.typtype = 'd' and t.typnotnull)) as is_nullable,
              a.atthasdef as has_default,
              a.attidentity::text as identity,
              a.attgenerated::text in ('s', 'v') as generated,
              (c.relkind in ('r', 'p')
                or c.relkind in ('v', 'f') and (
                  pg_column_is_updatable(c.oid, a.attnum, false)
                  or exists (select 1 from pg_trigger tg
                              where tg.tgrelid = c.oid and tg.tgtype & 64 <> 0 and tg.tgtype & 20 <> 0
                                and not tg.tgisinternal)
                  or exists (select 1 from pg_rewrite rw
                              where rw.ev_class = c.oid and rw.is_instead and rw.ev_type in ('2', '3')
                                and rw.ev_qual::text = '<>'))) as is_updatable
         from pg_attribute a
         join pg_class c on c.oid = a.attrelid
         join pg_namespace n on n.oid = c.relnamespace
         join pg_type t on t.oid = a.atttypid
         join pg_namespace nt on nt.oid = t.typnamespace
         left join (pg_type bt join pg_namespace nbt on nbt.oid = bt.typnamespace)
                on t.typtype = 'd' and bt.oid = t.typbasetype
        where n.nspname = any($1::text[]) and c.relkind in ('r', 'p', 'f', 'v', 'm')
          and a.attnum > 0 and not a.attisdropped`,
      [schemaList],
    )
  ).map(
    (r): Column => ({
      tableId: num(r.table_id),
      attnum: Number(r.attnum),
      name: r.name,
      comment: r.comment,
      format: r.format,
      typeSchema: r.type_schema,
      isNullable: r.is_nullable,
      hasDefault: r.has_default,
      isIdentity: r.identity === 'a' || r.identity === 'd',
      identityGeneration: r.identity === 'a' ? 'ALWAYS' : r.identity === 'd' ? 'BY DEFAULT' : null,
      isGenerated: r.generated,
      isUpdatable: r.is_updatable,
    }),
  );

  // PostgREST's relationship detection: a foreign key is one-to-one when its columns (in key order)
  // are exactly the columns of a primary key or unique constraint of the same table (in attnum order).
  const fkRows = async (schemaFilter: string, params: unknown[]) => (
    await db.query<{
      name: string; schema: string; relation: string; columns: string[]; is_one_to_one: boolean;
      referenced_schema: string; referenced_relation: string; referenced_columns: string[];
    }>(
      `with keys as (
         select k.conrelid,
                array(select a.attname::text from unnest(k.conkey) as u(attnum)
                        join pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.attnum
                       order by u.attnum) as cols
           from pg_constraint k where k.contype in ('p', 'u'))
       select f.conname::text as name, n1.nspname::text as schema, t1.relname::text as relation,
              cols.cols as columns,
              exists (select 1 from keys where keys.conrelid = f.conrelid and keys.cols = cols.cols) as is_one_to_one,
              n2.nspname::text as referenced_schema, t2.relname::text as referenced_relation,
              cols.refs as referenced_columns
         from pg_constraint f
         join pg_class t1 on t1.oid = f.conrelid
         join pg_namespace n1 on n1.oid = t1.relnamespace
         join pg_class t2 on t2.oid = f.confrelid
         join pg_namespace n2 on n2.oid = t2.relnamespace
         cross join lateral (
           select array_agg(a1.attname::text order by u.ord) as cols, array_agg(a2.attname::text order by u.ord) as refs
             from unnest(f.conkey, f.confkey) with ordinality as u(col, ref, ord)
             join pg_attribute a1 on a1.attrelid = f.conrelid and a1.attnum = u.col
             join pg_attribute a2 on a2.attrelid = f.confrelid and a2.attnum = u.ref) as cols
        where f.contype = 'f' and f.conparentid = 0 and ${schemaFilter}`,
      params,
    )
  ).map(
    (r): ForeignKey => ({
      name: r.name,
      schema: r.schema,
      relation: r.relation,
      columns: r.columns,
      isOneToOne: r.is_one_to_one,
      referencedSchema: r.referenced_schema,
      referencedRelation: r.referenced_relation,
      referencedColumns: r.referenced_columns,
    }),
  );
  const foreignKeys = await fkRows('n1.nspname = any($1::text[])', [schemaList]);
  const allForeignKeys = await fkRows(`n1.nspname not in ('information_schema', 'pg_catalog', 'pg_toast')`, []);

  const viewRules = (
    await db.query<{ view_id: string; definition: string; non_null: [number, number][] | null }>(
      `with recursive closure(oid) as (
         select c.oid from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = any($1::text[]) and c.relkind in ('v', 'm')
         union
         select d.refobjid from closure
           join pg_rewrite r on r.ev_class = closure.oid and r.rulename = '_RETURN'
           join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = r.oid and d.refclassid = 'pg_class'::regclass
           join pg_class rc on rc.oid = d.refobjid and rc.relkind in ('v', 'm'))
       select r.ev_class::int8 as view_id, r.ev_action::text as definition,
              (select json_agg(json_build_array(d.refobjid::int8, d.refobjsubid::int))
                 from pg_depend d
                 join pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
                 join pg_type t on t.oid = a.atttypid
                where d.classid = 'pg_rewrite'::regclass and d.objid = r.oid and d.refclassid = 'pg_class'::regclass
                  and d.refobjsubid > 0 and (a.attnotnull or (t.typtype = 'd' and t.typnotnull))) as non_null
         from closure join pg_rewrite r on r.ev_class = closure.oid and r.rulename = '_RETURN'`,
      [schemaList],
    )
  ).map((r): ViewRule => ({
    viewId: num(r.view_id),
    definition: r.definition,
    nonNullColumns: (r.non_null ?? []).map(([a, b]) => [Number(a), Number(b)] as [number, number]),
  }));

  const keyColumns = viewRules.length === 0 ? [] : (
    await db.query<{ type: 'p' | 'f' | 'f_ref'; name: string; ncol: number; relid: string; attnum: number; attname: string; ord: number; schema: string; tbl: string }>(
      `with keys as (
         select k.contype::text as type, k.conname::text as name, cardinality(k.conkey) as ncol, k.conrelid as relid, u.attnum, u.ord
           from pg_constraint k cross join lateral unnest(k.conkey) with ordinality as u(attnum, ord)
          where k.contype in ('p', 'f')
         union all
         select 'f_ref', k.conname::text, cardinality(k.confkey), k.confrelid, u.attnum, u.ord
           from pg_constraint k cross join lateral unnest(k.confkey) with ordinality as u(attnum, ord)
          where k.contype = 'f')
       select keys.type, keys.name, keys.ncol::int, keys.relid::int8 as relid, keys.attnum::int, a.attname::text, keys.ord::int,
              n.nspname::text as schema, c.relname::text as tbl
         from keys join pg_class c on c.oid = keys.relid join pg_namespace n on n.oid = c.relnamespace
         join pg_attribute a on a.attrelid = keys.relid and a.attnum = keys.attnum`,
    )
  ).map((r): KeyColumn => ({
    type: r.type, name: r.name, ncol: Number(r.ncol), relid: num(r.relid), attnum: Number(r.attnum), attname: r.attname,
    ord: Number(r.ord), schema: r.schema, table: r.tbl,
  }));

  const functions = (
    await db.query<{
      id: string; schema: string; name: string; modes: string[] | null; names: string[] | null; types: (number | string)[];
      nargs: number; ndefaults: number; argument_types: string; return_type: string; return_type_id: string;
      return_type_relation_id: string | null; is_set_returning: boolean; prorows: number | null;
    }>(
      `select p.oid::int8 as id, n.nspname as schema, p.proname as name,
              p.proargmodes::text[] as modes, p.proargnames as names,
              -- json, not an array: proargtypes is an oidvector whose array is 0-based ('[0:1]={...}'),
              -- which postgres.js would read as a nested array.
              array_to_json(coalesce(p.proallargtypes, p.proargtypes::oid[])::int8[]) as types,
              p.pronargs::int as nargs, p.pronargdefaults::int as ndefaults,
              pg_get_function_arguments(p.oid) as argument_types,
              pg_get_function_result(p.oid) as return_type,
              p.prorettype::int8 as return_type_id,
              nullif(rt.typrelid::int8, 0) as return_type_relation_id,
              p.proretset as is_set_returning,
              case when p.proretset then nullif(p.prorows, 0)::float8 end as prorows
         from pg_proc p
         join pg_namespace n on n.oid = p.pronamespace
         left join pg_type rt on rt.oid = p.prorettype
        where n.nspname = any($1::text[]) and p.prokind = 'f'
          and rt.typname not in ('trigger', 'event_trigger')`,
      [schemaList],
    )
  ).map((r): PgFunction => {
    const types = r.types.map(Number);
    const modeOf: Record<string, FunctionArg['mode']> = { i: 'in', o: 'out', b: 'inout', v: 'variadic', t: 'table' };
    const args = types.map((typeId, i): FunctionArg => ({
      mode: modeOf[r.modes?.[i] ?? 'i'] ?? 'table',
      name: r.names?.[i] ?? '',
      typeId,
      // As the CLI computes it: the last pronargdefaults of the first pronargs arguments (by position).
      hasDefault: i < r.nargs ? i >= r.nargs - r.ndefaults : null,
    }));
    return {
      id: num(r.id),
      schema: r.schema,
      name: r.name,
      args,
      argumentTypes: r.argument_types,
      returnType: r.return_type,
      returnTypeId: num(r.return_type_id),
      returnTypeRelationId: r.return_type_relation_id === null ? null : num(r.return_type_relation_id),
      isSetReturning: r.is_set_returning,
      prorows: r.prorows === null ? null : Number(r.prorows),
    };
  });

  const types = (
    await db.query<{
      id: string; name: string; schema: string; format: string; enums: string[] | null;
      attributes: { name: string; type_id: number }[] | null; type_relation_id: string | null;
    }>(
      `select t.oid::int8 as id, t.typname::text as name, n.nspname::text as schema,
              format_type(t.oid, null) as format,
              (select array_agg(e.enumlabel::text order by e.enumsortorder) from pg_enum e where e.enumtypid = t.oid) as enums,
              (select json_agg(json_build_object('name', a.attname, 'type_id', a.atttypid::int8) order by a.attnum)
                 from pg_class c join pg_attribute a on a.attrelid = c.oid
                where c.oid = t.typrelid and c.relkind = 'c' and a.attnum > 0 and not a.attisdropped) as attributes,
              nullif(t.typrelid::int8, 0) as type_relation_id
         from pg_type t join pg_namespace n on n.oid = t.typnamespace
        where t.typrelid = 0
           or (select c.relkind in ('c', 'r', 'v', 'm', 'p', 'f') from pg_class c where c.oid = t.typrelid)`,
    )
  ).map(
    (r): PgType => ({
      id: num(r.id),
      name: r.name,
      schema: r.schema,
      format: r.format,
      enums: r.enums ?? [],
      attributes: (r.attributes ?? []).map((a) => ({ name: a.name, typeId: Number(a.type_id) })),
      typeRelationId: r.type_relation_id === null ? null : num(r.type_relation_id),
    }),
  );

  return { schemas: schemaList, allForeignKeys, viewRules, keyColumns, relations, columns, foreignKeys, functions, types };
}

// ---------------------------------------------------------------------------------------------
// Exposed functions (what PostgREST can call), overloads, computed fields
// ---------------------------------------------------------------------------------------------

interface TypeRef {
  format: string | null;
  typeSchema: string | null;
}
interface RpcArg extends TypeRef {
  name: string;
  hasDefault: boolean;
}
interface Overload {
  fn: PgFunction;
  args: RpcArg[];
  returns: TypeRef & { relationId: number | null; columns: (TypeRef & { name: string })[] | null };
  isSetReturning: boolean;
  setofOptions: { from: string; to: string; isOneToOne: boolean; isSetofReturn: boolean } | null;
  computedFieldOf: number | null;
  error: string | null;
}
interface Rpc {
  schema: string;
  name: string;
  overloads: Overload[];
}

/** json, jsonb, text: the argument types PostgREST can pass a whole request body as. */
const BODY_TYPES = new Set([114, 3802, 25]);
const IN_MODES = new Set(['in', 'inout', 'variadic']);

function rpcFunctions(meta: Metadata): Rpc[] {
  const schemas = new Set(meta.schemas);
  const typeById = new Map(meta.types.map((t) => [t.id, t]));
  const rowTypes = new Map(meta.types.filter((t) => t.typeRelationId !== null).map((t) => [t.id, t]));
  const relById = new Map(meta.relations.map((r) => [r.id, r]));
  const relByName = new Map(meta.relations.map((r) => [`${r.schema}\0${r.name}`, r]));
  const colNames = new Map<number, Set<string>>();
  for (const c of meta.columns) {
    if (!colNames.has(c.tableId)) colNames.set(c.tableId, new Set());
    colNames.get(c.tableId)!.add(c.name);
  }
  const ref = (typeId: number): TypeRef => {
    const t = typeById.get(typeId);
    return { format: t?.name ?? null, typeSchema: t?.schema ?? null };
  };
  const typeName = (typeId: number) => typeById.get(typeId)?.name ?? 'unknown';
  type Cand = { fn: PgFunction; inArgs: FunctionArg[] };

  const exposed = ({ inArgs }: Cand): boolean => {
    if (inArgs.length === 0) return true;
    if (!inArgs.some((a) => a.name === '')) return true;
    if (inArgs.every((a) => a.name !== '' || (a.hasDefault === true && BODY_TYPES.has(a.typeId)))) return true;
    const only = inArgs.length === 1 ? inArgs[0] : undefined;
    return only !== undefined && only.name === '' && (BODY_TYPES.has(only.typeId) || rowTypes.has(only.typeId));
  };
  const computedFieldOf = ({ fn, inArgs }: Cand): number | null => {
    const only = inArgs.length === 1 ? inArgs[0] : undefined;
    if (!only) return null;
    const rowType = rowTypes.get(only.typeId);
    const rel = rowType
      ? relById.get(rowType.typeRelationId!)
      : typeById.has(only.typeId)
        ? undefined
        : relByName.get(`${fn.schema}\0${fn.argumentTypes}`);
    if (!rel || rel.schema !== fn.schema) return null;
    if (colNames.get(rel.id)?.has(fn.name)) return null;
    return rel.id;
  };
  const ambiguity = (c: Cand, all: Cand[]): string | null => {
    const { fn, inArgs } = c;
    const only = inArgs.length === 1 ? inArgs[0] : undefined;
    const hint = 'Try renaming the parameters or the function itself in the database so function overloading can be resolved';
    if (all.length > 1) {
      if (inArgs.length === 0) {
        const other = all.find((o) => o !== c && o.inArgs.length === 1 && o.inArgs[0]?.name === '' && o.inArgs[0].hasDefault === true);
        if (other) {
          return `Could not choose the best candidate function between: ${fn.schema}.${fn.name}(), ${fn.schema}.${fn.name}( => ${typeName(other.fn.returnTypeId)}). ${hint}`;
        }
      }
      if (only && only.name !== '') {
        const others = all.filter((o) => o !== c && o.inArgs.length === 1 && o.inArgs[0]?.name === only.name && o.inArgs[0].typeId !== only.typeId);
        if (others.length > 0) {
          const list = [c, ...others]
            .sort((a, b) => (a.inArgs[0]?.typeId || 0) - (b.inArgs[0]?.typeId || 0))
            .map((o) => `${fn.schema}.${fn.name}(${o.inArgs.map((a) => `${a.name} => ${typeName(a.typeId)}`).join(', ')})`)
            .join(', ');
          return `Could not choose the best candidate function between: ${list}. ${hint}`;
        }
      }
    }
    if (only && only.name === '' && rowTypes.has(only.typeId)) {
      return `the function ${fn.schema}.${fn.name} with parameter or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache`;
    }
    return null;
  };
  const overload = (c: Cand, all: Cand[]): Overload => {
    const { fn, inArgs } = c;
    const args = inArgs
      .map((a): RpcArg => ({ name: a.name, ...ref(a.typeId), hasDefault: a.hasDefault === true }))
      .sort((a, b) => cmp(a.name, b.name));
    const tableCols = fn.args
      .filter((a) => a.mode === 'table')
      .map((a) => ({ name: a.name, ...ref(a.typeId) }))
      .sort((a, b) => cmp(a.name, b.name));
    const to =
      fn.returnTypeRelationId === null
        ? null
        : (relById.get(fn.returnTypeRelationId)?.name ?? rowTypes.get(fn.returnTypeId)?.name ?? null);
    const manyRows = fn.prorows !== null && fn.prorows > 1;
    const single = fn.args.length === 1 ? fn.args[0] : undefined;
    const fromType = single ? rowTypes.get(single.typeId) : undefined;
    return {
      fn,
      args,
      returns: {
        ...ref(fn.returnTypeId),
        relationId: fn.returnTypeRelationId !== null && relById.has(fn.returnTypeRelationId) ? fn.returnTypeRelationId : null,
        columns: tableCols.length > 0 ? tableCols : null,
      },
      isSetReturning: fn.isSetReturning,
      setofOptions:
        to === null
          ? null
          : {
              from: fromType ? fromType.format : '*',
              to,
              isOneToOne: fromType && !fn.isSetReturning ? true : !manyRows,
              isSetofReturn: fn.isSetReturning,
            },
      computedFieldOf: computedFieldOf(c),
      error: ambiguity(c, all),
    };
  };

  const groups = new Map<string, Cand[]>();
  for (const fn of meta.functions) {
    if (!schemas.has(fn.schema)) continue;
    const cand: Cand = { fn, inArgs: fn.args.filter((a) => IN_MODES.has(a.mode)) };
    if (!exposed(cand)) continue;
    const key = `${fn.schema}\0${fn.name}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(cand);
  }
  return [...groups.values()]
    .map((cands) => {
      const sorted = [...cands].sort(
        (a, b) => cmp(a.fn.argumentTypes, b.fn.argumentTypes) || cmp(a.fn.returnType, b.fn.returnType) || a.fn.id - b.fn.id,
      );
      const first = sorted[0]!.fn;
      return { schema: first.schema, name: first.name, overloads: sorted.map((c) => overload(c, sorted)) };
    })
    .sort((a, b) => cmp(a.schema, b.schema) || cmp(a.name, b.name));
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

const STRING_TYPES = new Set([
  'bytea', 'bpchar', 'varchar', 'date', 'text', 'citext', 'time', 'timetz', 'timestamp', 'timestamptz', 'uuid', 'vector', 'interval',
]);
const NUMBER_TYPES = new Set(['int2', 'int4', 'int8', 'float4', 'float8', 'numeric']);

const q = (s: string) => JSON.stringify(s);
/** Property keys print bare when they are identifiers (as a formatter would), quoted otherwise. */
const key = (s: string) => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(s) ? s : q(s));

class Renderer {
  private readonly schemas: Set<string>;
  private readonly colsByRel = new Map<number, Column[]>();
  private readonly typeById: Map<number, PgType>;
  private readonly rpcs: Rpc[];
  private readonly relationshipList: ForeignKey[];

  constructor(private readonly meta: Metadata) {
    this.schemas = new Set(meta.schemas);
    this.typeById = new Map(meta.types.map((t) => [t.id, t]));
    this.relationshipList = relationshipsWithViews(meta);
    for (const r of meta.relations) this.colsByRel.set(r.id, []);
    for (const c of [...applyViewNullability(meta)].sort((a, b) => cmp(a.name, b.name))) this.colsByRel.get(c.tableId)?.push(c);
    this.rpcs = rpcFunctions(meta);
  }

  /** The Postgres → TypeScript mapping of `supabase gen types` (type name as `format`, `_x` = array of x). */
  tsType(format: string, typeSchema: string | null, ctxSchema: string): string {
    if (format === 'bool') return 'boolean';
    if (NUMBER_TYPES.has(format)) return 'number';
    if (STRING_TYPES.has(format)) return 'string';
    if (format === 'json' || format === 'jsonb') return 'Json';
    if (format === 'void') return 'undefined';
    if (format === 'record') return 'Record<string, unknown>';
    if (format.startsWith('_')) {
      const inner = this.tsType(format.slice(1), typeSchema, ctxSchema);
      return inner.includes(' | ') ? `(${inner})[]` : `${inner}[]`;
    }
    const schema = typeSchema ?? ctxSchema;
    const enums = this.meta.types.filter((t) => t.name === format && t.enums.length > 0);
    const en = enums.find((t) => t.schema === schema) ?? enums[0];
    if (en) {
      if (this.schemas.has(en.schema)) return `Database[${q(en.schema)}]["Enums"][${q(en.name)}]`;
      return en.enums.map(q).join(' | ');
    }
    const comps = this.meta.types.filter((t) => t.name === format && t.attributes.length > 0);
    const comp = comps.find((t) => t.schema === schema) ?? comps[0];
    if (comp) {
      if (this.schemas.has(comp.schema)) return `Database[${q(comp.schema)}]["CompositeTypes"][${q(comp.name)}]`;
      return 'unknown';
    }
    const rel = this.relationRef(format, schema);
    return rel ? `${rel}["Row"]` : 'unknown';
  }

  private relationRef(name: string, schema: string): string | undefined {
    const rels = this.meta.relations;
    const order: Relation['kind'][] = ['table', 'foreign', 'view', 'matview'];
    const find = (pred: (r: Relation) => boolean) => {
      for (const kind of order) {
        const r = rels.find((x) => x.kind === kind && pred(x));
        if (r) return r;
      }
      return undefined;
    };
    const rel = find((r) => r.name === name && r.schema === schema) ?? find((r) => r.name === name);
    if (!rel || !this.schemas.has(rel.schema)) return undefined;
    const section = rel.kind === 'table' || rel.kind === 'foreign' ? 'Tables' : 'Views';
    return `Database[${q(rel.schema)}]["${section}"][${q(rel.name)}]`;
  }

  private nullable(ts: string, isNullable: boolean): string {
    if (ts === 'Json' && !isNullable) return 'NonNullable<Json>';
    if (ts === 'unknown' || ts === 'any' || !isNullable) return ts;
    return `${ts} | null`;
  }

  private field(ctx: string, name: string, ref: TypeRef, isNullable: boolean, optional: boolean): string {
    const ts = ref.format === null || ref.typeSchema === null ? 'unknown' : this.tsType(ref.format, ref.typeSchema, ctx);
    return `${key(name)}${optional ? '?' : ''}: ${this.nullable(ts, isNullable)}`;
  }

  private colField(ctx: string, c: Column, isNullable: boolean, optional: boolean) {
    return this.field(ctx, c.name, { format: c.format, typeSchema: c.typeSchema }, isNullable, optional);
  }

  private refType(ctx: string, ref: TypeRef): string {
    return ref.format === null || ref.typeSchema === null ? 'unknown' : this.tsType(ref.format, ref.typeSchema, ctx);
  }

  /** `{ ... }` on several lines at `indent`, or `{}` members inline when empty. */
  private block(lines: string[], indent: string): string {
    if (lines.length === 0) return '{}';
    return `{\n${lines.map((l) => `${indent}  ${l.replace(/\n/g, `\n${indent}  `)}`).join('\n')}\n${indent}}`;
  }

  private returnsType(ctx: string, o: Overload, indent: string): string {
    if (o.returns.columns) {
      return this.block(o.returns.columns.map((c) => `${key(c.name)}: ${this.refType(ctx, c)}`), indent);
    }
    const rel = o.returns.relationId === null ? undefined : this.meta.relations.find((r) => r.id === o.returns.relationId);
    if (rel && rel.schema === ctx) {
      return this.block((this.colsByRel.get(rel.id) ?? []).map((c) => this.colField(ctx, c, c.isNullable, false)), indent);
    }
    return this.refType(ctx, o.returns);
  }

  private argType(ctx: string, a: RpcArg): string {
    const ts = this.refType(ctx, a);
    if (a.name === '' || a.format === null || a.typeSchema === null) return ts;
    const rel = this.relationRef(a.format, a.typeSchema);
    if (rel && ts === `${rel}["Row"]`) return `Omit<${rel}["Row"], ${rel}["ComputedFields"]>`;
    return ts;
  }

  private relationships(rel: Relation): string[] {
    const dorder = (a: ForeignKey, b: ForeignKey) =>
      cmp(a.name, b.name) ||
      cmp(a.referencedRelation, b.referencedRelation) ||
      cmp(JSON.stringify(a.referencedColumns), JSON.stringify(b.referencedColumns)) ||
      cmp(a.referencedSchema, b.referencedSchema) ||
      cmp(a.schema, b.schema) ||
      cmp(a.relation, b.relation) ||
      cmp(JSON.stringify(a.columns), JSON.stringify(b.columns));
    return this.relationshipList
      .filter((fk) => fk.schema === rel.schema && fk.relation === rel.name && fk.referencedSchema === rel.schema)
      .sort(dorder)
      .map((fk) =>
        [
          '{',
          `  foreignKeyName: ${q(fk.name)}`,
          `  columns: [${fk.columns.map(q).join(', ')}]`,
          `  isOneToOne: ${fk.isOneToOne}`,
          `  referencedRelation: ${q(fk.referencedRelation)}`,
          `  referencedColumns: [${fk.referencedColumns.map(q).join(', ')}]`,
          '},',
        ].join('\n'),
      );
  }

  private computedFields(ctx: string, rel: Relation): { name: string; overload: Overload }[] {
    return this.rpcs
      .filter((f) => f.schema === ctx)
      .flatMap((f) => {
        const o = f.overloads.find((x) => x.computedFieldOf === rel.id);
        return o ? [{ name: f.name, overload: o }] : [];
      });
  }

  private relationType(ctx: string, rel: Relation, isView: boolean): string {
    const cols = this.colsByRel.get(rel.id) ?? [];
    const computed = this.computedFields(ctx, rel);
    const row = [
      ...cols.map((c) => this.colField(ctx, c, c.isNullable, false)),
      ...computed.map(({ name, overload }) => `${key(name)}: ${this.nullable(this.returnsType(ctx, overload, ''), true)}`),
    ];
    const out: string[] = [];
    out.push(`Row: ${this.block(row, '')}`);
    out.push(`ComputedFields: ${computed.length === 0 ? 'never' : computed.map((c) => q(c.name)).join(' | ')}`);
    const writeField = (c: Column, optional: boolean) =>
      c.identityGeneration === 'ALWAYS' || c.isGenerated ? `${key(c.name)}?: never` : this.colField(ctx, c, c.isNullable, optional);
    const viewField = (c: Column) => (c.isUpdatable ? this.colField(ctx, c, true, true) : `${key(c.name)}?: never`);
    if (!isView) {
      out.push(`Insert: ${this.block(cols.map((c) => writeField(c, c.isNullable || c.isIdentity || c.hasDefault)), '')}`);
      out.push(`Update: ${this.block(cols.map((c) => writeField(c, true)), '')}`);
    } else {
      if (rel.isInsertEnabled || rel.isUpdatable) out.push(`Insert: ${this.block(cols.map(viewField), '')}`);
      if (rel.isUpdateEnabled || rel.isUpdatable) out.push(`Update: ${this.block(cols.map(viewField), '')}`);
    }
    const rels = this.relationships(rel);
    out.push(rels.length === 0 ? 'Relationships: []' : `Relationships: [\n${rels.map((r) => `  ${r.replace(/\n/g, '\n  ')}`).join('\n')}\n]`);
    return this.block(out, '');
  }

  private functionType(ctx: string, rpc: Rpc): string {
    const variants = rpc.overloads.map((o) => {
      const members: string[] = [];
      members.push(
        `Args: ${
          o.args.length === 0
            ? 'Record<PropertyKey, never>'
            : this.block(o.args.map((a) => `${key(a.name)}${a.hasDefault ? '?' : ''}: ${this.argType(ctx, a)}`), '')
        }`,
      );
      if (o.error !== null) {
        members.push(`Returns: { error: true } & ${q(o.error)}`);
      } else {
        const many = o.isSetReturning && o.setofOptions?.isOneToOne !== true;
        members.push(`Returns: ${this.returnsType(ctx, o, '')}${many ? '[]' : ''}`);
      }
      if (o.setofOptions) {
        const s = o.setofOptions;
        members.push(
          `SetofOptions: ${this.block(
            [`from: ${q(s.from)}`, `to: ${q(s.to)}`, `isOneToOne: ${s.isOneToOne}`, `isSetofReturn: ${s.isSetofReturn}`],
            '',
          )}`,
        );
      }
      return this.block(members, '');
    });
    if (variants.length === 1) return variants[0]!;
    return `\n${variants.map((v) => `  | ${v.replace(/\n/g, '\n    ')}`).join('\n')}`;
  }

  private section(entries: [string, string][]): string {
    if (entries.length === 0) return '{\n  [_ in never]: never\n}';
    return this.block(
      entries.map(([k, v]) => `${key(k)}:${v.startsWith('\n') ? '' : ' '}${v}`),
      '',
    );
  }

  private schemaType(ctx: string): string {
    const rels = this.meta.relations.filter((r) => r.schema === ctx).sort((a, b) => cmp(a.name, b.name));
    const tables = rels.filter((r) => r.kind === 'table' || r.kind === 'foreign');
    const views = rels.filter((r) => r.kind === 'view' || r.kind === 'matview');
    const enums = this.meta.types.filter((t) => t.schema === ctx && t.enums.length > 0).sort((a, b) => cmp(a.name, b.name));
    const composites = this.meta.types
      .filter((t) => t.schema === ctx && t.attributes.length > 0)
      .sort((a, b) => cmp(a.name, b.name));
    const parts: string[] = [
      `Tables: ${this.section(tables.map((t) => [t.name, this.relationType(ctx, t, false)]))}`,
      `Views: ${this.section(views.map((v) => [v.name, this.relationType(ctx, v, true)]))}`,
      `Functions: ${this.section(this.rpcs.filter((f) => f.schema === ctx).map((f) => [f.name, this.functionType(ctx, f)]))}`,
      `Enums: ${this.section(enums.map((e) => [e.name, e.enums.map(q).join(' | ')]))}`,
      `CompositeTypes: ${this.section(
        composites.map((c) => [
          c.name,
          this.block(
            c.attributes.map((a) => {
              const t = this.typeById.get(a.typeId);
              const ts = t ? this.nullable(this.tsType(t.name, t.schema, ctx), true) : 'unknown';
              return `${key(a.name)}: ${ts}`;
            }),
            '',
          ),
        ]),
      )}`,
    ];
    return this.block(parts, '');
  }

  render(): string {
    const defaultSchema = this.meta.schemas.includes('public') || !this.meta.schemas[0] ? 'public' : this.meta.schemas[0];
    const database = this.block(
      this.meta.schemas.map((s) => `${key(s)}: ${this.schemaType(s)}`),
      '',
    );
    const constants = this.block(
      this.meta.schemas.map((s) => {
        const enums = this.meta.types.filter((t) => t.schema === s && t.enums.length > 0).sort((a, b) => cmp(a.name, b.name));
        const body = enums.map((e) => `${key(e.name)}: [${e.enums.map(q).join(', ')}],`);
        return `${key(s)}: {\n  Enums: ${body.length === 0 ? '{}' : this.block(body, '  ')},\n},`;
      }),
      '',
    );
    return `${HEADER}
export type Json =
  | string
  | number
  | boolean
  | null
  | { [key: string]: Json | undefined }
  | Json[]

export type Database = ${database}

type DatabaseWithoutInternals = Omit<Database, "__InternalSupabase">

type DefaultSchema = DatabaseWithoutInternals[Extract<keyof Database, ${q(defaultSchema)}>]
${HELPERS}
export const Constants = ${constants} as const
`;
  }
}

const HEADER = `// Generated by \`npm run db:types\` from the migrated schema (the shape of \`supabase gen types typescript\`).
// Do not edit by hand: change a migration, then run \`npm run db:types\`.
`;

const HELPERS = `
export type Tables<
  DefaultSchemaTableNameOrOptions extends
    | keyof (DefaultSchema["Tables"] & DefaultSchema["Views"])
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
        DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])
    : never = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
      DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])[TableName] extends {
      Row: infer R
    }
    ? R
    : never
  : DefaultSchemaTableNameOrOptions extends keyof (DefaultSchema["Tables"] &
        DefaultSchema["Views"])
    ? (DefaultSchema["Tables"] &
        DefaultSchema["Views"])[DefaultSchemaTableNameOrOptions] extends {
        Row: infer R
      }
      ? R
      : never
    : never

export type TablesInsert<
  DefaultSchemaTableNameOrOptions extends
    | keyof DefaultSchema["Tables"]
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"]
    : never = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"][TableName] extends {
      Insert: infer I
    }
    ? I
    : never
  : DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][DefaultSchemaTableNameOrOptions] extends {
        Insert: infer I
      }
      ? I
      : never
    : never

export type TablesUpdate<
  DefaultSchemaTableNameOrOptions extends
    | keyof DefaultSchema["Tables"]
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"]
    : never = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"][TableName] extends {
      Update: infer U
    }
    ? U
    : never
  : DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][DefaultSchemaTableNameOrOptions] extends {
        Update: infer U
      }
      ? U
      : never
    : never

export type Enums<
  DefaultSchemaEnumNameOrOptions extends
    | keyof DefaultSchema["Enums"]
    | { schema: keyof DatabaseWithoutInternals },
  EnumName extends DefaultSchemaEnumNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"]
    : never = never,
> = DefaultSchemaEnumNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"][EnumName]
  : DefaultSchemaEnumNameOrOptions extends keyof DefaultSchema["Enums"]
    ? DefaultSchema["Enums"][DefaultSchemaEnumNameOrOptions]
    : never

export type CompositeTypes<
  PublicCompositeTypeNameOrOptions extends
    | keyof DefaultSchema["CompositeTypes"]
    | { schema: keyof DatabaseWithoutInternals },
  CompositeTypeName extends PublicCompositeTypeNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"]
    : never = never,
> = PublicCompositeTypeNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"][CompositeTypeName]
  : PublicCompositeTypeNameOrOptions extends keyof DefaultSchema["CompositeTypes"]
    ? DefaultSchema["CompositeTypes"][PublicCompositeTypeNameOrOptions]
    : never
`;

export function renderTypes(meta: Metadata): string {
  return new Renderer(meta).render();
}

/** Introspects `db` and returns the contents of types/database.types.ts. */
export async function generateTypes(db: Queryable, schemas: string[] = ['public']): Promise<string> {
  return renderTypes(await introspect(db, schemas));
}

export const typesFile = 'types/database.types.ts';
export const outOfDateMessage = `${typesFile} is out of date — run npm run db:types`;

/**
 * Writes `text` to `path`, or with `check` compares instead: `{ok: false, message}` when the file on disk
 * differs (or is missing), so CI fails with the one command that fixes it.
 */
export async function syncTypesFile(text: string, opts: { path: string; check?: boolean }): Promise<{ ok: boolean; message: string }> {
  if (opts.check) {
    const current = await readFile(opts.path, 'utf8').catch(() => null);
    return current === text ? { ok: true, message: `${typesFile} is up to date` } : { ok: false, message: outOfDateMessage };
  }
  await mkdir(dirname(opts.path), { recursive: true });
  await writeFile(opts.path, text);
  return { ok: true, message: `wrote ${typesFile}` };
}
