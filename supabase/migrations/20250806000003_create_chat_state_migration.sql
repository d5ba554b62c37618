-- Data migration legacy (v1) → v2, part 4 of 9: chat_states → agent state, memories and history.
--
-- Purpose : migrate_chat_states() turns each legacy AgentState blob into one agent_states version (state_type
--           'session'), one 'working' memory per memory_context item, and — for conversations without legacy
--           chat_messages rows of the state's user — the conversation_history as v2 messages tagged
--           metadata.source = 'chat_states'. Exactly once per conversation; invalid blobs and cross-tenant
--           states go to quarantine.
-- Objects : table chat_migration.migrated_states; functions chat_migration.try_timestamptz,
--           chat_migration.state_problem, public.migrate_chat_states.
-- Locks   : creates new objects only.
-- Rollback: supabase/rollbacks/20250806000003_create_chat_state_migration.down.sql


/** Which chat_states rows have been migrated (makes migrate_chat_states() exactly-once per conversation). */
create table chat_migration.migrated_states (
  conversation_id uuid primary key,
  migrated_at timestamptz not null default now(),
  memories integer not null,
  history_messages integer not null
);
comment on table chat_migration.migrated_states is 'chat_states rows already migrated (exactly-once per conversation).';
revoke all on chat_migration.migrated_states from public, anon, authenticated;
grant select, insert, update, delete on chat_migration.migrated_states to service_role;

/** timestamptz out of an ISO string or epoch number (seconds or milliseconds), else null — never raises. */
create function chat_migration.try_timestamptz(v jsonb)
returns timestamptz
language plpgsql
immutable
set search_path = ''
as $$
begin
  if jsonb_typeof(v) = 'number' then
    return to_timestamp(case when (v #>> '{}')::numeric > 1e11 then (v #>> '{}')::numeric / 1000
                             else (v #>> '{}')::numeric end);
  elsif jsonb_typeof(v) = 'string' then
    return (v #>> '{}')::timestamptz;
  end if;
  return null;
exception when others then
  return null;
end
$$;

/** Why a parsed AgentState blob cannot be migrated, or null. */
create function chat_migration.state_problem(blob jsonb)
returns text
language sql
immutable
as $$
  select case
    when blob is null then 'content is not valid JSON'
    when jsonb_typeof(blob) <> 'object' then 'content is not a JSON object'
    when jsonb_typeof(blob -> 'memory_context') not in ('array', 'null') then 'memory_context is not an array'
    when jsonb_typeof(blob -> 'conversation_history') not in ('array', 'null') then 'conversation_history is not an array'
    else coalesce(
      (select 'memory_context[' || (e.ord - 1) || '] is not an object'
         from jsonb_array_elements(case jsonb_typeof(blob -> 'memory_context') when 'array' then blob -> 'memory_context' end)
              with ordinality as e (v, ord)
        where jsonb_typeof(e.v) <> 'object' order by e.ord limit 1),
      (select 'conversation_history[' || (e.ord - 1) || '] ' ||
              case when jsonb_typeof(e.v) <> 'object' then 'is not an object'
                   else 'has unknown role: ' || coalesce(e.v ->> 'role', '(null)') end
         from jsonb_array_elements(case jsonb_typeof(blob -> 'conversation_history') when 'array' then blob -> 'conversation_history' end)
              with ordinality as e (v, ord)
        where jsonb_typeof(e.v) <> 'object' or chat_migration.map_role(e.v ->> 'role') is null
        order by e.ord limit 1))
  end
$$;

/**
 * Migrates every chat_states row not migrated yet: one agent_states version (state_type 'session',
 * session_id = conversation id), one 'working' memory per memory_context item, and — only for conversations
 * with no chat_messages rows of the state's user — the conversation_history as v2 messages tagged
 * metadata.source = 'chat_states'. Invalid blobs, and states whose user does not own the agent or the
 * conversation (the tenancy rule), go to quarantine. Re-running does nothing for rows already migrated.
 */
create function public.migrate_chat_states()
returns table (states integer, memories integer, history_messages integer, quarantined integer)
language plpgsql
set search_path = ''
as $$
declare
  prev_guard text := coalesce(current_setting('chat_migration.mirroring', true), '');
begin
  perform chat_migration.assert_not_finalized();
  -- history rows have no legacy twin on purpose; dual-write must not create one
  perform set_config('chat_migration.mirroring', 'on', true);

  create temporary table if not exists pg_temp.chat_migration_states_batch (
    conversation_id uuid primary key, user_id uuid, agent_id uuid, updated_at timestamptz, blob jsonb,
    problem text, original_row jsonb, has_messages boolean
  ) on commit drop;
  truncate pg_temp.chat_migration_states_batch;

  -- Tenancy first (see chat_migration.conversation_owner): a state migrates only when its user owns the agent
  -- and the conversation. "Has messages" counts the owner's rows only: another user's row injected into the
  -- conversation is quarantined by the message backfill and must not hold back the owner's history.
  insert into pg_temp.chat_migration_states_batch
  select s.conversation_id, s.user_id, s.agent_id, s.updated_at, p.blob,
         case when chat_migration.conversation_owner(s.conversation_id) is distinct from s.user_id
                then 'conversation_owned_by_other_user'
              when a.owner_id is distinct from s.user_id then 'agent_owned_by_other_user'
              else chat_migration.state_problem(p.blob) end,
         to_jsonb(s),
         exists (select 1 from public.chat_messages m
                  where m.conversation_id = s.conversation_id and m.user_id = s.user_id)
    from public.chat_states s
    left join public.agents a on a.id = s.agent_id
   cross join lateral (select chat_migration.try_jsonb(s.content) as blob) as p
   where not exists (select 1 from chat_migration.migrated_states x where x.conversation_id = s.conversation_id);

  insert into chat_migration.quarantine as q (source_table, source_id, original_row, reason, sqlstate)
  select 'chat_states', b.conversation_id::text, b.original_row, b.problem, null
    from pg_temp.chat_migration_states_batch b where b.problem is not null
  on conflict (source_table, source_id) where resolved_at is null
  do update set original_row = excluded.original_row, reason = excluded.reason, last_seen = now(),
                attempts = q.attempts + 1;
  get diagnostics quarantined = row_count;

  update chat_migration.quarantine q set resolved_at = now(), retried_at = coalesce(q.retried_at, now())
    from pg_temp.chat_migration_states_batch b
   where b.problem is null and q.source_table = 'chat_states' and q.source_id = b.conversation_id::text
     and q.resolved_at is null;

  -- agent_states.session_id references the session, so every migrated state needs one (the message
  -- backfill, before or after, creates the same row and skips it when present)
  insert into public.conversation_sessions (id, user_id, agent_id, created_at, updated_at)
  select b.conversation_id, b.user_id, b.agent_id, b.updated_at, b.updated_at
    from pg_temp.chat_migration_states_batch b
   where b.problem is null
  on conflict (id) do nothing;

  insert into public.agent_states (agent_id, user_id, session_id, state_type, state, metadata)
  select b.agent_id, b.user_id, b.conversation_id, 'session',
         jsonb_build_object('user_input', b.blob -> 'user_input', 'focus', b.blob -> 'focus',
                            'step_count', b.blob -> 'step_count', 'last_tool_result', b.blob -> 'last_tool_result'),
         jsonb_build_object('migrated_from', 'chat_states', 'legacy_updated_at', b.updated_at)
    from pg_temp.chat_migration_states_batch b where b.problem is null
   order by b.conversation_id;
  get diagnostics states = row_count;

  insert into public.agent_memories (agent_id, user_id, memory_type, content, importance, metadata)
  select b.agent_id, b.user_id, 'working',
         coalesce(e.v ->> 'content', ''),
         case when jsonb_typeof(e.v -> 'relevance_score') = 'number'
              then greatest(0, least(1, (e.v ->> 'relevance_score')::numeric))
              else 0.5 end,
         jsonb_strip_nulls(jsonb_build_object(
           'source', e.v -> 'source', 'type', e.v -> 'type', 'timestamp', e.v -> 'timestamp',
           'relevance_score', e.v -> 'relevance_score', 'migrated_from', 'chat_states',
           'conversation_id', b.conversation_id, 'position', e.ord - 1))
    from pg_temp.chat_migration_states_batch b
   cross join lateral jsonb_array_elements(case jsonb_typeof(b.blob -> 'memory_context') when 'array' then b.blob -> 'memory_context' end)
         with ordinality as e (v, ord)
   where b.problem is null;
  get diagnostics memories = row_count;


  insert into public.chat_messages_v2 (conversation_id, user_id, agent_id, role, content, metadata,
                                       client_message_id, created_at, updated_at)
  select b.conversation_id, b.user_id, b.agent_id, chat_migration.map_role(e.v ->> 'role')::public.message_role,
         jsonb_build_object('type', 'text', 'text', coalesce(e.v ->> 'content', '')),
         chat_migration.v2_metadata(case jsonb_typeof(e.v -> 'metadata') when 'object' then e.v -> 'metadata' end,
                                    coalesce(e.v ->> 'content', ''))
           || jsonb_build_object('source', 'chat_states', 'history_position', e.ord - 1),
         'chat_states:' || (e.ord - 1),
         coalesce(chat_migration.try_timestamptz(e.v -> 'timestamp'), b.updated_at),
         coalesce(chat_migration.try_timestamptz(e.v -> 'timestamp'), b.updated_at)
    from pg_temp.chat_migration_states_batch b
   cross join lateral jsonb_array_elements(case jsonb_typeof(b.blob -> 'conversation_history') when 'array' then b.blob -> 'conversation_history' end)
         with ordinality as e (v, ord)
   where b.problem is null and not b.has_messages
  on conflict do nothing;
  get diagnostics history_messages = row_count;

  insert into chat_migration.migrated_states (conversation_id, memories, history_messages)
  select b.conversation_id,
         coalesce(jsonb_array_length(case jsonb_typeof(b.blob -> 'memory_context') when 'array' then b.blob -> 'memory_context' end), 0),
         case when b.has_messages then 0
              else coalesce(jsonb_array_length(case jsonb_typeof(b.blob -> 'conversation_history') when 'array' then b.blob -> 'conversation_history' end), 0) end
    from pg_temp.chat_migration_states_batch b where b.problem is null;

  truncate pg_temp.chat_migration_states_batch;
  perform set_config('chat_migration.mirroring', prev_guard, true);
  return next;
end
$$;

-- Not for the API roles: the functions of this file are postgres' and service_role's only.
revoke execute on function chat_migration.try_timestamptz(jsonb) from public, anon, authenticated;
revoke execute on function chat_migration.state_problem(jsonb) from public, anon, authenticated;
grant execute on function chat_migration.try_timestamptz(jsonb) to service_role;
grant execute on function chat_migration.state_problem(jsonb) to service_role;
revoke execute on function public.migrate_chat_states() from public, anon, authenticated;
grant execute on function public.migrate_chat_states() to service_role;
