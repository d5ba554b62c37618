-- Data migration legacy (v1) → v2, part 7 of 9: the dual-write mirror and the legacy write fence.
--
-- Purpose : in mode dual_write, triggers mirror inserts, updates and deletes legacy → v2 (through the same
--           set-based copy as the backfill) and v2 → legacy (parts content as its text parts joined by a
--           newline; a delete on either side removes or soft-deletes its mirror), guarded against recursion; in
--           v2_only a trigger rejects every legacy write, for every role; a session may never take the id of
--           another user's legacy conversation.
-- Objects : functions chat_migration.mirroring, mirror_legacy_upsert, mirror_legacy_delete, legacy_arrays,
--           mirror_v2_insert, mirror_v2_update, mirror_v2_delete, mirror_v2_children, reject_legacy_write,
--           guard_session_claim, stamp_v2_only_edit; triggers chat_migration_* on public.chat_messages,
--           chat_states, chat_messages_v2, chat_message_attachments, chat_tool_calls — all created DISABLED
--           (mode 'legacy' writes nothing extra until set_chat_schema_mode enables them) — and one ENABLED
--           trigger on public.conversation_sessions (chat_migration_guard_session_claim).
-- Locks   : creating the triggers takes a brief SHARE ROW EXCLUSIVE lock on those six tables; no rewrite.
-- Rollback: supabase/rollbacks/20250806000006_create_chat_dual_write.down.sql

-- ---------------------------------------------------------------------------------------------------------
-- Dual-write. Every trigger below is created DISABLED; set_chat_schema_mode() enables the set that belongs to
-- the mode, so 'legacy' mode costs nothing. Recursion guard: the transaction-local setting
-- chat_migration.mirroring = 'on' while we write the other side; every mirror trigger's WHEN clause checks it,
-- so an echo does not even call a function. Definer rights because the app's roles (authenticated) write
-- through RLS, and the mirror must reach rows and the ledger they cannot see.
-- ---------------------------------------------------------------------------------------------------------

/** True while this transaction is writing a mirror (the WHEN clause of every mirror trigger). */
create function chat_migration.mirroring()
returns boolean
language sql
stable
as $$ select coalesce(current_setting('chat_migration.mirroring', true), '') = 'on' $$;

/** legacy INSERT/UPDATE (statement level, transition table) → the same set-based copy the backfill uses. */
create function chat_migration.mirror_legacy_upsert()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform chat_migration.copy_messages_safely(array(select n.id from new_rows n order by n.id));
  return null;
end
$$;

/** legacy DELETE → soft-delete the v2 mirror (its history stays; legacy_id keeps the link). */
create function chat_migration.mirror_legacy_delete()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform set_config('chat_migration.mirroring', 'on', true);
  update public.chat_messages_v2 v set deleted_at = now()
   where v.legacy_id in (select o.id from old_rows o) and v.deleted_at is null;
  update chat_migration.quarantine q set resolved_at = now(), reason = q.reason || ' (source row deleted)'
   where q.source_table = 'chat_messages' and q.resolved_at is null
     and q.source_id in (select o.id::text from old_rows o);
  perform set_config('chat_migration.mirroring', '', true);
  return null;
end
$$;

/** Legacy arrays rebuilt from a v2 message's attachment and tool-call rows (legacy key names, order kept). */
create function chat_migration.legacy_arrays(message_id uuid, out attachments jsonb, out tool_calls jsonb,
                                             out partial_tool_calls jsonb)
language sql
stable
set search_path = ''
as $$
  select (select jsonb_agg(jsonb_build_object('name', a.name, 'type', a.type, 'storageId', a.storage_path,
                                              'mimeType', a.mime_type, 'size', a.size_bytes, 'metadata', a.metadata)
                           order by a.position)
            from public.chat_message_attachments a where a.message_id = legacy_arrays.message_id),
         (select jsonb_agg(jsonb_strip_nulls(jsonb_build_object('toolCallId', c.tool_call_id, 'toolName', c.tool_name,
                                              'args', c.args, 'result', c.result, 'textPosition', c.text_position))
                           order by c.position)
            from public.chat_tool_calls c where c.message_id = legacy_arrays.message_id and not c.is_partial),
         (select jsonb_agg(jsonb_strip_nulls(jsonb_build_object('toolCallId', c.tool_call_id, 'toolName', c.tool_name,
                                              'args', c.args, 'result', c.result, 'textPosition', c.text_position))
                           order by c.position)
            from public.chat_tool_calls c where c.message_id = legacy_arrays.message_id and c.is_partial)
$$;

/** v2 INSERT by the app (no legacy_id) → a legacy row first, and the link in NEW.legacy_id. */
create function chat_migration.mirror_v2_insert()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform set_config('chat_migration.mirroring', 'on', true);
  insert into public.chat_messages (conversation_id, user_id, agent_id, role, content, metadata, created_at)
  values (new.conversation_id, new.user_id, new.agent_id, new.role, chat_migration.content_text(new.content),
          new.metadata, new.created_at)
  returning id into new.legacy_id;
  perform set_config('chat_migration.mirroring', '', true);
  return new;
end
$$;

/** v2 UPDATE → legacy UPDATE; a v2 soft delete deletes the legacy row. */
create function chat_migration.mirror_v2_update()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform set_config('chat_migration.mirroring', 'on', true);
  if new.deleted_at is not null then
    delete from public.chat_messages m where m.id = new.legacy_id;
  else
    update public.chat_messages m
       set conversation_id = new.conversation_id, user_id = new.user_id, agent_id = new.agent_id, role = new.role,
           content = chat_migration.content_text(new.content), metadata = new.metadata, updated_at = now()
     where m.id = new.legacy_id
       and (m.conversation_id, m.user_id, m.agent_id, m.role, m.content, m.metadata)
           is distinct from (new.conversation_id, new.user_id, new.agent_id, new.role::text,
                             chat_migration.content_text(new.content), new.metadata);
  end if;
  perform set_config('chat_migration.mirroring', '', true);
  return null;
end
$$;

/** v2 hard DELETE → legacy DELETE. */
create function chat_migration.mirror_v2_delete()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform set_config('chat_migration.mirroring', 'on', true);
  delete from public.chat_messages m where m.id = old.legacy_id;
  perform set_config('chat_migration.mirroring', '', true);
  return null;
end
$$;

/** v2 attachment / tool-call change → rebuild the legacy row's arrays from v2. */
create function chat_migration.mirror_v2_children()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  mid uuid := case when tg_op = 'DELETE' then old.message_id else new.message_id end;
begin
  perform set_config('chat_migration.mirroring', 'on', true);
  update public.chat_messages m
     set attachments = a.attachments, tool_calls = a.tool_calls, partial_tool_calls = a.partial_tool_calls,
         updated_at = now()
    from public.chat_messages_v2 v, chat_migration.legacy_arrays(mid) a
   where v.id = mid and m.id = v.legacy_id
     and (m.attachments, m.tool_calls, m.partial_tool_calls)
         is distinct from (a.attachments, a.tool_calls, a.partial_tool_calls);
  perform set_config('chat_migration.mirroring', '', true);
  return null;
end
$$;

/** v2_only: every write to a legacy table fails, for every role (a trigger, not a privilege). */
create function chat_migration.reject_legacy_write()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'public.% is read-only: the chat schema mode is v2_only', tg_table_name
    using errcode = '55000',
          hint = 'Write to public.chat_messages_v2 (the v2 API) instead. To make legacy writable again run '
                 'select set_chat_schema_mode(''dual_write'') as postgres or service_role.';
end
$$;

/**
 * BEFORE INSERT on conversation_sessions, in every mode until finalize: a v2 session may not take the id of a
 * legacy conversation that another user owns (conversation_owner's rule, legacy half). Without it any user
 * could start a v2 conversation under the id of someone else's not yet migrated conversation (POST /messages
 * accepts a conversation_id), become its owner by the rule, and have every legacy row of the real owner
 * quarantined. An id that already has a session is left to the insert (ON CONFLICT / the primary key); the
 * migration's own session inserts run with chat_migration.mirroring = 'on' and skip this (they follow the rule).
 * Raises 42501 like an RLS refusal. Definer rights: the writer cannot read other users' legacy rows.
 */
create function chat_migration.guard_session_claim()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  legacy_owner uuid;
begin
  if exists (select 1 from chat_migration.mode x where x.finalized_at is not null)
     or exists (select 1 from public.conversation_sessions s where s.id = new.id) then
    return new;
  end if;
  legacy_owner := chat_migration.legacy_conversation_owner(new.id);
  if legacy_owner is not null and legacy_owner is distinct from new.user_id then
    raise exception 'conversation % belongs to another user', new.id
      using errcode = '42501',
            hint = 'Start a new conversation without choosing its id (the server picks one), or use one of your own.';
  end if;
  return new;
end
$$;

create trigger chat_migration_guard_session_claim before insert on public.conversation_sessions
  for each row when (not chat_migration.mirroring()) execute function chat_migration.guard_session_claim();

create trigger chat_migration_mirror_insert after insert on public.chat_messages
  referencing new table as new_rows for each statement
  when (not chat_migration.mirroring()) execute function chat_migration.mirror_legacy_upsert();
create trigger chat_migration_mirror_update after update on public.chat_messages
  referencing new table as new_rows for each statement
  when (not chat_migration.mirroring()) execute function chat_migration.mirror_legacy_upsert();
create trigger chat_migration_mirror_delete after delete on public.chat_messages
  referencing old table as old_rows for each statement
  when (not chat_migration.mirroring()) execute function chat_migration.mirror_legacy_delete();
create trigger chat_migration_reject_writes before insert or update or delete or truncate on public.chat_messages
  for each statement execute function chat_migration.reject_legacy_write();
create trigger chat_migration_reject_writes before insert or update or delete or truncate on public.chat_states
  for each statement execute function chat_migration.reject_legacy_write();

create trigger chat_migration_mirror_insert before insert on public.chat_messages_v2
  for each row when (new.legacy_id is null and not chat_migration.mirroring())
  execute function chat_migration.mirror_v2_insert();
create trigger chat_migration_mirror_update after update on public.chat_messages_v2
  for each row when (new.legacy_id is not null and not chat_migration.mirroring())
  execute function chat_migration.mirror_v2_update();
create trigger chat_migration_mirror_delete after delete on public.chat_messages_v2
  for each row when (old.legacy_id is not null and not chat_migration.mirroring())
  execute function chat_migration.mirror_v2_delete();
create trigger chat_migration_mirror_children after insert or update or delete on public.chat_message_attachments
  for each row when (not chat_migration.mirroring()) execute function chat_migration.mirror_v2_children();
create trigger chat_migration_mirror_children after insert or update or delete on public.chat_tool_calls
  for each row when (not chat_migration.mirroring()) execute function chat_migration.mirror_v2_children();

alter table public.chat_messages disable trigger chat_migration_mirror_insert;
alter table public.chat_messages disable trigger chat_migration_mirror_update;
alter table public.chat_messages disable trigger chat_migration_mirror_delete;
alter table public.chat_messages disable trigger chat_migration_reject_writes;
alter table public.chat_states disable trigger chat_migration_reject_writes;
alter table public.chat_messages_v2 disable trigger chat_migration_mirror_insert;
alter table public.chat_messages_v2 disable trigger chat_migration_mirror_update;
alter table public.chat_messages_v2 disable trigger chat_migration_mirror_delete;
alter table public.chat_message_attachments disable trigger chat_migration_mirror_children;
alter table public.chat_tool_calls disable trigger chat_migration_mirror_children;

/**
 * v2_only: a v2 edit is stamped with the moment it is written (clock_timestamp()), not with its transaction's
 * start (now(), what set_updated_at uses). Verify (skipping v2 rows changed after the switch) and the copy back
 * to legacy when leaving v2_only (copying them) tell such edits by updated_at > the switch's time. A
 * transaction that began before the switch and wrote after it would otherwise look older than the switch, and
 * its edit would never reach legacy (found by test/races/mode-switches.test.ts on PostgreSQL 15). Enabled in
 * v2_only only; BEFORE triggers fire in name order, so this one runs after chat_messages_v2_set_updated_at.
 */
create function chat_migration.stamp_v2_only_edit()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := clock_timestamp();
  return new;
end
$$;

create trigger chat_migration_stamp_v2_only_edit before update on public.chat_messages_v2
  for each row execute function chat_migration.stamp_v2_only_edit();
alter table public.chat_messages_v2 disable trigger chat_migration_stamp_v2_only_edit;


-- Not for the API roles: the functions of this file are postgres' and service_role's only.
revoke execute on function chat_migration.mirroring() from public, anon, authenticated;
revoke execute on function chat_migration.mirror_legacy_upsert() from public, anon, authenticated;
revoke execute on function chat_migration.mirror_legacy_delete() from public, anon, authenticated;
revoke execute on function chat_migration.legacy_arrays(uuid) from public, anon, authenticated;
revoke execute on function chat_migration.mirror_v2_insert() from public, anon, authenticated;
revoke execute on function chat_migration.mirror_v2_update() from public, anon, authenticated;
revoke execute on function chat_migration.mirror_v2_delete() from public, anon, authenticated;
revoke execute on function chat_migration.mirror_v2_children() from public, anon, authenticated;
revoke execute on function chat_migration.reject_legacy_write() from public, anon, authenticated;
revoke execute on function chat_migration.guard_session_claim() from public, anon, authenticated;
revoke execute on function chat_migration.stamp_v2_only_edit() from public, anon, authenticated;
grant execute on function chat_migration.mirroring() to service_role;
grant execute on function chat_migration.mirror_legacy_upsert() to service_role;
grant execute on function chat_migration.mirror_legacy_delete() to service_role;
grant execute on function chat_migration.legacy_arrays(uuid) to service_role;
grant execute on function chat_migration.mirror_v2_insert() to service_role;
grant execute on function chat_migration.mirror_v2_update() to service_role;
grant execute on function chat_migration.mirror_v2_delete() to service_role;
grant execute on function chat_migration.mirror_v2_children() to service_role;
grant execute on function chat_migration.reject_legacy_write() to service_role;
grant execute on function chat_migration.guard_session_claim() to service_role;
grant execute on function chat_migration.stamp_v2_only_edit() to service_role;
-- The mirror triggers' WHEN clause runs with the writer's rights, and the app writes as authenticated.
grant execute on function chat_migration.mirroring() to authenticated;
