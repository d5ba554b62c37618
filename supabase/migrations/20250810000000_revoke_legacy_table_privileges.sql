-- Legacy hardening: the API roles lose the table privileges row level security cannot fence.
--
-- Purpose : the legacy baseline kept the platform's default privileges (ALL to anon and authenticated), so
--           `set role anon; truncate public.chat_messages` emptied the table: TRUNCATE bypasses RLS, and so do
--           REFERENCES and TRIGGER in their own ways. Here, on public.agents, public.chat_messages and
--           public.chat_states: TRUNCATE, REFERENCES and TRIGGER (and MAINTAIN on PostgreSQL 17+) are revoked
--           from anon and authenticated, and anon loses everything on the three tables and on the sequences
--           they own (anon reaches nothing, as in v2). authenticated keeps SELECT / INSERT / UPDATE / DELETE,
--           fenced by the owner-only policies.
--           The ACLs as they were are saved first, so the rollback restores them exactly — production's may
--           differ from what the platform shim creates.
-- Objects : schema chat_legacy_acl, table chat_legacy_acl.saved_acls (one row per table, owned sequence and
--           column ACL, as found); privileges on the three tables and their sequences. Nothing else.
-- Locks   : GRANT / REVOKE rewrite catalog rows only (pg_class, pg_attribute): no lock on the tables' data, no
--           rewrite; instant at any size. Applies wherever the tables live (public, or chat_archive after a
--           finalize): they are found by name and remembered by oid.
-- Depends : 20250801000000 only (the legacy tables): it stays applied when schema v2 or the data migration is
--           rolled back, so those never reopen TRUNCATE on the legacy tables.
-- Rollback: supabase/rollbacks/20250810000000_revoke_legacy_table_privileges.down.sql — puts every saved ACL
--           back item by item (same grantees, privileges, grant options, grantors and order) and drops schema
--           chat_legacy_acl; it refuses, with the saved ACL in the message, if it cannot reproduce one exactly.

/** Where this migration keeps what it changed; not exposed through the API (PostgREST serves public only). */
create schema chat_legacy_acl;
revoke all on schema chat_legacy_acl from public;

/**
 * The ACLs of the legacy tables, their owned sequences and their columns, as they were before this migration.
 * attnum 0 is the relation itself; a column row exists only where the column had its own ACL. acl null means the
 * object had never been granted on (the owner's implicit default privileges).
 */
create table chat_legacy_acl.saved_acls (
  relid oid not null,
  attnum smallint not null default 0,
  object_name text not null,
  object_kind text not null check (object_kind in ('table', 'sequence', 'column')),
  acl aclitem[],
  saved_at timestamptz not null default now(),
  primary key (relid, attnum)
);
comment on table chat_legacy_acl.saved_acls is
  'ACLs of the legacy tables, sequences and columns before 20250810000000; read by its rollback.';
alter table chat_legacy_acl.saved_acls enable row level security;
revoke all on table chat_legacy_acl.saved_acls from public, anon, authenticated, service_role;

do $$
declare
  v_tables oid[];
  v_seqs oid[];
  v_rel oid;
begin
  -- the three legacy tables, wherever they are (public, or chat_archive after finalize_chat_migration)
  select array_agg(coalesce(to_regclass('public.' || t), to_regclass('chat_archive.' || t))::oid)
    into v_tables
    from unnest(array['agents', 'chat_messages', 'chat_states']) as t
   where coalesce(to_regclass('public.' || t), to_regclass('chat_archive.' || t)) is not null;
  if coalesce(cardinality(v_tables), 0) <> 3 then
    raise exception 'legacy tables agents, chat_messages and chat_states not found'
      using errcode = '42P01',
            hint = 'Apply the legacy baseline (20250801000000) first, or mark it applied if production has the tables.';
  end if;
  -- sequences they own (identity columns: dependency 'i'; serial columns: 'a')
  select coalesce(array_agg(d.objid), '{}') into v_seqs
    from pg_catalog.pg_depend d
    join pg_catalog.pg_class s on s.oid = d.objid and s.relkind = 'S'
   where d.classid = 'pg_catalog.pg_class'::regclass and d.refclassid = 'pg_catalog.pg_class'::regclass
     and d.refobjid = any (v_tables) and d.deptype in ('a', 'i');

  insert into chat_legacy_acl.saved_acls (relid, attnum, object_name, object_kind, acl)
  select c.oid, 0, format('%I.%I', n.nspname, c.relname), case c.relkind when 'S' then 'sequence' else 'table' end,
         c.relacl
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
   where c.oid = any (v_tables || v_seqs)
  union all
  select a.attrelid, a.attnum, format('%I.%I.%I', n.nspname, c.relname, a.attname), 'column', a.attacl
    from pg_catalog.pg_attribute a
    join pg_catalog.pg_class c on c.oid = a.attrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
   where a.attrelid = any (v_tables) and a.attnum > 0 and not a.attisdropped and a.attacl is not null;

  foreach v_rel in array v_tables loop
    execute format('revoke truncate, references, trigger on table %s from anon, authenticated', v_rel::regclass);
    -- PostgreSQL 17+ also has MAINTAIN (VACUUM, ANALYZE, CLUSTER, REINDEX, LOCK TABLE): not DML, and CLUSTER
    -- rewrites the table under an exclusive lock
    if current_setting('server_version_num')::integer >= 170000 then
      execute format('revoke maintain on table %s from anon, authenticated', v_rel::regclass);
    end if;
    execute format('revoke all on table %s from anon', v_rel::regclass);
  end loop;
  foreach v_rel in array v_seqs loop
    execute format('revoke all on sequence %s from anon', v_rel::regclass);
  end loop;
end
$$;
