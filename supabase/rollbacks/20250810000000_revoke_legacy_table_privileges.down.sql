-- Rollback of 20250810000000_revoke_legacy_table_privileges: gives the legacy tables (agents, chat_messages,
-- chat_states), the sequences they own and their columns back exactly the ACLs they had before it — as saved
-- by the migration in chat_legacy_acl.saved_acls, which may differ from what the platform shim creates — and
-- drops schema chat_legacy_acl. Data is never touched; catalog rows only, no table lock.
--
-- How: for each saved object whose ACL changed, every current entry is revoked and the saved entries are
-- granted again in their saved order (an ACL keeps its entries in the order they were first granted), with their
-- grant options, each by its original grantor: the owner's entries as the role running this (the owner or a
-- superuser), another grantor's after SET ROLE to it (the role running this must be able to). If the result
-- differs from the saved ACL in any byte, the rollback raises with both ACLs and changes nothing. An ACL that was
-- null (never granted: the owner's implicit defaults) comes back as its explicit equivalent, acldefault().
-- The history row: deleted where supabase_migrations.schema_migrations exists (a database migrated with psql -f
-- or another tool has none).
do $$
declare
  v_me text := current_user;
  r record;
  e record;
  v_col text;
  v_obj text;
  v_current aclitem[];
  v_target aclitem[];
  v_owner oid;
begin
  if to_regclass('chat_legacy_acl.saved_acls') is null then
    raise exception 'chat_legacy_acl.saved_acls is missing: the ACLs from before 20250810000000 are unknown'
      using errcode = '55000',
            hint = 'Nothing was restored. Grant the privileges back by hand (anon and authenticated on public.agents, '
                   'chat_messages, chat_states and chat_messages_id_seq), then delete the version row.';
  end if;
  for r in
    execute 'select s.relid, s.attnum, s.object_name, s.object_kind, s.acl from chat_legacy_acl.saved_acls s
              order by s.relid, s.attnum'
  loop
    select c.relowner into v_owner from pg_catalog.pg_class c where c.oid = r.relid;
    if v_owner is null then
      raise notice 'skipping %: it no longer exists', r.object_name;
      continue;
    end if;
    v_obj := format('%s %s', case r.object_kind when 'sequence' then 'sequence' else 'table' end, r.relid::regclass);
    if r.attnum = 0 then
      select c.relacl into v_current from pg_catalog.pg_class c where c.oid = r.relid;
      v_col := '';
      v_target := coalesce(r.acl, acldefault(case r.object_kind when 'sequence' then 's' else 'r' end::"char", v_owner));
    else
      select a.attacl, format(' (%I)', a.attname) into v_current, v_col
        from pg_catalog.pg_attribute a where a.attrelid = r.relid and a.attnum = r.attnum and not a.attisdropped;
      if v_col is null then
        raise notice 'skipping %: the column no longer exists', r.object_name;
        continue;
      end if;
      v_target := coalesce(r.acl, '{}');
    end if;
    if v_current is not distinct from v_target then
      continue;
    end if;

    -- 1. empty it: every current entry revoked by its grantor (privileges, grant options and what depends on them)
    for e in
      select distinct x.grantor = v_owner as by_owner, x.grantor,
             case x.grantee when 0 then 'public' else quote_ident(g.rolname) end as grantee, gr.rolname as grantor_name
        from unnest(coalesce(v_current, '{}')) as i (item)
        cross join lateral aclexplode(array[i.item]) as x
        left join pg_catalog.pg_roles g on g.oid = x.grantee
        left join pg_catalog.pg_roles gr on gr.oid = x.grantor
       -- other grantors first, while they still hold the grant option the owner's entries give them
       order by 1, 2
    loop
      if e.grantor <> v_owner then
        execute format('set local role %I', e.grantor_name);
      end if;
      execute format('revoke all%s on %s from %s cascade', v_col, v_obj, e.grantee);
      execute format('set local role %I', v_me);
    end loop;

    -- 2. the saved entries again, in their order, each by its grantor
    for e in
      select i.ord, x.grantor, gr.rolname as grantor_name,
             case x.grantee when 0 then 'public' else quote_ident(g.rolname) end as grantee,
             -- a column privilege names its column after each privilege: "select (c), update (c)"
             string_agg(x.privilege_type || v_col, ', ') filter (where not x.is_grantable) as plain,
             string_agg(x.privilege_type || v_col, ', ') filter (where x.is_grantable) as grantable
        from unnest(v_target) with ordinality as i (item, ord)
        cross join lateral aclexplode(array[i.item]) as x
        left join pg_catalog.pg_roles g on g.oid = x.grantee
        left join pg_catalog.pg_roles gr on gr.oid = x.grantor
       group by i.ord, x.grantor, gr.rolname, x.grantee, g.rolname
       order by i.ord
    loop
      if e.grantor <> v_owner then
        execute format('set local role %I', e.grantor_name);
      end if;
      if e.plain is not null then
        execute format('grant %s on %s to %s', e.plain, v_obj, e.grantee);
      end if;
      if e.grantable is not null then
        execute format('grant %s on %s to %s with grant option', e.grantable, v_obj, e.grantee);
      end if;
      execute format('set local role %I', v_me);
    end loop;

    -- 3. exactly as saved, or nothing at all
    if r.attnum = 0 then
      select c.relacl into v_current from pg_catalog.pg_class c where c.oid = r.relid;
    else
      select a.attacl into v_current from pg_catalog.pg_attribute a where a.attrelid = r.relid and a.attnum = r.attnum;
    end if;
    if coalesce(v_current, '{}') is distinct from v_target then
      raise exception 'could not restore the privileges of % exactly: saved %, got %', r.object_name, v_target, v_current
        using errcode = '55000',
              hint = 'Nothing was changed. An entry''s grantor could not be reproduced (the role running this rollback '
                     'cannot SET ROLE to it, or it no longer holds the grant option); run the rollback as a role that '
                     'can, or restore the saved ACL by hand.';
    end if;
  end loop;
end
$$;

drop schema chat_legacy_acl cascade;

do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    execute 'delete from supabase_migrations.schema_migrations where version = ''20250810000000''';
  end if;
end
$$;
