-- Chat-client formats, 1 of 4: where AI SDK UIMessage chats and OpenAI chat-completions transcripts are kept, and
-- the pure conversions between a client's message and its stored row.
--
-- Purpose : what real chat clients send is kept exactly (GET /chats/:id returns it deep-equal) AND queryable in SQL.
--           A saved message is a chat_messages_v2 row whose content is {"type":"parts","parts":[…]} holding the
--           client's parts verbatim (OpenAI content parts as they are, OpenAI tool calls as parts of type
--           "openai.tool_call"), client_message_id = the client's id, plus a row in the new table
--           chat_client_messages: the message's position in the chat, its format and an envelope with every
--           other field of the original (UIMessage.metadata, OpenAI name / refusal / tool_call_id / audio …, and
--           unknown fields too). Tool parts are also derived into chat_tool_calls (new column `state`, one row per
--           message and tool call id, updated in place), file parts into chat_message_attachments
--           (20250814000001). docs/chat-clients.md.
--           The chat-client migrations: 20250814000000 storage and conversions (this file), 20250814000001 the
--           internal write path (store, derive), 20250814000002 the chat API (save_chat, append_chat_message,
--           record_chat_turn, load_chat), 20250814000003 policy events recorded by users.
-- Objects : table public.chat_client_messages (RLS through the message, like attachments);
--           column public.chat_tool_calls.state and the partial unique index
--           chat_tool_calls_message_id_tool_call_id_key (message_id, tool_call_id) where state is not null;
--           schema chat_formats (internal) with try_json, json_or_text, check_chat_messages, split_chat_message,
--           chat_message_original.
-- Depends : 20250805074454 (schema v2, every file of it through that one), not the data migration nor the vector
--           index tuning 20250813000000: rolling those back leaves the chat-client files applied.
-- Locks   : ALTER TABLE … ADD COLUMN (nullable) on chat_tool_calls: a brief ACCESS EXCLUSIVE lock, no rewrite. The
--           CHECK is added NOT VALID and validated separately (SHARE UPDATE EXCLUSIVE: writes go on).
--           CREATE UNIQUE INDEX on chat_tool_calls blocks writes to that table while it builds (seconds per
--           million rows; the index only holds rows with a state, none before this migration). On a very large
--           production table run `create unique index concurrently` by hand first (same name and definition):
--           the `if not exists` below then skips it.
-- Rollback: supabase/rollbacks/20250814000000_create_chat_client_formats.down.sql (after 20250814000001..03's).
--
-- SQLSTATEs of the chat-client API (class AJ; every one with a HINT; catalogue in docs/schema.md):
--   AJC20 an invalid chat message: the message names the index and the path of the first problem
--   AJC21 a saved message id already holds a message of another role (a role never changes)
--   reused: AJC03 agent, AJC07 conversation, AJC14 message not found; AJC04 invalid parameter; AJC15 no owner;
--   AJC18 modified_message_id not in the same conversation; 42501 a user naming another owner

-- ---------------------------------------------------------------------------------------------------------
-- Tables and columns
-- ---------------------------------------------------------------------------------------------------------

/**
 * How a chat client sent a message, so it can be given back exactly: its position in the chat (order is this,
 * never created_at ties), its format ('ui' = AI SDK UIMessage, 'openai' = chat-completions message) and the
 * envelope — {"fields": every key of the original message that is not in content (UIMessage: all but id, role,
 * parts; OpenAI: all but a string / array content and an array tool_calls)} plus, for OpenAI, "content_form"
 * ('string' | 'array', when content was split into parts) and "tool_calls_split" (true when tool_calls was).
 * The parts themselves are chat_messages_v2.content. Messages written by POST /messages have no row here.
 */
create table public.chat_client_messages (
  message_id uuid primary key references public.chat_messages_v2 (id) on delete cascade,
  position integer not null check (position >= 0),
  format text not null check (format in ('ui', 'openai')),
  envelope jsonb not null default '{}'::jsonb check (jsonb_typeof(envelope) = 'object'),
  created_at timestamptz not null default now()
);

comment on table public.chat_client_messages is
  'Per chat-client message: position in the chat, format (ui | openai) and the envelope of fields outside the parts; lossless round trips.';

alter table public.chat_client_messages enable row level security;
revoke all on table public.chat_client_messages from anon;
revoke truncate on table public.chat_client_messages from authenticated;

-- Through the message, like attachments and tool calls: reads inline, writes through chat_private.owns_message.
create policy "Users can read the client format of their messages" on public.chat_client_messages
  for select to authenticated
  using (exists (select 1 from public.chat_messages_v2 m where m.id = chat_client_messages.message_id and m.user_id = (select auth.uid())));
create policy "Users can add the client format of their messages" on public.chat_client_messages
  for insert to authenticated
  with check (chat_private.owns_message(message_id));
create policy "Users can update the client format of their messages" on public.chat_client_messages
  for update to authenticated
  using (chat_private.owns_message(message_id))
  with check (chat_private.owns_message(message_id));
create policy "Users can delete the client format of their messages" on public.chat_client_messages
  for delete to authenticated
  using (chat_private.owns_message(message_id));

/**
 * chat_tool_calls.state: the tool call's state as the client last saved it (AI SDK: input-streaming,
 * input-available, approval-requested, approval-responded, output-available, output-error, output-denied, or a
 * state a later SDK adds; OpenAI: input-available until a tool message answers it, then output-available). Null
 * for rows from the legacy arrays and POST /messages. Rows with a state are unique per (message, tool call id):
 * a state change updates the row in place.
 */
alter table public.chat_tool_calls add column state text;
alter table public.chat_tool_calls
  add constraint chat_tool_calls_state_check check (state is null or char_length(state) between 1 and 100) not valid;
alter table public.chat_tool_calls validate constraint chat_tool_calls_state_check;
comment on column public.chat_tool_calls.state is
  'State of a tool call derived from a chat client''s message (AI SDK tool part state; OpenAI input-available / output-available); null for legacy and POST /messages rows.';

create unique index if not exists chat_tool_calls_message_id_tool_call_id_key
  on public.chat_tool_calls (message_id, tool_call_id) where state is not null;

-- ---------------------------------------------------------------------------------------------------------
-- Internal helpers, in a schema of their own (not exposed by the API). The API functions run as the caller
-- (security invoker), so the API roles need USAGE on it and EXECUTE on these; every one is security invoker too,
-- so calling one directly reaches nothing RLS would not let the caller reach anyway.
-- ---------------------------------------------------------------------------------------------------------

create schema chat_formats;
comment on schema chat_formats is 'Internal helpers of the chat-client formats (20250814000000); not exposed by the API.';
revoke all on schema chat_formats from public;
grant usage on schema chat_formats to authenticated, service_role;

/** Parses text as JSON; null when it is not JSON. An EXCEPTION block: not parallel safe. */
create function chat_formats.try_json(p_text text)
returns jsonb
language plpgsql
immutable
set search_path = ''
as $$
begin
  return p_text::jsonb;
exception when others then
  return null;
end
$$;

comment on function chat_formats.try_json(text) is 'p_text as jsonb, or null when it is not JSON.';

/**
 * A tool call's arguments or a tool's answer as text → jsonb: the JSON it holds when it holds JSON, else the text
 * as a JSON string (the data migration's rule for legacy args). The original bytes stay in the message's parts.
 */
create function chat_formats.json_or_text(p_text text)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select case
    when p_text is null then null
    -- cheap pre-check, so plain prose skips the exception path of try_json
    when p_text ~ '^\s*([\[{"]|-?[0-9]|true\s*$|false\s*$|null\s*$)' then coalesce(chat_formats.try_json(p_text), to_jsonb(p_text))
    else to_jsonb(p_text)
  end
$$;

comment on function chat_formats.json_or_text(text) is 'Text holding JSON as that JSON, other text as a JSON string.';

/**
 * The first problem of a chat message list, as (index, path, problem), or no row when every message is one this
 * schema can store. p_format 'ui': {id: 1..200 chars, role: system | user | assistant, parts: [objects with a
 * non-empty string type; text parts with a string text; tool parts (tool-*, dynamic-tool) with a string
 * toolCallId; dynamic-tool with a string toolName; file parts with string mediaType and url], metadata: any};
 * ids unique in the list. 'openai': {role: system | developer | user | assistant | tool | function, content:
 * string | null | array of parts (objects with a string type other than "openai.tool_call"; text parts with a
 * string text), tool_calls: array of objects with a string id, tool: a string tool_call_id}. The edge functions
 * check the full AI SDK / OpenAI shapes before this; this is what storage and the CHECK need, for psql callers too.
 */
create function chat_formats.check_chat_messages(p_format text, p_messages jsonb)
returns table (idx integer, path text, problem text)
language sql
immutable
parallel safe
set search_path = ''
as $$
  with msgs as (
    select (e.ord - 1)::integer as i, e.m,
           -- > 1 for the second and later message with the same id
           row_number() over (partition by case when jsonb_typeof(e.m -> 'id') = 'string' then e.m ->> 'id' end order by e.ord) as id_rank
      from jsonb_array_elements(case when jsonb_typeof(p_messages) = 'array' then p_messages else '[]'::jsonb end)
           with ordinality as e (m, ord)
  ),
  problems as (
    -- the list itself
    select -1 as i, 0 as k, '' as path, 'must be an array of messages' as problem
     where jsonb_typeof(p_messages) is distinct from 'array'
    union all
    -- message level
    select x.i, 0, x.path, x.problem from msgs
    cross join lateral (
      select msgs.i, v.path, v.problem from (values
        (1, '', case when jsonb_typeof(msgs.m) <> 'object' then 'must be an object' end),
        (2, 'id', case when p_format = 'ui' and jsonb_typeof(msgs.m) = 'object'
                        and (jsonb_typeof(msgs.m -> 'id') is distinct from 'string' or char_length(msgs.m ->> 'id') not between 1 and 200)
                       then 'must be a string of 1 to 200 characters' end),
        (3, 'role', case when jsonb_typeof(msgs.m) = 'object' and coalesce(msgs.m ->> 'role', '') <> all (
                           case when p_format = 'ui' then array['system', 'user', 'assistant']
                                else array['system', 'developer', 'user', 'assistant', 'tool', 'function'] end)
                         then case when p_format = 'ui' then 'must be one of system, user, assistant'
                                   else 'must be one of system, developer, user, assistant, tool, function' end end),
        (4, 'parts', case when p_format = 'ui' and jsonb_typeof(msgs.m) = 'object' and jsonb_typeof(msgs.m -> 'parts') is distinct from 'array'
                          then 'must be an array of parts' end),
        (5, 'content', case when p_format = 'openai' and jsonb_typeof(msgs.m) = 'object' and msgs.m ? 'content'
                             and jsonb_typeof(msgs.m -> 'content') not in ('string', 'array', 'null')
                            then 'must be a string, an array of content parts or null' end),
        (6, 'tool_calls', case when p_format = 'openai' and jsonb_typeof(msgs.m) = 'object' and msgs.m ? 'tool_calls'
                                and jsonb_typeof(msgs.m -> 'tool_calls') not in ('array', 'null')
                               then 'must be an array of tool calls' end),
        (7, 'tool_call_id', case when p_format = 'openai' and jsonb_typeof(msgs.m) = 'object' and msgs.m ->> 'role' = 'tool'
                                  and jsonb_typeof(msgs.m -> 'tool_call_id') is distinct from 'string'
                                 then 'must be a string (the id of the tool call this message answers)' end),
        (8, 'id', case when p_format = 'ui' and jsonb_typeof(msgs.m -> 'id') = 'string' and msgs.id_rank > 1
                       then 'is the id of an earlier message in the list; message ids must be unique' end)
      ) as v (n, path, problem)
      where v.problem is not null
      order by v.n
      limit 1
    ) x
    union all
    -- parts (UI parts, OpenAI content parts)
    select msgs.i, 1 + p.ord::integer, pp.path, pp.problem
      from msgs
     cross join lateral jsonb_array_elements(
             case when p_format = 'ui' and jsonb_typeof(msgs.m -> 'parts') = 'array' then msgs.m -> 'parts'
                  when p_format = 'openai' and jsonb_typeof(msgs.m -> 'content') = 'array' then msgs.m -> 'content'
                  else '[]'::jsonb end) with ordinality as p (part, ord)
     cross join lateral (
       select (case when p_format = 'ui' then 'parts.' else 'content.' end) || (p.ord - 1) || v.suffix as path, v.problem
         from (values
           (1, '', case when jsonb_typeof(p.part) <> 'object' then 'must be an object' end),
           (2, '.type', case when jsonb_typeof(p.part) = 'object'
                              and (jsonb_typeof(p.part -> 'type') is distinct from 'string' or p.part ->> 'type' = '')
                             then 'must be a non-empty string' end),
           (3, '.type', case when p_format = 'openai' and p.part ->> 'type' = 'openai.tool_call'
                             then 'openai.tool_call is reserved for tool calls; send them in tool_calls' end),
           (4, '.text', case when p.part ->> 'type' = 'text' and jsonb_typeof(p.part -> 'text') is distinct from 'string'
                             then 'must be a string' end),
           (5, '.toolCallId', case when p_format = 'ui' and (p.part ->> 'type' like 'tool-%' or p.part ->> 'type' = 'dynamic-tool')
                                    and jsonb_typeof(p.part -> 'toolCallId') is distinct from 'string'
                                   then 'must be a string' end),
           (6, '.toolName', case when p_format = 'ui' and p.part ->> 'type' = 'dynamic-tool'
                                  and jsonb_typeof(p.part -> 'toolName') is distinct from 'string'
                                 then 'must be a string' end),
           (7, '.mediaType', case when p_format = 'ui' and p.part ->> 'type' = 'file'
                                   and jsonb_typeof(p.part -> 'mediaType') is distinct from 'string'
                                  then 'must be a string' end),
           (8, '.url', case when p_format = 'ui' and p.part ->> 'type' = 'file'
                             and jsonb_typeof(p.part -> 'url') is distinct from 'string'
                            then 'must be a string' end)
         ) as v (n, suffix, problem)
        where v.problem is not null
        order by v.n
        limit 1
     ) pp
    union all
    -- OpenAI tool calls
    select msgs.i, 100000 + t.ord::integer, 'tool_calls.' || (t.ord - 1) || '.id', 'must be a string'
      from msgs
     cross join lateral jsonb_array_elements(case when p_format = 'openai' and jsonb_typeof(msgs.m -> 'tool_calls') = 'array'
                                                  then msgs.m -> 'tool_calls' else '[]'::jsonb end) with ordinality as t (tc, ord)
     where jsonb_typeof(t.tc -> 'id') is distinct from 'string'
  )
  select p.i, p.path, p.problem from problems p order by p.i, p.k limit 1
$$;

comment on function chat_formats.check_chat_messages(text, jsonb) is
  'First problem (index, path, problem) of a chat message list in format ui or openai; no row when it can be stored.';

/**
 * One client message split for storage: the role it is stored under (OpenAI developer → system, function → tool),
 * the content ({"type":"parts","parts":[…]}, or {"type":"text","text":""} when there is no part at all — the CHECK
 * wants at least one part) and the envelope (see chat_client_messages).
 */
create function chat_formats.split_chat_message(p_format text, p_message jsonb)
returns table (role public.message_role, content jsonb, envelope jsonb)
language sql
immutable
parallel safe
set search_path = ''
as $$
  with s as (
    select
      case when p_format = 'ui' then p_message -> 'parts'
           else case jsonb_typeof(p_message -> 'content')
                  when 'string' then jsonb_build_array(jsonb_build_object('type', 'text', 'text', p_message -> 'content'))
                  when 'array' then p_message -> 'content'
                  else '[]'::jsonb end
                || coalesce((select jsonb_agg(jsonb_build_object('type', 'openai.tool_call', 'tool_call', t.tc) order by t.ord)
                               from jsonb_array_elements(case when jsonb_typeof(p_message -> 'tool_calls') = 'array'
                                                              then p_message -> 'tool_calls' else '[]'::jsonb end)
                                    with ordinality as t (tc, ord)), '[]'::jsonb)
      end as parts,
      case when p_format = 'ui' then jsonb_build_object('fields', p_message - 'id' - 'role' - 'parts')
           else jsonb_build_object('fields',
                  p_message
                  - (case when jsonb_typeof(p_message -> 'content') in ('string', 'array') then 'content' else '' end)
                  - (case when jsonb_typeof(p_message -> 'tool_calls') = 'array' then 'tool_calls' else '' end))
                || case when jsonb_typeof(p_message -> 'content') in ('string', 'array')
                        then jsonb_build_object('content_form', jsonb_typeof(p_message -> 'content')) else '{}'::jsonb end
                || case when jsonb_typeof(p_message -> 'tool_calls') = 'array'
                        then '{"tool_calls_split": true}'::jsonb else '{}'::jsonb end
      end as envelope
  )
  select
    (case p_message ->> 'role' when 'developer' then 'system' when 'function' then 'tool' else p_message ->> 'role' end)::public.message_role,
    case when jsonb_array_length(s.parts) = 0 then '{"type":"text","text":""}'::jsonb
         else jsonb_build_object('type', 'parts', 'parts', s.parts) end,
    s.envelope
  from s
$$;

comment on function chat_formats.split_chat_message(text, jsonb) is
  'Splits a UIMessage / OpenAI message into stored role, content (parts) and envelope; inverse of chat_message_original.';

/**
 * The message exactly as the client saved it, rebuilt from its row: the inverse of split_chat_message. Messages
 * without a client format (POST /messages, the data migration) come back as UIMessage-like objects
 * ({id: client_message_id or the uuid, role, parts}).
 */
create function chat_formats.chat_message_original(
  p_format text, p_envelope jsonb, p_content jsonb, p_role public.message_role, p_client_message_id text, p_id uuid
)
returns jsonb
language sql
immutable
parallel safe
set search_path = ''
as $$
  select case
    when p_format = 'ui' then
      coalesce(p_envelope -> 'fields', '{}'::jsonb)
      || jsonb_build_object('id', p_client_message_id, 'role', p_role,
                            'parts', case when p_content ->> 'type' = 'parts' then p_content -> 'parts' else '[]'::jsonb end)
    when p_format = 'openai' then
      coalesce(p_envelope -> 'fields', '{}'::jsonb)
      || case p_envelope ->> 'content_form'
           when 'string' then jsonb_build_object('content', (
             select p.part -> 'text' from jsonb_array_elements(p_content -> 'parts') with ordinality as p (part, ord)
              where p.part ->> 'type' <> 'openai.tool_call' order by p.ord limit 1))
           when 'array' then jsonb_build_object('content', coalesce((
             select jsonb_agg(p.part order by p.ord)
               from jsonb_array_elements(case when p_content ->> 'type' = 'parts' then p_content -> 'parts' else '[]'::jsonb end)
                    with ordinality as p (part, ord)
              where p.part ->> 'type' <> 'openai.tool_call'), '[]'::jsonb))
           else '{}'::jsonb end
      || case when p_envelope -> 'tool_calls_split' = 'true'::jsonb then jsonb_build_object('tool_calls', coalesce((
             select jsonb_agg(p.part -> 'tool_call' order by p.ord)
               from jsonb_array_elements(case when p_content ->> 'type' = 'parts' then p_content -> 'parts' else '[]'::jsonb end)
                    with ordinality as p (part, ord)
              where p.part ->> 'type' = 'openai.tool_call'), '[]'::jsonb))
           else '{}'::jsonb end
    else
      jsonb_build_object('id', coalesce(p_client_message_id, p_id::text), 'role', p_role,
                         'parts', case when p_content ->> 'type' = 'parts' then p_content -> 'parts'
                                       else jsonb_build_array(jsonb_build_object('type', 'text', 'text', coalesce(p_content -> 'text', '""'::jsonb))) end)
  end
$$;

comment on function chat_formats.chat_message_original(text, jsonb, jsonb, public.message_role, text, uuid) is
  'A stored chat-client message rebuilt exactly as it was sent (native messages as UIMessage-like objects).';

-- The API functions run as the caller (security invoker), so the caller executes these too.
revoke execute on function chat_formats.try_json(text), chat_formats.json_or_text(text),
  chat_formats.check_chat_messages(text, jsonb), chat_formats.split_chat_message(text, jsonb),
  chat_formats.chat_message_original(text, jsonb, jsonb, public.message_role, text, uuid)
  from public, anon;
grant execute on function chat_formats.try_json(text), chat_formats.json_or_text(text),
  chat_formats.check_chat_messages(text, jsonb), chat_formats.split_chat_message(text, jsonb),
  chat_formats.chat_message_original(text, jsonb, jsonb, public.message_role, text, uuid)
  to authenticated, service_role;
