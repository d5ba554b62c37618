-- Schema v2, part 5: the SQL write API for messages, sessions and context snapshots.
--
-- Purpose : every write the edge functions make to messages, sessions and snapshots is one call to one of
--           these functions (SQL-first: the same behaviour for psql users, the functions only authenticate,
--           validate, call and shape). All security invoker, so RLS stays the fence: a user reaches only their
--           own conversations, agents and messages, the service role writes for the owner it names.
-- Objects : view public.chat_messages_expanded; functions public.post_chat_message,
--           public.create_conversation_session, public.update_conversation_session, public.create_context_snapshot.
-- Locks   : none beyond creating functions.
-- Rollback: supabase/rollbacks/20250805074448_create_chat_write_api.down.sql (this file only), or
--           20250805074444_create_advanced_json_chat_schema.down.sql (the whole v2 family).
--
-- SQLSTATEs (class AJ; every one with a HINT; catalogue in docs/schema.md):
--   AJC03 agent not found · AJC04 invalid parameter · AJC07 conversation / session not found
--   AJC14 message not found (parent message)
--   AJC15 no owner: the service role starts a conversation or session without naming its user
--   AJC16 a concurrent write holds this client_message_id; retry
--   AJC17 a session with this id already exists
--   AJC18 an id list names a row that does not belong (snapshot message_ids / memory_ids)
--   AJC19 a required value is missing (the session has no agent and none was given)
--   42501 a user naming another owner (p_user_id is for the service role)

/**
 * Messages as the API returns them: `message` is the chat_messages_v2 row without legacy_id (the data
 * migration's link), with its attachments and tool calls in order (children without message_id and
 * created_at); timestamps keep Postgres' microsecond text, so keyset cursors built from them round-trip. The
 * one definition of a message's shape: the edge functions read pages from it and post_chat_message returns
 * from it. A view, not a function: a SQL function whose body has subqueries is never inlined, and calling
 * one per row made a page of 50 about ten times slower; a view is planned into the query (the filter
 * columns push down to chat_messages_v2's indexes, and the jsonb is built after ORDER BY … LIMIT).
 * security_invoker, so RLS sees the caller: a user reads only their own messages and their children.
 */
create view public.chat_messages_expanded
with (security_invoker = true)
as
select m.id, m.conversation_id, m.user_id, m.created_at, m.deleted_at, m.client_message_id,
       (to_jsonb(m) - 'legacy_id') || jsonb_build_object(
         'attachments', coalesce((
           select jsonb_agg(to_jsonb(a) - 'message_id' - 'created_at' order by a.position)
           from public.chat_message_attachments a where a.message_id = m.id), '[]'::jsonb),
         'tool_calls', coalesce((
           select jsonb_agg(to_jsonb(t) - 'message_id' - 'created_at' order by t.position)
           from public.chat_tool_calls t where t.message_id = m.id), '[]'::jsonb)) as message
from public.chat_messages_v2 m;

comment on view public.chat_messages_expanded is
  'Messages as the API returns them (message: the row without legacy_id, with attachments and tool_calls in order); RLS of the caller applies.';

revoke all on public.chat_messages_expanded from public, anon, authenticated, service_role;
grant select on public.chat_messages_expanded to authenticated, service_role;

/**
 * Posts one message, starting its conversation when needed, and returns it (as chat_messages_expanded has it) with
 * `created` = false when it already existed: a retry with the same p_client_message_id in the same
 * conversation returns the message the first attempt stored, however many retries race.
 *
 *  - p_content: a v2 content object ({"type":"text",...} or {"type":"parts",...}) or a JSON string, stored as
 *    {"type":"text","text": …}. The table's CHECK validates the shape (23514).
 *  - p_conversation_id null starts a new conversation; an id nobody has starts one under that id (a client
 *    can pick the id and retry safely); another user's id is "not found" (AJC07), like one that does not exist.
 *  - The owner is the caller (auth.uid()); the service role names it with p_user_id when it starts a
 *    conversation, and writes into an existing one as that conversation's owner.
 *  - p_attachments: array of {name, storage_path, type?, mime_type?, size_bytes?, metadata?};
 *    p_tool_calls: array of {tool_call_id, tool_name, args?, result?, text_position?, is_partial?}; stored in
 *    array order (position). Both go in ONE statement after the message's own: an RLS check sees the snapshot
 *    of its statement, so a child inserted in the statement that inserts its message would not find it.
 */
create function public.post_chat_message(
  p_role public.message_role,
  p_content jsonb,
  p_conversation_id uuid default null,
  p_client_message_id text default null,
  p_parent_message_id uuid default null,
  p_agent_id uuid default null,
  p_metadata jsonb default '{}'::jsonb,
  p_attachments jsonb default '[]'::jsonb,
  p_tool_calls jsonb default '[]'::jsonb,
  p_title text default null,
  p_user_id uuid default null
)
returns table (message jsonb, created boolean)
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_uid uuid := auth.uid();
  v_conversation_id uuid := p_conversation_id;
  v_owner uuid;
  v_id uuid;
  v_content jsonb := case when jsonb_typeof(p_content) = 'string'
                          then jsonb_build_object('type', 'text', 'text', p_content #>> '{}') else p_content end;
  v_attachments jsonb := coalesce(p_attachments, '[]'::jsonb);
  v_tool_calls jsonb := coalesce(p_tool_calls, '[]'::jsonb);
begin
  if p_role is null or v_content is null then
    raise exception 'a message needs a role and content'
      using errcode = 'AJC04',
            hint = 'Pass p_role (user, assistant, system or tool) and p_content: a string or {"type":"text","text":"…"}.';
  end if;
  if jsonb_typeof(v_attachments) <> 'array' or jsonb_typeof(v_tool_calls) <> 'array' then
    raise exception 'attachments and tool calls must be JSON arrays'
      using errcode = 'AJC04',
            hint = 'Pass p_attachments => ''[{"name":"a.png","storage_path":"uploads/a.png"}]''::jsonb (or ''[]'') and p_tool_calls likewise.';
  end if;
  if p_user_id is not null and v_uid is not null and p_user_id <> v_uid then
    raise exception 'only the service role may write messages for another user'
      using errcode = '42501',
            hint = 'Leave p_user_id out: a signed-in user always writes as themselves.';
  end if;
  if p_agent_id is not null and not exists (select 1 from public.agents a where a.id = p_agent_id) then
    raise exception 'agent % not found', p_agent_id
      using errcode = 'AJC03',
            hint = 'Pass the id of an agent you own (select id from public.agents), or leave p_agent_id out.';
  end if;

  if v_conversation_id is not null then
    -- A retry of a message that already landed: hand back the same message.
    if p_client_message_id is not null then
      return query
        select e.message, false from public.chat_messages_expanded e
         where e.conversation_id = v_conversation_id and e.client_message_id = p_client_message_id;
      if found then
        return;
      end if;
    end if;
    select s.user_id into v_owner from public.conversation_sessions s where s.id = v_conversation_id;
    if not found then
      v_owner := coalesce(v_uid, p_user_id);
      if v_owner is null then
        raise exception 'starting a conversation as the service role needs its owner'
          using errcode = 'AJC15',
                hint = 'Pass p_user_id, the user the conversation belongs to.';
      end if;
      -- ON CONFLICT is not filtered by RLS: an id taken by someone else inserts nothing and is then not
      -- visible either, so it answers "not found" like any conversation the caller cannot see. An id taken
      -- by a concurrent request of the same user is visible by the next statement's snapshot.
      insert into public.conversation_sessions (id, user_id, agent_id, title)
      values (v_conversation_id, v_owner, p_agent_id, p_title)
      on conflict (id) do nothing;
      if not found then
        select s.user_id into v_owner from public.conversation_sessions s where s.id = v_conversation_id;
        if not found then
          raise exception 'conversation % not found', v_conversation_id
            using errcode = 'AJC07',
                  hint = 'Pass the id of a conversation you own, a new id to start one under it, or none.';
        end if;
      end if;
    end if;
  else
    v_owner := coalesce(v_uid, p_user_id);
    if v_owner is null then
      raise exception 'starting a conversation as the service role needs its owner'
        using errcode = 'AJC15',
              hint = 'Pass p_user_id, the user the conversation belongs to.';
    end if;
    insert into public.conversation_sessions (user_id, agent_id, title)
    values (v_owner, p_agent_id, p_title)
    returning id into v_conversation_id;
  end if;

  if p_parent_message_id is not null
     and not exists (select 1 from public.chat_messages_v2 m where m.id = p_parent_message_id) then
    raise exception 'parent message % not found', p_parent_message_id
      using errcode = 'AJC14',
            hint = 'Reply to a message of yours in the same conversation, or leave p_parent_message_id out.';
  end if;

  insert into public.chat_messages_v2
    (conversation_id, user_id, agent_id, role, content, parent_message_id, metadata, client_message_id)
  values (v_conversation_id, v_owner, p_agent_id, p_role, v_content, p_parent_message_id,
          coalesce(p_metadata, '{}'::jsonb), p_client_message_id)
  on conflict (conversation_id, client_message_id) do nothing
  returning id into v_id;

  if v_id is null then
    -- Lost a race with a concurrent retry carrying the same client_message_id: it committed first.
    return query
      select e.message, false from public.chat_messages_expanded e
       where e.conversation_id = v_conversation_id and e.client_message_id = p_client_message_id;
    if found then
      return;
    end if;
    raise exception 'a message with client_message_id % is being written in conversation %', p_client_message_id, v_conversation_id
      using errcode = 'AJC16',
            hint = 'Retry the same request: it returns that message once its writer has committed.';
  end if;

  if jsonb_array_length(v_attachments) > 0 or jsonb_array_length(v_tool_calls) > 0 then
    with attachments as (
      insert into public.chat_message_attachments (message_id, position, type, name, storage_path, mime_type, size_bytes, metadata)
      select v_id, (e.ord - 1)::integer, e.v ->> 'type', e.v ->> 'name', e.v ->> 'storage_path', e.v ->> 'mime_type',
             (e.v ->> 'size_bytes')::bigint, coalesce(nullif(e.v -> 'metadata', 'null'::jsonb), '{}'::jsonb)
        from jsonb_array_elements(v_attachments) with ordinality as e (v, ord)
      returning 1
    )
    insert into public.chat_tool_calls (message_id, position, tool_call_id, tool_name, args, result, text_position, is_partial)
    select v_id, (e.ord - 1)::integer, e.v ->> 'tool_call_id', e.v ->> 'tool_name', e.v -> 'args', e.v -> 'result',
           (e.v ->> 'text_position')::integer, coalesce((e.v ->> 'is_partial')::boolean, false)
      from jsonb_array_elements(v_tool_calls) with ordinality as e (v, ord);
  end if;

  return query select e.message, true from public.chat_messages_expanded e where e.id = v_id;
end
$$;

comment on function public.post_chat_message(public.message_role, jsonb, uuid, text, uuid, uuid, jsonb, jsonb, jsonb, text, uuid) is
  'Posts a message (starting its conversation when needed) with its attachments and tool calls; idempotent on p_client_message_id. Returns the message and whether it was created.';

revoke execute on function public.post_chat_message(public.message_role, jsonb, uuid, text, uuid, uuid, jsonb, jsonb, jsonb, text, uuid)
  from public, anon;
grant execute on function public.post_chat_message(public.message_role, jsonb, uuid, text, uuid, uuid, jsonb, jsonb, jsonb, text, uuid)
  to authenticated, service_role;

/**
 * Creates a conversation session and returns it. The owner is the caller, or for the service role p_user_id
 * or else the owner of p_agent_id. p_id picks the id (a conversation id a client chose); an id that is taken
 * raises AJC17.
 */
create function public.create_conversation_session(
  p_id uuid default null,
  p_agent_id uuid default null,
  p_title text default null,
  p_status public.session_status default 'active',
  p_session_state jsonb default '{}'::jsonb,
  p_metadata jsonb default '{}'::jsonb,
  p_user_id uuid default null
)
returns public.conversation_sessions
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_uid uuid := auth.uid();
  v_owner uuid := coalesce(auth.uid(), p_user_id);
  v_agent_owner uuid;
  v_row public.conversation_sessions;
begin
  if p_user_id is not null and v_uid is not null and p_user_id <> v_uid then
    raise exception 'only the service role may create sessions for another user'
      using errcode = '42501',
            hint = 'Leave p_user_id out: a signed-in user always creates their own sessions.';
  end if;
  if p_agent_id is not null then
    select a.owner_id into v_agent_owner from public.agents a where a.id = p_agent_id;
    if not found then
      raise exception 'agent % not found', p_agent_id
        using errcode = 'AJC03',
              hint = 'Pass the id of an agent you own (select id from public.agents), or leave p_agent_id out.';
    end if;
    v_owner := coalesce(v_owner, v_agent_owner);
  end if;
  if v_owner is null then
    raise exception 'creating a session as the service role needs its owner'
      using errcode = 'AJC15',
            hint = 'Pass p_user_id (the user the session belongs to) or p_agent_id (its owner is taken).';
  end if;

  insert into public.conversation_sessions as s (id, user_id, agent_id, title, status, session_state, metadata)
  values (coalesce(p_id, gen_random_uuid()), v_owner, p_agent_id, p_title, coalesce(p_status, 'active'),
          coalesce(p_session_state, '{}'::jsonb), coalesce(p_metadata, '{}'::jsonb))
  on conflict (id) do nothing
  returning * into v_row;
  if not found then
    raise exception 'a session with id % already exists', p_id
      using errcode = 'AJC17',
            hint = 'Pick another id, or leave it out to get a new one.';
  end if;
  return v_row;
end
$$;

comment on function public.create_conversation_session(uuid, uuid, text, public.session_status, jsonb, jsonb, uuid) is
  'Creates a conversation session for the caller (or, as the service role, for p_user_id / the agent''s owner).';

revoke execute on function public.create_conversation_session(uuid, uuid, text, public.session_status, jsonb, jsonb, uuid)
  from public, anon;
grant execute on function public.create_conversation_session(uuid, uuid, text, public.session_status, jsonb, jsonb, uuid)
  to authenticated, service_role;

/**
 * Changes the descriptive fields of a session and returns it. p_changes is a JSON object holding any of
 * agent_id (a uuid of an agent you own, or null), title (text or null), status, session_state and metadata
 * (objects, replacing the stored ones); a key left out keeps its value. Metrics are the triggers' business.
 */
create function public.update_conversation_session(p_session_id uuid, p_changes jsonb)
returns public.conversation_sessions
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_unknown text[];
  v_agent_id uuid;
  v_row public.conversation_sessions;
begin
  if p_changes is null or jsonb_typeof(p_changes) <> 'object' or p_changes = '{}'::jsonb then
    raise exception 'nothing to change'
      using errcode = 'AJC04',
            hint = 'Pass p_changes => ''{"title":"…"}'' with at least one of agent_id, title, status, session_state, metadata.';
  end if;
  select array_agg(k order by k) into v_unknown
    from jsonb_object_keys(p_changes) as k
   where k <> all (array['agent_id', 'title', 'status', 'session_state', 'metadata']);
  if v_unknown is not null then
    raise exception 'unknown session field(s): %', array_to_string(v_unknown, ', ')
      using errcode = 'AJC04',
            hint = 'A session''s changeable fields are agent_id, title, status, session_state and metadata.';
  end if;
  if p_changes ? 'status' and not coalesce(p_changes ->> 'status' = any (enum_range(null::public.session_status)::text[]), false) then
    raise exception 'unknown session status %', coalesce(p_changes ->> 'status', 'null')
      using errcode = 'AJC04',
            hint = format('Session statuses are %s.', array_to_string(enum_range(null::public.session_status)::text[], ', '));
  end if;
  if (p_changes ? 'title' and jsonb_typeof(p_changes -> 'title') not in ('string', 'null'))
     or (p_changes ? 'agent_id' and jsonb_typeof(p_changes -> 'agent_id') not in ('string', 'null'))
     or (p_changes ? 'session_state' and jsonb_typeof(p_changes -> 'session_state') <> 'object')
     or (p_changes ? 'metadata' and jsonb_typeof(p_changes -> 'metadata') <> 'object') then
    raise exception 'a session field has the wrong type'
      using errcode = 'AJC04',
            hint = 'title: text or null; agent_id: a uuid or null; session_state and metadata: JSON objects.';
  end if;

  if not exists (select 1 from public.conversation_sessions s where s.id = p_session_id) then
    raise exception 'session % not found', p_session_id
      using errcode = 'AJC07',
            hint = 'Pass the id of a conversation session you own.';
  end if;
  v_agent_id := (p_changes ->> 'agent_id')::uuid;
  if v_agent_id is not null and not exists (select 1 from public.agents a where a.id = v_agent_id) then
    raise exception 'agent % not found', v_agent_id
      using errcode = 'AJC03',
            hint = 'Pass the id of an agent you own, or null to detach the session from its agent.';
  end if;

  update public.conversation_sessions s set
    agent_id = case when p_changes ? 'agent_id' then v_agent_id else s.agent_id end,
    title = case when p_changes ? 'title' then p_changes ->> 'title' else s.title end,
    status = coalesce((p_changes ->> 'status')::public.session_status, s.status),
    session_state = coalesce(p_changes -> 'session_state', s.session_state),
    metadata = coalesce(p_changes -> 'metadata', s.metadata)
  where s.id = p_session_id
  returning * into v_row;
  return v_row;
end
$$;

comment on function public.update_conversation_session(uuid, jsonb) is
  'Changes agent_id, title, status, session_state and/or metadata of a session you own (keys present in p_changes).';

revoke execute on function public.update_conversation_session(uuid, jsonb) from public, anon;
grant execute on function public.update_conversation_session(uuid, jsonb) to authenticated, service_role;

/**
 * Records the context an agent was given in a session and returns the snapshot. The message window is
 * p_message_ids (each a live message of this session, else AJC18) or the newest p_window live messages; the
 * agent is p_agent_id or the session's (AJC19 when neither); p_memory_ids must be memories of that agent.
 * token_count defaults to the window's tokens (public.message_tokens, as the session metrics count them);
 * build_metrics gets build_ms (the time this function took to build the window) and message_count, then
 * p_build_metrics on top.
 */
create function public.create_context_snapshot(
  p_session_id uuid,
  p_agent_id uuid default null,
  p_message_ids uuid[] default null,
  p_window integer default 20,
  p_memory_ids uuid[] default null,
  p_context jsonb default '{}'::jsonb,
  p_token_count integer default null,
  p_token_budget integer default null,
  p_build_metrics jsonb default '{}'::jsonb
)
returns public.context_snapshots
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_started timestamptz := clock_timestamp();
  v_session public.conversation_sessions;
  v_agent_id uuid;
  v_ids uuid[];
  v_n integer;
  v_first timestamptz;
  v_last timestamptz;
  v_tokens bigint;
  v_memory_ids uuid[] := (select coalesce(array_agg(distinct x), '{}') from unnest(p_memory_ids) as x);
  v_row public.context_snapshots;
begin
  if p_window is null or p_window < 1 or p_window > 1000
     or coalesce(cardinality(p_message_ids), 0) > 1000 or coalesce(cardinality(p_memory_ids), 0) > 1000 then
    raise exception 'the window is 1 to 1000 messages, and each id list holds at most 1000 ids'
      using errcode = 'AJC04',
            hint = 'Pass p_window between 1 and 1000 (default 20), or at most 1000 p_message_ids / p_memory_ids.';
  end if;
  select * into v_session from public.conversation_sessions s where s.id = p_session_id;
  if not found then
    raise exception 'session % not found', p_session_id
      using errcode = 'AJC07',
            hint = 'Pass the id of a conversation session you own.';
  end if;
  v_agent_id := coalesce(p_agent_id, v_session.agent_id);
  if v_agent_id is null then
    raise exception 'agent_id: the session has no agent; name the agent this context was built for'
      using errcode = 'AJC19',
            hint = 'Pass p_agent_id, or attach an agent to the session first.';
  end if;
  if not exists (select 1 from public.agents a where a.id = v_agent_id) then
    raise exception 'agent % not found', v_agent_id
      using errcode = 'AJC03',
            hint = 'Pass the id of an agent you own (select id from public.agents).';
  end if;

  with chosen as (
    select m.id, m.created_at, m.metadata from public.chat_messages_v2 m
     where m.conversation_id = p_session_id and m.deleted_at is null
       and (p_message_ids is null or m.id = any (p_message_ids))
     order by m.created_at desc, m.id desc
     limit case when p_message_ids is null then p_window end
  )
  select coalesce(array_agg(c.id order by c.created_at, c.id), '{}'), count(*)::integer, min(c.created_at),
         max(c.created_at), coalesce(sum(public.message_tokens(c.metadata)), 0)::bigint
    into v_ids, v_n, v_first, v_last, v_tokens
    from chosen c;
  if p_message_ids is not null and v_n <> (select count(distinct x) from unnest(p_message_ids) as x) then
    raise exception 'message_ids: every id must be a live message of this session'
      using errcode = 'AJC18',
            hint = 'Pass ids of messages of this session that are not deleted, or leave p_message_ids out for the newest p_window.';
  end if;
  if cardinality(v_memory_ids) > 0
     and (select count(*) from public.agent_memories am where am.agent_id = v_agent_id and am.id = any (v_memory_ids))
         <> cardinality(v_memory_ids) then
    raise exception 'memory_ids: every id must be a memory of this session''s agent'
      using errcode = 'AJC18',
            hint = 'Pass ids of memories of the snapshot''s agent (select id from public.agent_memories where agent_id = …).';
  end if;

  insert into public.context_snapshots as cs
    (session_id, agent_id, user_id, message_ids, first_message_at, last_message_at, memory_ids, context,
     token_count, token_budget, build_metrics)
  values (
    p_session_id, v_agent_id, v_session.user_id, v_ids, v_first, v_last, coalesce(p_memory_ids, '{}'),
    coalesce(p_context, '{}'::jsonb), coalesce(p_token_count, least(v_tokens, 2147483647)::integer), p_token_budget,
    jsonb_build_object('build_ms', round((extract(epoch from clock_timestamp() - v_started) * 1000)::numeric, 3),
                       'message_count', v_n)
      || coalesce(p_build_metrics, '{}'::jsonb)
  )
  returning * into v_row;
  return v_row;
end
$$;

comment on function public.create_context_snapshot(uuid, uuid, uuid[], integer, uuid[], jsonb, integer, integer, jsonb) is
  'Records the context (message window, memories, tokens) an agent was given in a session you own.';

revoke execute on function public.create_context_snapshot(uuid, uuid, uuid[], integer, uuid[], jsonb, integer, integer, jsonb)
  from public, anon;
grant execute on function public.create_context_snapshot(uuid, uuid, uuid[], integer, uuid[], jsonb, integer, integer, jsonb)
  to authenticated, service_role;
