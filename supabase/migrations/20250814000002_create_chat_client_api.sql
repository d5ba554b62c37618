-- Chat-client formats, 3 of 4: the chat API behind PUT/GET /chats/:id, POST /chats/:id/messages and
-- POST /chats/:id/turns.
--
-- Purpose : save a whole chat (AI SDK UIMessage[] or OpenAI messages), append or replace one UIMessage, record an
--           LLM call (request and response in OpenAI format), load a chat exactly as it was saved. Storage and
--           conversions: 20250814000000; the write path: 20250814000001; docs/chat-clients.md.
-- Objects : functions public.save_chat, public.append_chat_message, public.record_chat_turn, public.load_chat
--           (security invoker: RLS is the fence; EXECUTE for authenticated and service_role only).
-- Depends : 20250814000001 (and so schema v2).
-- Locks   : none at migration time (functions only).
-- Rollback: supabase/rollbacks/20250814000002_create_chat_client_api.down.sql

-- ---------------------------------------------------------------------------------------------------------
-- The API
-- ---------------------------------------------------------------------------------------------------------

/**
 * Saves a whole chat (PUT /chats/:id): p_messages in p_format 'ui' (AI SDK UIMessage[]) or 'openai'
 * (chat-completions messages). Messages are upserted by id (UIMessage.id; an OpenAI message's id is
 * `openai:<index>`, its place in the list) into conversation p_conversation_id, which is started when new; the
 * array's order is their position; an unchanged message is not rewritten, so saving the same chat again changes
 * nothing; live messages of the conversation missing from the list are soft-deleted. Tool calls and files are
 * derived (derive_chat_rows). Returns the number of messages saved.
 */
create function public.save_chat(
  p_conversation_id uuid,
  p_messages jsonb,
  p_format text default 'ui',
  p_agent_id uuid default null,
  p_title text default null,
  p_user_id uuid default null
)
returns integer
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_owner uuid;
  v_ids uuid[];
begin
  if p_format is null or p_format not in ('ui', 'openai') then
    raise exception 'unknown chat format %', coalesce(p_format, 'null')
      using errcode = 'AJC04', hint = 'p_format is ui (AI SDK UIMessage[]) or openai (chat-completions messages).';
  end if;
  perform chat_formats.assert_chat_messages(p_format, p_messages, 'messages');
  if jsonb_array_length(p_messages) > 10000 then
    raise exception 'a chat save holds at most 10000 messages, got %', jsonb_array_length(p_messages)
      using errcode = 'AJC04', hint = 'Split the chat, or append messages one by one (append_chat_message).';
  end if;
  v_owner := chat_formats.open_chat(p_conversation_id, p_agent_id, p_title, p_user_id);

  select coalesce(array_agg(s.message_id), '{}') into v_ids
    from chat_formats.store_chat_messages(p_conversation_id, v_owner, p_agent_id, p_format, (
      select coalesce(jsonb_agg(jsonb_build_object(
               'message', e.m, 'position', e.ord - 1,
               'client_message_id', case when p_format = 'openai' then 'openai:' || (e.ord - 1) end) order by e.ord), '[]'::jsonb)
        from jsonb_array_elements(p_messages) with ordinality as e (m, ord))) as s;

  update public.chat_messages_v2 m set deleted_at = now()
   where m.conversation_id = p_conversation_id and m.deleted_at is null and m.id <> all (v_ids);

  perform chat_formats.derive_chat_rows(p_conversation_id, v_ids);
  return cardinality(v_ids);
end
$$;

comment on function public.save_chat(uuid, jsonb, text, uuid, text, uuid) is
  'Saves a whole chat (AI SDK UIMessage[] or OpenAI messages) losslessly: upsert by id, order kept, missing messages soft-deleted, tool calls and files derived.';

revoke execute on function public.save_chat(uuid, jsonb, text, uuid, text, uuid) from public, anon;
grant execute on function public.save_chat(uuid, jsonb, text, uuid, text, uuid) to authenticated, service_role;

/**
 * Appends one UIMessage to a chat, or replaces the message with its id (POST /chats/:id/messages: the AI SDK's
 * "send only the last message"): a new message goes after every message the chat has had, a known one keeps its
 * position. Returns the message as stored (deep-equal to p_message) and whether it was created.
 */
create function public.append_chat_message(
  p_conversation_id uuid,
  p_message jsonb,
  p_agent_id uuid default null,
  p_title text default null,
  p_user_id uuid default null
)
returns table (message jsonb, created boolean)
language plpgsql
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_owner uuid;
  v_position integer;
  v_id uuid;
  v_created boolean;
begin
  if jsonb_typeof(p_message) is distinct from 'object' then
    raise exception 'message: must be an object'
      using errcode = 'AJC20', hint = 'Send one AI SDK UIMessage: {id, role, parts, metadata?}.';
  end if;
  perform chat_formats.assert_chat_messages('ui', jsonb_build_array(p_message), 'message');
  v_owner := chat_formats.open_chat(p_conversation_id, p_agent_id, p_title, p_user_id);

  select f.position into v_position
    from public.chat_messages_v2 m join public.chat_client_messages f on f.message_id = m.id
   where m.conversation_id = p_conversation_id and m.client_message_id = p_message ->> 'id';
  if not found then
    select coalesce(max(f.position) + 1, 0) into v_position
      from public.chat_messages_v2 m join public.chat_client_messages f on f.message_id = m.id
     where m.conversation_id = p_conversation_id;
  end if;

  select s.message_id, s.created into v_id, v_created
    from chat_formats.store_chat_messages(p_conversation_id, v_owner, p_agent_id, 'ui',
           jsonb_build_array(jsonb_build_object('message', p_message, 'position', v_position))) as s;
  perform chat_formats.derive_chat_rows(p_conversation_id, array[v_id]);

  return query
    select chat_formats.chat_message_original(f.format, f.envelope, m.content, m.role, m.client_message_id, m.id), v_created
      from public.chat_messages_v2 m join public.chat_client_messages f on f.message_id = m.id
     where m.id = v_id;
end
$$;

comment on function public.append_chat_message(uuid, jsonb, uuid, text, uuid) is
  'Appends a UIMessage to a chat, or replaces the one with its id; returns it as stored and whether it was created.';

revoke execute on function public.append_chat_message(uuid, jsonb, uuid, text, uuid) from public, anon;
grant execute on function public.append_chat_message(uuid, jsonb, uuid, text, uuid) to authenticated, service_role;

/**
 * Records one LLM call (POST /chats/:id/turns): p_request {model, params?, messages: OpenAI messages} and p_response
 * {message: the assistant's OpenAI message, usage?, finish_reason?, provider?}. The request's NEW messages — those
 * after the last one equal to the chat's last stored message (all of them when none is) — and the response message
 * are appended in order (ids `openai:<position>`); the response message's metadata gets model, params, provider,
 * usage, finish_reason (those given) and tokens = usage.completion_tokens. Tool messages among them fill the
 * result of the tool calls they answer. Returns the stored messages' ids, in order (the response's last).
 */
create function public.record_chat_turn(
  p_conversation_id uuid,
  p_request jsonb,
  p_response jsonb,
  p_agent_id uuid default null,
  p_title text default null,
  p_user_id uuid default null
)
returns table (message_id uuid, client_message_id text)
language plpgsql
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_owner uuid;
  v_last jsonb;
  v_from integer := 0;
  v_base integer;
  v_items jsonb;
  v_ids uuid[];
  v_meta jsonb;
begin
  if jsonb_typeof(p_request) is distinct from 'object' or jsonb_typeof(p_request -> 'model') is distinct from 'string' then
    raise exception 'request.model: must be a string'
      using errcode = 'AJC20', hint = 'Pass p_request => {"model": "…", "params": {…}, "messages": [ …OpenAI messages ]}.';
  end if;
  if p_request ? 'params' and jsonb_typeof(p_request -> 'params') <> 'object' then
    raise exception 'request.params: must be an object'
      using errcode = 'AJC20', hint = 'params holds the call''s parameters: {"temperature": 0.2, …}.';
  end if;
  perform chat_formats.assert_chat_messages('openai', p_request -> 'messages', 'request.messages');
  if jsonb_typeof(p_response) is distinct from 'object' or jsonb_typeof(p_response -> 'message') is distinct from 'object'
     or p_response -> 'message' ->> 'role' is distinct from 'assistant' then
    raise exception 'response.message: must be the assistant''s message (role assistant)'
      using errcode = 'AJC20', hint = 'Pass p_response => {"message": {"role": "assistant", …}, "usage": {…}, "finish_reason": "stop"}.';
  end if;
  perform chat_formats.assert_chat_messages('openai', jsonb_build_array(p_response -> 'message'), 'response.message');
  v_owner := chat_formats.open_chat(p_conversation_id, p_agent_id, p_title, p_user_id);

  -- The chat's last stored message, as it was sent, if it was an OpenAI one.
  select case when f.format = 'openai' then chat_formats.chat_message_original(f.format, f.envelope, m.content, m.role, m.client_message_id, m.id) end
    into v_last
    from public.chat_messages_v2 m join public.chat_client_messages f on f.message_id = m.id
   where m.conversation_id = p_conversation_id and m.deleted_at is null
   order by f.position desc, m.created_at desc
   limit 1;
  if v_last is not null then
    select coalesce(max(e.ord), 0)::integer into v_from
      from jsonb_array_elements(p_request -> 'messages') with ordinality as e (m, ord)
     where e.m = v_last;
  end if;
  select coalesce(max(f.position) + 1, 0) into v_base
    from public.chat_messages_v2 m join public.chat_client_messages f on f.message_id = m.id
   where m.conversation_id = p_conversation_id;

  select coalesce(jsonb_object_agg(k, v), '{}'::jsonb) into v_meta
    from (values ('model', p_request -> 'model'), ('params', p_request -> 'params'), ('provider', p_response -> 'provider'),
                 ('usage', p_response -> 'usage'), ('finish_reason', p_response -> 'finish_reason'),
                 ('tokens', case when jsonb_typeof(p_response -> 'usage' -> 'completion_tokens') = 'number'
                                 then p_response -> 'usage' -> 'completion_tokens' end)) as x (k, v)
   where v is not null;

  select coalesce(jsonb_agg(x.item order by x.n), '[]'::jsonb) into v_items
    from (
      select e.ord as n, jsonb_build_object('message', e.m, 'position', v_base + (e.ord - v_from - 1),
                                            'client_message_id', 'openai:' || (v_base + (e.ord - v_from - 1))) as item
        from jsonb_array_elements(p_request -> 'messages') with ordinality as e (m, ord)
       where e.ord > v_from
      union all
      select 1000000000, jsonb_build_object(
               'message', p_response -> 'message', 'metadata', v_meta,
               'position', v_base + (jsonb_array_length(p_request -> 'messages') - v_from),
               'client_message_id', 'openai:' || (v_base + (jsonb_array_length(p_request -> 'messages') - v_from)))
    ) x;

  select array_agg(s.message_id) into v_ids
    from chat_formats.store_chat_messages(p_conversation_id, v_owner, p_agent_id, 'openai', v_items) as s;
  perform chat_formats.derive_chat_rows(p_conversation_id, chat_formats.affected_chat_messages(p_conversation_id, v_ids));

  return query
    select m.id, m.client_message_id from unnest(v_ids) with ordinality as u (id, ord)
      join public.chat_messages_v2 m on m.id = u.id order by u.ord;
end
$$;

comment on function public.record_chat_turn(uuid, jsonb, jsonb, uuid, text, uuid) is
  'Records an LLM call: the request''s new OpenAI messages and the response message, with model, params, usage and finish reason on the latter.';

revoke execute on function public.record_chat_turn(uuid, jsonb, jsonb, uuid, text, uuid) from public, anon;
grant execute on function public.record_chat_turn(uuid, jsonb, jsonb, uuid, text, uuid) to authenticated, service_role;

/**
 * A chat's live messages in order (position; messages without a client format after them, by created_at):
 * `message` is each one exactly as its client sent it (format 'ui' or 'openai'), or for messages written otherwise
 * (format 'native': POST /messages, the data migration) a UIMessage-like {id, role, parts}. `metadata` is the
 * message's own metadata column (tokens; for a turn's response: model, params, usage, finish_reason, provider).
 * Another user's chat, or one that does not exist, raises AJC07.
 */
create function public.load_chat(p_conversation_id uuid)
returns table (message_id uuid, client_message_id text, "position" integer, format text, message jsonb, metadata jsonb)
language plpgsql
stable
security invoker
set search_path = ''
as $$
#variable_conflict use_column
begin
  if not exists (select 1 from public.conversation_sessions s where s.id = p_conversation_id) then
    raise exception 'chat % not found', p_conversation_id
      using errcode = 'AJC07', hint = 'Pass the id of a chat (conversation) you own.';
  end if;
  return query
    select m.id, m.client_message_id, f.position, coalesce(f.format, 'native'),
           chat_formats.chat_message_original(f.format, f.envelope, m.content, m.role, m.client_message_id, m.id), m.metadata
      from public.chat_messages_v2 m
      left join public.chat_client_messages f on f.message_id = m.id
     where m.conversation_id = p_conversation_id and m.deleted_at is null
     order by f.position nulls last, m.created_at, m.id;
end
$$;

comment on function public.load_chat(uuid) is
  'A chat''s live messages in order, each exactly as its client sent it (native messages as UIMessage-like objects).';

revoke execute on function public.load_chat(uuid) from public, anon;
grant execute on function public.load_chat(uuid) to authenticated, service_role;
