-- Data migration legacy (v1) → v2, part 9 of 9: schema modes and finalize.
--
-- Purpose : set_chat_schema_mode(mode) moves between legacy → dual_write → v2_only (and back), enabling exactly
--           the triggers of the mode; leaving v2_only first copies to legacy what v2 gained.
--           finalize_chat_migration() archives the legacy tables (schema chat_archive, no drop).
-- Objects : functions chat_migration.apply_mode_triggers, chat_migration.lock_chat_tables,
--           chat_migration.copy_v2_to_legacy, public.set_chat_schema_mode, public.finalize_chat_migration;
--           schema chat_archive only when finalize_chat_migration() runs.
-- Locks   : none when applied. A mode change takes SHARE ROW EXCLUSIVE on the five chat tables, all or none,
--           briefly (it retries for up to 5 s); finalize renames two tables (ACCESS EXCLUSIVE, instant).
-- Rollback: supabase/rollbacks/20250806000008_create_chat_schema_modes.down.sql — the data migration's
--           first rollback step: it refuses, with a HINT, in v2_only (legacy misses what v2 gained) and while
--           v2 holds messages legacy lacks (history imported from chat_states aside).

/** Enables exactly the triggers of a mode. Owner rights needed for ALTER TABLE, hence only called by definers. */
create function chat_migration.apply_mode_triggers(target text)
returns void
language plpgsql
set search_path = ''
as $$
declare
  dual text := case when target = 'dual_write' then 'enable' else 'disable' end;
  reject text := case when target = 'v2_only' then 'enable' else 'disable' end;
begin
  execute format('alter table public.chat_messages %s trigger chat_migration_mirror_insert', dual);
  execute format('alter table public.chat_messages %s trigger chat_migration_mirror_update', dual);
  execute format('alter table public.chat_messages %s trigger chat_migration_mirror_delete', dual);
  execute format('alter table public.chat_messages %s trigger chat_migration_reject_writes', reject);
  execute format('alter table public.chat_states %s trigger chat_migration_reject_writes', reject);
  execute format('alter table public.chat_messages_v2 %s trigger chat_migration_mirror_insert', dual);
  execute format('alter table public.chat_messages_v2 %s trigger chat_migration_mirror_update', dual);
  execute format('alter table public.chat_messages_v2 %s trigger chat_migration_mirror_delete', dual);
  execute format('alter table public.chat_message_attachments %s trigger chat_migration_mirror_children', dual);
  execute format('alter table public.chat_tool_calls %s trigger chat_migration_mirror_children', dual);
  execute format('alter table public.chat_messages_v2 %s trigger chat_migration_stamp_v2_only_edit', reject);
end
$$;

/**
 * Takes SHARE ROW EXCLUSIVE on every table whose triggers a mode change flips — all of them or none. Writers lock
 * these tables in opposite orders (a legacy write mirrors into v2, a v2 write into legacy), so a mode change that
 * waited for one table while holding another closed a deadlock cycle with a writer (found by
 * test/races/mode-switches.test.ts on PostgreSQL 15: 40P01 between set_chat_schema_mode and a v2 insert). Each
 * attempt waits at most 100 ms per table, far below deadlock_timeout, inside a subtransaction; one that times out
 * releases what it took, lets the writers through, and tries again, until `patience` has passed (55P03).
 */
create function chat_migration.lock_chat_tables(patience interval default interval '5 seconds')
returns void
language plpgsql
set search_path = ''
as $$
declare
  give_up timestamptz := clock_timestamp() + patience;
  caller_timeout text := current_setting('lock_timeout');
begin
  loop
    begin
      perform set_config('lock_timeout', '100ms', true);
      lock table public.chat_messages_v2, public.chat_message_attachments, public.chat_tool_calls,
                 public.chat_messages, public.chat_states in share row exclusive mode;
      perform set_config('lock_timeout', caller_timeout, true);
      return;
    exception when lock_not_available then
      if clock_timestamp() > give_up then
        raise exception 'could not lock the chat tables for a mode change within %: writers kept them busy', patience
          using errcode = '55P03',
                hint = 'Nothing changed. Try again at a quieter moment, or find long transactions on the chat tables '
                       'in pg_stat_activity.';
      end if;
    end;
    perform pg_sleep(0.01 + random() * 0.04);
  end loop;
end
$$;

/**
 * Copies to legacy what v2 gained while legacy was read-only (v2_only): v2 rows legacy lacks get a legacy row and
 * the legacy_id link, v2 edits overwrite their legacy row, v2 soft deletes delete it. History imported from
 * chat_states is not copied (it never had a legacy row). Returns the rows touched.
 */
create function chat_migration.copy_v2_to_legacy()
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  added bigint;
  changed bigint;
  removed bigint;
  since timestamptz := (select max(c.at) from chat_migration.mode_changes c where c.to_mode = 'v2_only');
begin
  perform set_config('chat_migration.mirroring', 'on', true);
  with pick as materialized (
    select v.*, nextval(pg_get_serial_sequence('public.chat_messages', 'id')::regclass) as new_id
      from public.chat_messages_v2 v
     where v.deleted_at is null and v.legacy_id is null
       and coalesce(v.metadata ->> 'source', '') <> 'chat_states'
  ),
  ins as (
    insert into public.chat_messages (id, conversation_id, user_id, agent_id, role, content, attachments, tool_calls,
                                      partial_tool_calls, metadata, created_at, updated_at)
    overriding system value
    select p.new_id, p.conversation_id, p.user_id, p.agent_id, p.role, chat_migration.content_text(p.content),
           a.attachments, a.tool_calls, a.partial_tool_calls, p.metadata, p.created_at, p.updated_at
      from pick p cross join lateral chat_migration.legacy_arrays(p.id) a
    returning 1
  )
  update public.chat_messages_v2 v set legacy_id = p.new_id from pick p where v.id = p.id;
  get diagnostics added = row_count;

  update public.chat_messages m
     set conversation_id = v.conversation_id, user_id = v.user_id, agent_id = v.agent_id, role = v.role,
         content = chat_migration.content_text(v.content), metadata = v.metadata,
         attachments = a.attachments, tool_calls = a.tool_calls, partial_tool_calls = a.partial_tool_calls,
         updated_at = v.updated_at
    from public.chat_messages_v2 v cross join lateral chat_migration.legacy_arrays(v.id) a
   where v.legacy_id = m.id and v.deleted_at is null
     and coalesce(v.updated_at, v.created_at) >= coalesce(since, '-infinity')
     and (m.conversation_id, m.user_id, m.agent_id, m.role, m.content, m.metadata, m.attachments, m.tool_calls,
          m.partial_tool_calls)
         is distinct from (v.conversation_id, v.user_id, v.agent_id, v.role::text, chat_migration.content_text(v.content),
                           v.metadata, a.attachments, a.tool_calls, a.partial_tool_calls);
  get diagnostics changed = row_count;

  -- a mirror retired because its legacy row is quarantined is not a v2 delete: that legacy row stays
  delete from public.chat_messages m
   using public.chat_messages_v2 v
   where v.legacy_id = m.id and v.deleted_at is not null
     and not exists (select 1 from chat_migration.quarantine q where q.source_table = 'chat_messages'
                       and q.source_id = m.id::text and q.resolved_at is null);
  get diagnostics removed = row_count;
  perform set_config('chat_migration.mirroring', '', true);
  return added + changed + removed;
end
$$;


-- ---------------------------------------------------------------------------------------------------------
-- Mode changes and finalize (definer: they ALTER tables the API roles do not own)
-- ---------------------------------------------------------------------------------------------------------

/**
 * legacy → dual_write → v2_only (and back). dual_write enables the mirror triggers both ways; v2_only makes
 * legacy read-only and refuses while verify_chat_migration() is not clean; leaving v2_only first copies to
 * legacy what v2 gained (and moves archived legacy tables back after a finalize). Logged in
 * chat_migration.mode_changes. Takes a brief lock on the chat tables (lock_timeout 5s, then retry).
 */
create function public.set_chat_schema_mode(mode text)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  cur chat_migration.mode;
  failing text;
  copied bigint := 0;
  note text := null;
begin
  if mode is null or mode not in ('legacy', 'dual_write', 'v2_only') then
    raise exception 'unknown chat schema mode: %', coalesce(mode, '(null)')
      using errcode = '22023', hint = 'Use one of: legacy, dual_write, v2_only.';
  end if;
  perform set_config('lock_timeout', '5s', true);
  select * into cur from chat_migration.mode for update;

  if cur.finalized_at is not null then
    if mode = 'v2_only' then
      return 'v2_only';
    end if;
    -- un-finalize: bring the archived legacy tables back before copying to them
    alter table chat_archive.chat_messages set schema public;
    alter table chat_archive.chat_states set schema public;
    update chat_migration.mode set finalized_at = null;
    note := 'legacy tables moved back from chat_archive';
  elsif cur.mode = mode then
    raise notice 'chat schema mode is already %', mode;
    return mode;
  end if;

  -- From legacy (no mirrors) a write between verify and the switch would be stranded in read-only legacy, so
  -- the tables are locked before verify; from dual_write every write is mirrored and writers need not wait.
  if not (mode = 'v2_only' and cur.mode = 'dual_write') then
    perform chat_migration.lock_chat_tables();
  end if;
  if mode = 'v2_only' then
    select string_agg(format('%s (%s mismatches)', c.check_name, c.mismatches), ', ') into failing
      from public.verify_chat_migration() c where not c.ok;
    if failing is not null then
      raise exception 'cannot switch to v2_only: verification is not clean: %', failing
        using errcode = '55000',
              hint = 'Finish the backfill (call run_chat_migration()) and select migrate_chat_states(); re-copy '
                     'drifted rows with select repair_chat_migration(); inspect select * from '
                     'verify_chat_migration() where not ok; then try again.';
    end if;
    if cur.mode = 'dual_write' then
      perform chat_migration.lock_chat_tables();
    end if;
  end if;

  if cur.mode = 'v2_only' and mode <> 'v2_only' then
    perform chat_migration.apply_mode_triggers('legacy');  -- legacy writable again before copying into it
    copied := chat_migration.copy_v2_to_legacy();
    note := concat_ws('; ', note, format('copied %s v2 changes to legacy', copied));
  end if;

  perform chat_migration.apply_mode_triggers(mode);
  update chat_migration.mode set mode = set_chat_schema_mode.mode, changed_at = now();
  -- at: taken under the table locks, after every write of the old mode (see stamp_v2_only_edit)
  insert into chat_migration.mode_changes (from_mode, to_mode, changed_by, note, at)
  values (cur.mode, mode, session_user, note, clock_timestamp());
  return mode;
end
$$;

/**
 * The last step: moves public.chat_messages and public.chat_states to schema chat_archive (ALTER TABLE … SET
 * SCHEMA — no copy, no drop) once mode is v2_only and verification is clean.
 */
create function public.finalize_chat_migration()
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  cur chat_migration.mode;
  failing text;
begin
  select * into cur from chat_migration.mode for update;
  if cur.finalized_at is not null then
    raise notice 'chat migration already finalized at %', cur.finalized_at;
    return 'finalized';
  end if;
  if cur.mode <> 'v2_only' then
    raise exception 'cannot finalize the chat migration while mode is %', cur.mode
      using errcode = '55000',
            hint = 'Switch reads and writes to v2 first: select set_chat_schema_mode(''v2_only''); '
                   '(it requires a clean verify_chat_migration()).';
  end if;
  select string_agg(format('%s (%s mismatches)', c.check_name, c.mismatches), ', ') into failing
    from public.verify_chat_migration() c where not c.ok;
  if failing is not null then
    raise exception 'cannot finalize the chat migration: verification is not clean: %', failing
      using errcode = '55000',
            hint = 'Inspect select * from verify_chat_migration() where not ok; fix the rows, then finalize again.';
  end if;
  perform set_config('lock_timeout', '5s', true);
  create schema if not exists chat_archive;
  revoke all on schema chat_archive from public;
  alter table public.chat_messages set schema chat_archive;
  alter table public.chat_states set schema chat_archive;
  update chat_migration.mode set finalized_at = now();
  insert into chat_migration.mode_changes (from_mode, to_mode, changed_by, note)
  values ('v2_only', 'v2_only', session_user, 'finalized: legacy tables moved to chat_archive');
  return 'finalized';
end
$$;


-- Not for the API roles: the functions of this file are postgres' and service_role's only.
revoke execute on function chat_migration.apply_mode_triggers(text) from public, anon, authenticated;
revoke execute on function chat_migration.lock_chat_tables(interval) from public, anon, authenticated;
revoke execute on function chat_migration.copy_v2_to_legacy() from public, anon, authenticated;
grant execute on function chat_migration.apply_mode_triggers(text) to service_role;
grant execute on function chat_migration.lock_chat_tables(interval) to service_role;
grant execute on function chat_migration.copy_v2_to_legacy() to service_role;
revoke execute on function public.set_chat_schema_mode(text) from public, anon, authenticated;
revoke execute on function public.finalize_chat_migration() from public, anon, authenticated;
grant execute on function public.set_chat_schema_mode(text) to service_role;
grant execute on function public.finalize_chat_migration() to service_role;
