-- Data migration legacy (v1) → v2, part 3 of 9: the set-based copy.
--
-- Purpose : the one implementation of "copy these legacy ids to v2" — tenancy and validation first, bad rows to
--           quarantine, the rest upserted by legacy_id with their session, attachments and tool calls, in ONE
--           statement; and its fallback that isolates a row the statement could not convert. The backfill, the
--           sweep, the legacy → v2 dual-write mirror, repair and quarantine retry all call it.
-- Objects : functions chat_migration.copy_messages, chat_migration.copy_messages_safely.
-- Locks   : none when applied (functions only). When called: row locks on the v2 rows and sessions it writes.
-- Rollback: supabase/rollbacks/20250806000002_create_chat_migration_copy.down.sql


/**
 * Copies the given legacy ids to v2 in ONE statement (data-modifying CTEs, one INSERT … SELECT per target
 * table): tenancy and validation first, bad rows to quarantine (and their earlier v2 mirror, if any,
 * soft-deleted), the rest upserted by legacy_id. Rows already equal in v2 are left untouched (no version
 * bump), so a re-run is harmless. Raises on anything validation did not foresee; copy_messages_safely() then
 * isolates the culprit row by row.
 */
create function chat_migration.copy_messages(ids bigint[], out migrated integer, out quarantined integer)
language plpgsql
set search_path = ''
-- Planning this statement costs more than running it for one row (the dual-write trigger's case); its plan does
-- not depend on the ids (index probes per row, no joins between CTEs), so plan it once per session.
set plan_cache_mode = force_generic_plan
-- ... and that one generic plan is made when the session first calls it: on a backfill's first batch, with
-- chat_messages_v2 and its child tables still empty. The planner then picks sequential scans for the per-row
-- legacy_id probe and the stale-children / retire / heal lookups, and keeps them for the whole run (analyze
-- comes too late or not at all): each batch got slower as v2 grew (55 → 200 µs a row over 200k rows on
-- PostgreSQL 15, docs/benchmarks.md). Every access here is keyed by the batch's ids, so an index is always the
-- right path; without sequential scans the plan does not depend on when it was made.
set enable_seqscan = off
as $$
declare
  prev_guard text := coalesce(current_setting('chat_migration.mirroring', true), '');
begin
  -- v2→legacy mirror triggers must not echo what we write (see dual-write section).
  perform set_config('chat_migration.mirroring', 'on', true);

  -- tenancy first: the owner of each distinct conversation of the batch (one lookup per conversation)
  with owners as materialized (
    select c.conversation_id, chat_migration.conversation_owner(c.conversation_id) as owner_id
      from (select distinct m.conversation_id from public.chat_messages m where m.id = any (ids)) as c
  ),
  src as materialized (
    select m.*,
           coalesce(
             case when m.user_id is distinct from o.owner_id then 'conversation_owned_by_other_user'
                  when m.agent_id is not null and a.owner_id is distinct from m.user_id then 'agent_owned_by_other_user'
             end,
             chat_migration.message_problem(m.role, m.metadata, m.attachments, m.tool_calls, m.partial_tool_calls))
             as problem
      from public.chat_messages m
      join owners o on o.conversation_id = m.conversation_id
      left join public.agents a on a.id = m.agent_id
     where m.id = any (ids)
  ),
  bad as (
    insert into chat_migration.quarantine as q (source_table, source_id, original_row, reason, sqlstate)
    select 'chat_messages', s.id::text,
           to_jsonb(s) - 'problem', s.problem, null
      from src s
     where s.problem is not null
    on conflict (source_table, source_id) where resolved_at is null
    do update set original_row = excluded.original_row, reason = excluded.reason, sqlstate = null,
                  last_seen = now(), attempts = q.attempts + 1
    returning 1
  ),
  -- A row migrated earlier and quarantined now (an edit made it invalid, or point at another user's
  -- conversation or agent): its v2 mirror still shows the last version that passed. It is soft-deleted, so
  -- v2 never keeps a live copy its legacy row contradicts; fixing the row brings it back (msgs below).
  retired as (
    -- "= any (array(…))", not a join with src: always a probe of the legacy_id index, usually of nothing
    update public.chat_messages_v2 v set deleted_at = now()
     where v.legacy_id = any (array(select s.id from src s where s.problem is not null)) and v.deleted_at is null
    returning 1
  ),
  -- message_id is decided here, before any insert: the existing v2 row's id (one index probe on legacy_id)
  -- or a fresh one. Joining the RETURNING of the insert back to the batch instead would be a CTE-to-CTE join
  -- the planner cannot estimate (it picked a 5,000 × 5,000 nested loop).
  ok as materialized (
    select s.id, s.conversation_id, s.user_id, s.agent_id, s.created_at, s.updated_at,
           chat_migration.map_role(s.role)::public.message_role as role,
           coalesce(s.content, '') as body,
           s.attachments, s.tool_calls, s.partial_tool_calls, s.metadata,
           coalesce(ex.id, gen_random_uuid()) as message_id,
           ex.id is not null as existed
      from src s
      left join lateral (select v.id from public.chat_messages_v2 v where v.legacy_id = s.id) as ex on true
     where s.problem is null
  ),
  healed as (
    update chat_migration.quarantine q
       set resolved_at = now(), retried_at = coalesce(q.retried_at, now())
      from ok
     where q.source_table = 'chat_messages' and q.source_id = ok.id::text and q.resolved_at is null
    returning 1
  ),
  sessions as (
    insert into public.conversation_sessions (id, user_id, agent_id, created_at, updated_at)
    select c.conversation_id, c.user_id, c.agent_id, c.created_at, c.created_at
      from (
        select distinct on (ok.conversation_id) ok.conversation_id, ok.user_id,
               first_value(ok.agent_id) over (partition by ok.conversation_id
                                              order by (ok.agent_id is null), ok.id) as agent_id,
               min(ok.created_at) over (partition by ok.conversation_id) as created_at
          from ok
         order by ok.conversation_id, ok.id
      ) as c
    on conflict (id) do nothing
    returning 1
  ),
  msgs as (
    insert into public.chat_messages_v2 as v
      (id, conversation_id, user_id, agent_id, role, content, metadata, legacy_id, created_at, updated_at)
    select ok.message_id, ok.conversation_id, ok.user_id, ok.agent_id, ok.role,
           jsonb_build_object('type', 'text', 'text', ok.body),
           chat_migration.v2_metadata(ok.metadata, ok.body),
           ok.id, ok.created_at, coalesce(ok.updated_at, ok.created_at)
      from ok
    on conflict (legacy_id) do update
      set conversation_id = excluded.conversation_id, user_id = excluded.user_id, agent_id = excluded.agent_id,
          role = excluded.role, content = excluded.content, metadata = excluded.metadata,
          created_at = excluded.created_at, updated_at = excluded.updated_at,
          deleted_at = null  -- a mirror retired while its row was quarantined comes back with the fix
      where (v.conversation_id, v.user_id, v.agent_id, v.role, v.content, v.metadata, v.created_at, v.deleted_at)
            is distinct from
            (excluded.conversation_id, excluded.user_id, excluded.agent_id, excluded.role, excluded.content,
             excluded.metadata, excluded.created_at, null::timestamptz)
    returning 1
  ),
  att_rows as (
    select t.message_id, (e.ord - 1)::integer as position, e.v
      from ok t
     cross join lateral jsonb_array_elements(case jsonb_typeof(t.attachments) when 'array' then t.attachments end)
           with ordinality as e (v, ord)
  ),
  atts as (
    insert into public.chat_message_attachments as a
      (message_id, position, type, name, storage_path, mime_type, size_bytes, metadata)
    select r.message_id, r.position, r.v ->> 'type', r.v ->> 'name', r.v ->> 'storageId', r.v ->> 'mimeType',
           chat_migration.json_int(r.v -> 'size'), coalesce(r.v -> 'metadata', '{}'::jsonb)
      from att_rows r
    on conflict (message_id, position) do update
      set type = excluded.type, name = excluded.name, storage_path = excluded.storage_path,
          mime_type = excluded.mime_type, size_bytes = excluded.size_bytes, metadata = excluded.metadata
      where (a.type, a.name, a.storage_path, a.mime_type, a.size_bytes, a.metadata)
            is distinct from (excluded.type, excluded.name, excluded.storage_path, excluded.mime_type,
                              excluded.size_bytes, excluded.metadata)
    returning 1
  ),
  stale_atts as (
    delete from public.chat_message_attachments a
     using ok t
     where t.existed and a.message_id = t.message_id
       and a.position >= coalesce(jsonb_array_length(case jsonb_typeof(t.attachments) when 'array' then t.attachments end), 0)
    returning 1
  ),
  tc_rows as (
    select t.message_id, (e.ord - 1)::integer as position, e.v, false as is_partial
      from ok t
     cross join lateral jsonb_array_elements(case jsonb_typeof(t.tool_calls) when 'array' then t.tool_calls end)
           with ordinality as e (v, ord)
    union all
    select t.message_id,
           (coalesce(jsonb_array_length(case jsonb_typeof(t.tool_calls) when 'array' then t.tool_calls end), 0)
            + e.ord - 1)::integer,
           e.v, true
      from ok t
     cross join lateral jsonb_array_elements(
             case jsonb_typeof(t.partial_tool_calls) when 'array' then t.partial_tool_calls end)
           with ordinality as e (v, ord)
  ),
  tcs as (
    insert into public.chat_tool_calls as c
      (message_id, position, tool_call_id, tool_name, args, result, text_position, is_partial)
    select r.message_id, r.position, r.v ->> 'toolCallId', r.v ->> 'toolName',
           chat_migration.parse_args(r.v -> 'args'), r.v -> 'result',
           chat_migration.json_int(r.v -> 'textPosition'), r.is_partial
      from tc_rows r
    on conflict (message_id, position) do update
      set tool_call_id = excluded.tool_call_id, tool_name = excluded.tool_name, args = excluded.args,
          result = excluded.result, text_position = excluded.text_position, is_partial = excluded.is_partial
      where (c.tool_call_id, c.tool_name, c.args, c.result, c.text_position, c.is_partial)
            is distinct from (excluded.tool_call_id, excluded.tool_name, excluded.args, excluded.result,
                              excluded.text_position, excluded.is_partial)
    returning 1
  ),
  stale_tcs as (
    delete from public.chat_tool_calls c
     using ok t
     where t.existed and c.message_id = t.message_id
       and c.position >= coalesce(jsonb_array_length(case jsonb_typeof(t.tool_calls) when 'array' then t.tool_calls end), 0)
                        + coalesce(jsonb_array_length(case jsonb_typeof(t.partial_tool_calls) when 'array' then t.partial_tool_calls end), 0)
    returning 1
  )
  select (select count(*) from ok)::integer,
         (select count(*) from bad)::integer
    into migrated, quarantined;

  perform set_config('chat_migration.mirroring', prev_guard, true);
end
$$;

/**
 * copy_messages() with the fallback: when the set-based statement raises, each row is retried alone inside
 * its own subtransaction and the rows that still fail go to quarantine with the error and its SQLSTATE.
 */
create function chat_migration.copy_messages_safely(ids bigint[], out migrated integer, out quarantined integer,
                                                    out row_by_row boolean)
language plpgsql
set search_path = ''
as $$
declare
  one bigint;
  r record;
  err text;
  state text;
  prev_guard text := coalesce(current_setting('chat_migration.mirroring', true), '');
begin
  migrated := 0; quarantined := 0; row_by_row := false;
  if coalesce(cardinality(ids), 0) = 0 then
    return;
  end if;
  begin
    select c.migrated, c.quarantined into migrated, quarantined from chat_migration.copy_messages(ids) c;
    return;
  exception when others then
    row_by_row := true;
  end;
  foreach one in array ids loop
    begin
      select c.migrated, c.quarantined into r from chat_migration.copy_messages(array[one]) c;
      migrated := migrated + r.migrated;
      quarantined := quarantined + r.quarantined;
    exception when others then
      get stacked diagnostics err = message_text, state = returned_sqlstate;
      insert into chat_migration.quarantine as q (source_table, source_id, original_row, reason, sqlstate)
      select 'chat_messages', m.id::text, to_jsonb(m), err, state
        from public.chat_messages m where m.id = one
      on conflict (source_table, source_id) where resolved_at is null
      do update set original_row = excluded.original_row, reason = excluded.reason, sqlstate = excluded.sqlstate,
                    last_seen = now(), attempts = q.attempts + 1;
      if found then
        quarantined := quarantined + 1;
        -- as in copy_messages: no live v2 mirror of a quarantined row (the guard keeps the v2→legacy
        -- mirror from deleting the legacy row in turn)
        perform set_config('chat_migration.mirroring', 'on', true);
        update public.chat_messages_v2 v set deleted_at = now() where v.legacy_id = one and v.deleted_at is null;
        perform set_config('chat_migration.mirroring', prev_guard, true);
      end if;
    end;
  end loop;
end
$$;

-- Not for the API roles: the functions of this file are postgres' and service_role's only.
revoke execute on function chat_migration.copy_messages(bigint[]) from public, anon, authenticated;
revoke execute on function chat_migration.copy_messages_safely(bigint[]) from public, anon, authenticated;
grant execute on function chat_migration.copy_messages(bigint[]) to service_role;
grant execute on function chat_migration.copy_messages_safely(bigint[]) to service_role;
