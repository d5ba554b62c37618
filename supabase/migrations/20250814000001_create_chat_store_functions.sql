-- Chat-client formats, 2 of 4: the internal write path of chat-client messages — open (or start) the chat, check
-- the messages, upsert them with their position and envelope, derive their tool-call and attachment rows.
--
-- Purpose : one set-based write per save for the chat API (20250814000002); see 20250814000000 for the storage
--           layout (chat_client_messages, chat_tool_calls.state) and docs/chat-clients.md.
-- Objects : functions chat_formats.open_chat, assert_chat_messages, store_chat_messages, derive_chat_rows,
--           affected_chat_messages (internal, security invoker: RLS applies to whoever calls them).
-- Depends : 20250814000000 (and so schema v2).
-- Locks   : none at migration time (functions only). At run time open_chat holds the conversation row
--           FOR NO KEY UPDATE until the transaction ends, so saves of one chat take turns.
-- Rollback: supabase/rollbacks/20250814000001_create_chat_store_functions.down.sql

/**
 * The conversation a chat save writes to, started under p_conversation_id when nobody has it (like
 * post_chat_message), and locked (FOR NO KEY UPDATE) until the transaction ends so saves of one chat take turns;
 * returns its owner. Another user's id is "not found" (AJC07). The service role names the owner of a new chat with
 * p_user_id (AJC15 without it).
 */
create function chat_formats.open_chat(p_conversation_id uuid, p_agent_id uuid, p_title text, p_user_id uuid)
returns uuid
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_uid uuid := auth.uid();
  v_owner uuid;
begin
  if p_conversation_id is null then
    raise exception 'a chat needs its id'
      using errcode = 'AJC04', hint = 'Pass p_conversation_id, the chat id your client uses (a uuid).';
  end if;
  if p_user_id is not null and v_uid is not null and p_user_id <> v_uid then
    raise exception 'only the service role may write chats for another user'
      using errcode = '42501', hint = 'Leave p_user_id out: a signed-in user always writes as themselves.';
  end if;
  if p_agent_id is not null and not exists (select 1 from public.agents a where a.id = p_agent_id) then
    raise exception 'agent % not found', p_agent_id
      using errcode = 'AJC03', hint = 'Pass the id of an agent you own (select id from public.agents), or leave p_agent_id out.';
  end if;
  select s.user_id into v_owner from public.conversation_sessions s where s.id = p_conversation_id for no key update;
  if found then
    return v_owner;
  end if;
  v_owner := coalesce(v_uid, p_user_id);
  if v_owner is null then
    raise exception 'starting a chat as the service role needs its owner'
      using errcode = 'AJC15', hint = 'Pass p_user_id, the user the chat belongs to.';
  end if;
  -- ON CONFLICT is not filtered by RLS: someone else's id inserts nothing and stays invisible → not found.
  insert into public.conversation_sessions (id, user_id, agent_id, title)
  values (p_conversation_id, v_owner, p_agent_id, p_title)
  on conflict (id) do nothing;
  select s.user_id into v_owner from public.conversation_sessions s where s.id = p_conversation_id for no key update;
  if not found then
    raise exception 'chat % not found', p_conversation_id
      using errcode = 'AJC07', hint = 'Pass the id of a chat (conversation) you own, or a new id to start one under it.';
  end if;
  return v_owner;
end
$$;

comment on function chat_formats.open_chat(uuid, uuid, text, uuid) is
  'The conversation a chat save writes to (started when new, locked for the transaction); returns its owner.';

/** Raises AJC20 for the first problem check_chat_messages finds, naming `<p_path>.<index>.<path>`. */
create function chat_formats.assert_chat_messages(p_format text, p_messages jsonb, p_path text)
returns void
language plpgsql
immutable
set search_path = ''
as $$
declare
  v record;
begin
  select * into v from chat_formats.check_chat_messages(p_format, p_messages) limit 1;
  if found then
    -- a list names the index (messages.3.parts.1.type); a single message (p_path message, response.message) does not
    raise exception '%: %', concat_ws('.', p_path, case when v.idx >= 0 and p_path like '%messages' then v.idx::text end, nullif(v.path, '')),
                            v.problem
      using errcode = 'AJC20',
            hint = case when p_format = 'ui'
                        then 'Send AI SDK UIMessages: {id, role: system | user | assistant, parts: [{type, …}], metadata?}.'
                        else 'Send OpenAI chat-completions messages: {role, content: string | parts | null, tool_calls?, tool_call_id?, name?, …}.' end;
  end if;
end
$$;

comment on function chat_formats.assert_chat_messages(text, jsonb, text) is 'Raises AJC20 naming the first problem of a chat message list.';

/**
 * Writes chat-client messages into a conversation: p_items is an array of {message, position, client_message_id?,
 * metadata?} (client_message_id defaults to message.id; metadata, our own column, is kept as stored when absent).
 * Upserts chat_messages_v2 by (conversation_id, client_message_id) — an unchanged message is not written (no
 * version bump), a soft-deleted one comes back — and chat_client_messages by message. Returns the ids in item order
 * with created = true for new messages. The caller validates first and derives tool calls / files afterwards.
 */
create function chat_formats.store_chat_messages(p_conversation_id uuid, p_owner uuid, p_agent_id uuid, p_format text, p_items jsonb)
returns table (message_id uuid, client_message_id text, created boolean)
language plpgsql
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_rows jsonb;
  v_bad record;
  v_created uuid[];
begin
  select coalesce(jsonb_agg(jsonb_build_object(
           'i', i.ord - 1,
           'client_message_id', coalesce(i.item ->> 'client_message_id', i.item -> 'message' ->> 'id'),
           'role', s.role, 'content', s.content, 'envelope', s.envelope,
           'metadata', i.item -> 'metadata', 'position', (i.item ->> 'position')::integer) order by i.ord), '[]'::jsonb)
    into v_rows
    from jsonb_array_elements(p_items) with ordinality as i (item, ord)
   cross join lateral chat_formats.split_chat_message(p_format, i.item -> 'message') as s;

  select r.i, r.client_message_id, m.role as stored, r.role as given into v_bad
    from jsonb_to_recordset(v_rows) as r (i integer, client_message_id text, role public.message_role)
    join public.chat_messages_v2 m on m.conversation_id = p_conversation_id and m.client_message_id = r.client_message_id
   where m.role <> r.role
   order by r.i
   limit 1;
  if found then
    raise exception 'messages.%.role: message % is already saved as a % message; a message''s role never changes', v_bad.i, v_bad.client_message_id, v_bad.stored
      using errcode = 'AJC21',
            hint = 'Give the new message its own id (UIMessage.id), or keep the role it was saved with.';
  end if;

  with up as (
    insert into public.chat_messages_v2 as m (conversation_id, user_id, agent_id, role, content, metadata, client_message_id)
    select p_conversation_id, p_owner, p_agent_id, r.role, r.content,
           coalesce(r.metadata, e.metadata, '{}'::jsonb), r.client_message_id
      from jsonb_to_recordset(v_rows) as r (i integer, client_message_id text, role public.message_role, content jsonb, metadata jsonb)
      left join public.chat_messages_v2 e on e.conversation_id = p_conversation_id and e.client_message_id = r.client_message_id
     order by r.i
    on conflict on constraint chat_messages_v2_conversation_id_client_message_id_key do update
       set content = excluded.content, metadata = excluded.metadata, deleted_at = null
     where m.content is distinct from excluded.content
        or m.metadata is distinct from excluded.metadata
        or m.deleted_at is not null
    returning m.id, (m.xmax = 0) as inserted
  )
  select coalesce(array_agg(up.id) filter (where up.inserted), '{}') into v_created from up;

  return query
    select m.id, m.client_message_id, m.id = any (v_created)
      from jsonb_to_recordset(v_rows) as r (i integer, client_message_id text)
      join public.chat_messages_v2 m on m.conversation_id = p_conversation_id and m.client_message_id = r.client_message_id
     order by r.i;

  insert into public.chat_client_messages as f (message_id, position, format, envelope)
  select m.id, r.position, p_format, r.envelope
    from jsonb_to_recordset(v_rows) as r (client_message_id text, position integer, envelope jsonb)
    join public.chat_messages_v2 m on m.conversation_id = p_conversation_id and m.client_message_id = r.client_message_id
  on conflict on constraint chat_client_messages_pkey do update
     set position = excluded.position, format = excluded.format, envelope = excluded.envelope
   where (f.position, f.format, f.envelope) is distinct from (excluded.position, excluded.format, excluded.envelope);
end
$$;

comment on function chat_formats.store_chat_messages(uuid, uuid, uuid, text, jsonb) is
  'Upserts chat-client messages (by client_message_id) and their position / format / envelope; returns their ids.';

/**
 * Derives the normalized rows of chat-client messages from their parts, set-based:
 *  - chat_tool_calls: one row per (message, tool call id), in part order (position): AI SDK tool parts (tool-<name>,
 *    dynamic-tool) with tool_name, args = input, result = output (output-available) or errorText (output-error),
 *    is_partial for input-streaming / input-available, state = the part's state; OpenAI tool calls with args =
 *    function.arguments as JSON (the text when it is not JSON) and result = the content of the live tool message that
 *    answers it (state output-available) or none yet (input-available, partial). Existing rows are updated in place;
 *    rows of these messages the parts no longer hold (and rows without a state) are deleted.
 *  - chat_message_attachments: one row per file part (AI SDK file; OpenAI image_url, input_audio, file) in order:
 *    storage_path = the URL, or `message:<id>/parts/<n>` for inline data (the bytes stay in the part, once),
 *    `openai-file:<id>` for an OpenAI file id; size_bytes for base64 data; metadata.part_index.
 */
create function chat_formats.derive_chat_rows(p_conversation_id uuid, p_message_ids uuid[])
returns void
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_tools jsonb;
  v_files jsonb;
begin
  with t as (
    select m.id, f.format, m.content -> 'parts' as parts
      from public.chat_messages_v2 m
      join public.chat_client_messages f on f.message_id = m.id
     where m.id = any (p_message_ids) and m.content ->> 'type' = 'parts'
  ),
  answers as (
    select distinct on (a.tid) a.tid, a.result
      from (
        select f.envelope -> 'fields' ->> 'tool_call_id' as tid, f.position, m.created_at,
               chat_formats.json_or_text(case f.envelope ->> 'content_form'
                 when 'string' then (select p.part ->> 'text' from jsonb_array_elements(m.content -> 'parts') p (part) limit 1)
                 else (select string_agg(p.part ->> 'text', '' order by p.ord)
                         from jsonb_array_elements(case when m.content ->> 'type' = 'parts' then m.content -> 'parts' else '[]'::jsonb end)
                              with ordinality p (part, ord)
                        where p.part ->> 'type' = 'text') end) as result
          from public.chat_messages_v2 m
          join public.chat_client_messages f on f.message_id = m.id
         where m.conversation_id = p_conversation_id and m.deleted_at is null and f.format = 'openai'
           and m.role = 'tool' and jsonb_typeof(f.envelope -> 'fields' -> 'tool_call_id') = 'string'
      ) a
     order by a.tid, a.position desc, a.created_at desc
  ),
  calls as (
    select t.id as message_id, p.ord, p.part ->> 'toolCallId' as tool_call_id,
           case when p.part ->> 'type' = 'dynamic-tool' then coalesce(p.part ->> 'toolName', '') else substr(p.part ->> 'type', 6) end as tool_name,
           p.part -> 'input' as args,
           case p.part ->> 'state' when 'output-available' then p.part -> 'output' when 'output-error' then p.part -> 'errorText' end as result,
           p.part ->> 'state' as state
      from t cross join lateral jsonb_array_elements(t.parts) with ordinality as p (part, ord)
     where t.format = 'ui' and (p.part ->> 'type' like 'tool-%' or p.part ->> 'type' = 'dynamic-tool')
       and jsonb_typeof(p.part -> 'toolCallId') = 'string'
    union all
    select t.id, p.ord, p.part -> 'tool_call' ->> 'id',
           coalesce(p.part -> 'tool_call' -> 'function' ->> 'name', p.part -> 'tool_call' -> 'custom' ->> 'name', p.part -> 'tool_call' ->> 'type', ''),
           chat_formats.json_or_text(coalesce(p.part -> 'tool_call' -> 'function' ->> 'arguments', p.part -> 'tool_call' -> 'custom' ->> 'input')),
           a.result,
           case when a.tid is null then 'input-available' else 'output-available' end
      from t cross join lateral jsonb_array_elements(t.parts) with ordinality as p (part, ord)
      left join answers a on a.tid = p.part -> 'tool_call' ->> 'id'
     where t.format = 'openai' and p.part ->> 'type' = 'openai.tool_call' and jsonb_typeof(p.part -> 'tool_call' -> 'id') = 'string'
  ),
  last_state as (
    -- the same id twice in one message: the later part wins
    select distinct on (c.message_id, c.tool_call_id) c.* from calls c order by c.message_id, c.tool_call_id, c.ord desc
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'message_id', l.message_id, 'tool_call_id', l.tool_call_id, 'tool_name', l.tool_name, 'args', l.args,
           'result', l.result, 'state', l.state,
           'is_partial', coalesce(l.state in ('input-streaming', 'input-available'), false),
           'position', l.position)), '[]'::jsonb)
    into v_tools
    from (select ls.*, (row_number() over (partition by ls.message_id order by ls.ord) - 1)::integer as position from last_state ls) l;

  delete from public.chat_tool_calls c
   where c.message_id = any (p_message_ids)
     and (c.state is null
          or not exists (select 1 from jsonb_to_recordset(v_tools) as d (message_id uuid, tool_call_id text)
                          where d.message_id = c.message_id and d.tool_call_id = c.tool_call_id));
  -- (message_id, position) is unique and checked row by row: rows that move step aside first.
  update public.chat_tool_calls c set position = c.position + 1000000
    from jsonb_to_recordset(v_tools) as d (message_id uuid, tool_call_id text, position integer)
   where c.message_id = d.message_id and c.tool_call_id = d.tool_call_id and c.state is not null and c.position <> d.position;
  insert into public.chat_tool_calls as c (message_id, position, tool_call_id, tool_name, args, result, is_partial, state)
  select d.message_id, d.position, d.tool_call_id, d.tool_name, d.args, d.result, d.is_partial, d.state
    from jsonb_to_recordset(v_tools) as d (message_id uuid, position integer, tool_call_id text, tool_name text, args jsonb,
                                           result jsonb, is_partial boolean, state text)
  on conflict (message_id, tool_call_id) where state is not null do update
     set position = excluded.position, tool_name = excluded.tool_name, args = excluded.args, result = excluded.result,
         is_partial = excluded.is_partial, state = excluded.state
   where (c.position, c.tool_name, c.args, c.result, c.is_partial, c.state)
         is distinct from (excluded.position, excluded.tool_name, excluded.args, excluded.result, excluded.is_partial, excluded.state);

  with t as (
    select m.id, f.format, m.content -> 'parts' as parts
      from public.chat_messages_v2 m
      join public.chat_client_messages f on f.message_id = m.id
     where m.id = any (p_message_ids) and m.content ->> 'type' = 'parts'
  ),
  files as (
    select t.id as message_id, p.ord, p.part ->> 'type' as type,
           case p.part ->> 'type'
             when 'file' then case when t.format = 'ui' then p.part ->> 'url' else p.part -> 'file' ->> 'file_data' end
             when 'image_url' then p.part -> 'image_url' ->> 'url'
           end as url,
           case when p.part ->> 'type' = 'input_audio' then p.part -> 'input_audio' ->> 'data' end as audio_b64,
           case when t.format = 'openai' and p.part ->> 'type' = 'file' then p.part -> 'file' ->> 'file_id' end as file_id,
           case p.part ->> 'type'
             when 'file' then coalesce(nullif(case when t.format = 'ui' then p.part ->> 'filename' else p.part -> 'file' ->> 'filename' end, ''),
                                       case when t.format = 'openai' then p.part -> 'file' ->> 'file_id' end, 'file')
             when 'image_url' then 'image'
             when 'input_audio' then 'audio.' || coalesce(p.part -> 'input_audio' ->> 'format', 'bin')
           end as name,
           case when t.format = 'ui' then p.part ->> 'mediaType'
                when p.part ->> 'type' = 'input_audio' then 'audio/' || coalesce(p.part -> 'input_audio' ->> 'format', 'unknown')
           end as media_type
      from t cross join lateral jsonb_array_elements(t.parts) with ordinality as p (part, ord)
     where (t.format = 'ui' and p.part ->> 'type' = 'file')
        or (t.format = 'openai' and p.part ->> 'type' in ('image_url', 'input_audio', 'file'))
  ),
  shaped as (
    select f.*,
           coalesce(f.audio_b64, case when f.url like 'data:%;base64,%' then substr(f.url, strpos(f.url, ',') + 1) end) as b64,
           (row_number() over (partition by f.message_id order by f.ord) - 1)::integer as position
      from files f
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'message_id', s.message_id, 'position', s.position, 'type', s.type, 'name', s.name,
           'storage_path', case when s.url is not null and s.url not like 'data:%' then s.url
                                when s.file_id is not null and s.url is null then 'openai-file:' || s.file_id
                                else 'message:' || s.message_id || '/parts/' || (s.ord - 1) end,
           'mime_type', coalesce(s.media_type, substring(s.url from '^data:([^;,]+)')),
           'size_bytes', case when s.b64 is not null
                              then (char_length(s.b64) / 4) * 3 - (case when s.b64 like '%==' then 2 when s.b64 like '%=' then 1 else 0 end) end,
           'metadata', jsonb_build_object('part_index', s.ord - 1))), '[]'::jsonb)
    into v_files
    from shaped s;

  delete from public.chat_message_attachments a
   where a.message_id = any (p_message_ids)
     and not exists (select 1 from jsonb_to_recordset(v_files) as d (message_id uuid, position integer)
                      where d.message_id = a.message_id and d.position = a.position);
  insert into public.chat_message_attachments as a (message_id, position, type, name, storage_path, mime_type, size_bytes, metadata)
  select d.message_id, d.position, d.type, d.name, d.storage_path, d.mime_type,
         case when d.size_bytes >= 0 then d.size_bytes end, d.metadata
    from jsonb_to_recordset(v_files) as d (message_id uuid, position integer, type text, name text, storage_path text,
                                           mime_type text, size_bytes bigint, metadata jsonb)
  on conflict (message_id, position) do update
     set type = excluded.type, name = excluded.name, storage_path = excluded.storage_path, mime_type = excluded.mime_type,
         size_bytes = excluded.size_bytes, metadata = excluded.metadata
   where (a.type, a.name, a.storage_path, a.mime_type, a.size_bytes, a.metadata)
         is distinct from (excluded.type, excluded.name, excluded.storage_path, excluded.mime_type, excluded.size_bytes, excluded.metadata);
end
$$;

comment on function chat_formats.derive_chat_rows(uuid, uuid[]) is
  'Derives chat_tool_calls and chat_message_attachments rows of chat-client messages from their parts (in place).';

/**
 * The messages whose tool-call rows a write of p_message_ids affects: those messages, plus the OpenAI assistant
 * messages of the conversation holding a tool call that one of them (a tool message) answers.
 */
create function chat_formats.affected_chat_messages(p_conversation_id uuid, p_message_ids uuid[])
returns uuid[]
language sql
stable
set search_path = ''
as $$
  select array(
    select unnest(p_message_ids)
    union
    select m.id
      from public.chat_messages_v2 m
      join public.chat_client_messages f on f.message_id = m.id and f.format = 'openai'
     cross join lateral jsonb_array_elements(m.content -> 'parts') as p (part)
     where m.conversation_id = p_conversation_id and m.content ->> 'type' = 'parts'
       and p.part ->> 'type' = 'openai.tool_call'
       and p.part -> 'tool_call' ->> 'id' in (
         select tf.envelope -> 'fields' ->> 'tool_call_id'
           from public.chat_client_messages tf
          where tf.message_id = any (p_message_ids) and tf.format = 'openai')
  )
$$;

comment on function chat_formats.affected_chat_messages(uuid, uuid[]) is
  'Messages whose normalized rows a write of these messages changes (they, and OpenAI calls their tool messages answer).';

-- The API functions run as the caller (security invoker), so the caller executes these too.
revoke execute on function chat_formats.open_chat(uuid, uuid, text, uuid), chat_formats.assert_chat_messages(text, jsonb, text),
  chat_formats.store_chat_messages(uuid, uuid, uuid, text, jsonb), chat_formats.derive_chat_rows(uuid, uuid[]),
  chat_formats.affected_chat_messages(uuid, uuid[])
  from public, anon;
grant execute on function chat_formats.open_chat(uuid, uuid, text, uuid), chat_formats.assert_chat_messages(text, jsonb, text),
  chat_formats.store_chat_messages(uuid, uuid, uuid, text, jsonb), chat_formats.derive_chat_rows(uuid, uuid[]),
  chat_formats.affected_chat_messages(uuid, uuid[])
  to authenticated, service_role;
