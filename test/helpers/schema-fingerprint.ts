/**
 * What a migrated database looks like, as plain sorted data two databases can be compared on:
 * relations (with RLS flags), columns, constraints, indexes, policies, functions (signature, security,
 * search_path), triggers, and the privileges the API roles hold on them.
 */
import type { Queryable } from '../../ops/db.ts';

export interface Fingerprint {
  relations: string[];
  columns: string[];
  constraints: string[];
  indexes: string[];
  policies: string[];
  functions: string[];
  triggers: string[];
  tableGrants: string[];
  functionGrants: string[];
}

const API_ROLES = ['anon', 'authenticated', 'service_role'];

export async function schemaFingerprint(db: Queryable, schemas: string[] = ['public']): Promise<Fingerprint> {
  const col = async (sql: string, params: unknown[] = [schemas]) =>
    (await db.query<{ v: string }>(sql, params)).map((r) => r.v).sort();
  return {
    relations: await col(
      `select format('%s.%s kind=%s rls=%s force=%s', n.nspname, c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity) as v
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any($1::text[]) and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')`,
    ),
    columns: await col(
      `select format('%s.%s.%s %s notnull=%s default=%s identity=%s generated=%s', n.nspname, c.relname, a.attname,
                     format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated) as v
         from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
         left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where n.nspname = any($1::text[]) and c.relkind in ('r', 'p', 'v', 'm') and a.attnum > 0 and not a.attisdropped`,
    ),
    constraints: await col(
      `select format('%s.%s %s %s', n.nspname, c.relname, k.conname, pg_get_constraintdef(k.oid)) as v
         from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any($1::text[])`,
    ),
    indexes: await col(`select indexdef as v from pg_indexes where schemaname = any($1::text[])`),
    policies: await col(
      `select format('%s.%s %L %s %s to %s using (%s) check (%s)', schemaname, tablename, policyname, permissive, cmd,
                     roles::text, qual, with_check) as v
         from pg_policies where schemaname = any($1::text[])`,
    ),
    functions: await col(
      `select format('%s.%s(%s) returns %s kind=%s definer=%s volatile=%s config=%s', n.nspname, p.proname,
                     pg_get_function_identity_arguments(p.oid), pg_get_function_result(p.oid), p.prokind, p.prosecdef,
                     p.provolatile, p.proconfig::text) as v
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = any($1::text[])`,
    ),
    triggers: await col(
      `select format('%s.%s %s', n.nspname, c.relname, pg_get_triggerdef(t.oid)) as v
         from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any($1::text[]) and not t.tgisinternal`,
    ),
    tableGrants: await col(
      `select format('%s.%s %s %s', table_schema, table_name, grantee, string_agg(privilege_type, ',' order by privilege_type)) as v
         from information_schema.role_table_grants
        where table_schema = any($1::text[]) and grantee = any($2::text[])
        group by table_schema, table_name, grantee`,
      [schemas, API_ROLES],
    ),
    functionGrants: await col(
      `select format('%s.%s(%s) %s', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid),
                     (select string_agg(r, ',' order by r) from unnest($2::text[]) as r
                       where has_function_privilege(r, p.oid, 'execute'))) as v
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = any($1::text[])`,
      [schemas, API_ROLES],
    ),
  };
}
