-- Schema v2, part 10: the SQL write API for messages.
--
-- Purpose : posting a message is one call (SQL-first: the same behaviour for psql users; the edge functions
--           only authenticate, validate, call and shape): it starts the conversation when needed, inserts the
--           message, then its attachments and tool calls in one statement, idempotent on client_message_id.
--           Security invoker, so RLS stays the fence: a user reaches only their own conversations, agents and
--           messages; the service role writes for the owner it names.
-- Objects : view public.chat_messages_expanded (messages as the API returns them); function
--           public.post_chat_message.
-- Locks   : none beyond creating a view and a function.
-- Rollback: supabase/rollbacks/20250805074453_create_message_write_api.down.sql (this file only).
--
-- SQLSTATEs (class AJ; every one with a HINT; catalogue in docs/schema.md):
--   AJC03 agent not found · AJC04 invalid parameter · AJC07 conversation not found
--   AJC14 message not found (parent message)
--   AJC15 no owner: the service role starts a conversation without naming its user
--   AJC16 a concurrent write holds this client_message_id; retry
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
