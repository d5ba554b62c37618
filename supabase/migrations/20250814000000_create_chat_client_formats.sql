-- Chat-client formats: AI SDK UIMessage chats and OpenAI chat-completions transcripts stored losslessly, their
-- tool calls and files normalized, request/response turns, and policy events recorded by users.
--
-- Purpose : what real chat clients send is kept exactly (GET returns it deep-equal) AND queryable in SQL.
--           A saved message is a chat_messages_v2 row whose content is {"type":"parts","parts":[…]} holding the
--           client's parts verbatim (OpenAI content parts as they are, OpenAI tool calls as parts of type
--           "openai.tool_call"), client_message_id = the client's id, plus a row in the new table
--           chat_client_messages: the message's position in the chat, its format and an envelope with every
--           other field of the original (UIMessage.metadata, OpenAI name / refusal / tool_call_id / audio …, and
--           unknown fields too). Tool parts and OpenAI tool calls are ALSO derived into chat_tool_calls (one row
--           per message and tool call id, updated in place as its state moves on: new column `state`), file
--           parts into chat_message_attachments — in SQL, set-based, one call per save. docs/chat-clients.md.
--           policy_events gains policy_config, event_type and recorded_by, and users may record events on their
--           own messages (the table stays append-only for them: no update, no delete).
-- Objects : table public.chat_client_messages (RLS through the message, like attachments);
--           column public.chat_tool_calls.state and the partial unique index
--           chat_tool_calls_message_id_tool_call_id_key (message_id, tool_call_id) where state is not null;
--           columns public.policy_events.event_type, policy_config, recorded_by; policy_events.decision nullable;
--           insert privilege + policy on policy_events for authenticated;
--           functions public.save_chat, public.append_chat_message, public.record_chat_turn, public.load_chat,
--           public.record_policy_event; internal chat_formats.open_chat, check_chat_messages, split_chat_message,
--           chat_message_original, store_chat_messages, derive_chat_rows, json_or_text, try_json.
-- Locks   : ALTER TABLE … ADD COLUMN (nullable, or with a constant default) on chat_tool_calls and policy_events:
--           a brief ACCESS EXCLUSIVE lock each, no rewrite (constant defaults are stored in the catalog). The new
--           CHECK constraints are added NOT VALID and validated separately (SHARE UPDATE EXCLUSIVE: writes go on).
--           CREATE UNIQUE INDEX on chat_tool_calls blocks writes to that table while it builds (seconds per
--           million rows; the index only holds rows with a state, none before this migration). On a very large
--           production table run `create unique index concurrently` by hand first (same name and definition):
--           the `if not exists` below then skips it.
-- Rollback: supabase/rollbacks/20250814000000_create_chat_client_formats.down.sql (this file only); the whole-v2
--           rollback removes these objects too.
--
-- SQLSTATEs (class AJ; every one with a HINT; catalogue in docs/schema.md):
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

/**
 * policy_events, as the chat clients' API records them: the policy's class is policy_name, its configuration
 * policy_config, the kind of event event_type (a judge's verdict, a redaction, a block …; rows from before
 * have 'decision'), and recorded_by the database role that wrote the row (authenticated: the user's own
 * client; service_role: the server), so an audit can tell them apart. decision stays allow | flag | modify |
 * block, and may now be null for an event that decides nothing (a judge's score).
 */
alter table public.policy_events
  add column event_type text not null default 'decision',
  add column policy_config jsonb not null default '{}'::jsonb,
  add column recorded_by text;
alter table public.policy_events alter column recorded_by set default current_user;
alter table public.policy_events alter column decision drop not null;
alter table public.policy_events
  add constraint policy_events_event_type_check check (char_length(event_type) between 1 and 100) not valid,
  add constraint policy_events_policy_config_check check (jsonb_typeof(policy_config) = 'object') not valid;
alter table public.policy_events validate constraint policy_events_event_type_check;
alter table public.policy_events validate constraint policy_events_policy_config_check;

comment on column public.policy_events.policy_name is 'The policy''s class (API: policy_class), e.g. toxicity_judge.';
comment on column public.policy_events.event_type is 'What happened: judge, redaction, block, … (''decision'' for rows from before the chat-client API).';
comment on column public.policy_events.recorded_by is 'Database role that recorded the event (authenticated = the user''s client, service_role = the server); null before 20250814000000.';

-- Users record events on their own messages (POST /policy-events); they still never edit or delete one.
-- recorded_by, id and created_at are the defaults' business.
grant insert (user_id, conversation_id, policy_name, decision, original_message_id, modified_message_id, reason,
              metadata, event_type, policy_config)
  on table public.policy_events to authenticated;

create policy "Users can record policy events on their messages" on public.policy_events
  for insert to authenticated
  with check (
    user_id = (select auth.uid())
    and original_message_id is not null
    and exists (select 1 from public.chat_messages_v2 m
                 where m.id = original_message_id and m.user_id = (select auth.uid())
                   and m.conversation_id is not distinct from policy_events.conversation_id)
    and (modified_message_id is null or chat_private.owns_message(modified_message_id))
  );

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

/**
 * Records a policy decision on a message (POST /policy-events): p_policy_class (stored as policy_name),
 * p_event_type (judge, redaction, block, …), p_policy_config and p_metadata (objects), p_modified_message_id (the
 * rewrite, a message of the same conversation), p_decision (allow | flag | modify | block, or null) and p_reason.
 * The event belongs to the message's owner and conversation; recorded_by is the caller's role. A message the caller
 * cannot see raises AJC14.
 */
create function public.record_policy_event(
  p_message_id uuid,
  p_policy_class text,
  p_event_type text,
  p_policy_config jsonb default '{}'::jsonb,
  p_metadata jsonb default '{}'::jsonb,
  p_modified_message_id uuid default null,
  p_decision text default null,
  p_reason text default null
)
returns public.policy_events
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_message record;
  v_row public.policy_events;
begin
  if p_policy_class is null or char_length(p_policy_class) not between 1 and 200
     or p_event_type is null or char_length(p_event_type) not between 1 and 100 then
    raise exception 'a policy event needs its policy class (1 to 200 characters) and event type (1 to 100)'
      using errcode = 'AJC04', hint = 'Pass p_policy_class => ''toxicity_judge'', p_event_type => ''judge'' (or redaction, block, …).';
  end if;
  if jsonb_typeof(coalesce(p_policy_config, '{}'::jsonb)) <> 'object' or jsonb_typeof(coalesce(p_metadata, '{}'::jsonb)) <> 'object' then
    raise exception 'policy_config and metadata must be JSON objects'
      using errcode = 'AJC04', hint = 'Pass ''{}'' or an object such as ''{"threshold": 0.8}''.';
  end if;
  if p_decision is not null and p_decision not in ('allow', 'flag', 'modify', 'block') then
    raise exception 'unknown decision %', p_decision
      using errcode = 'AJC04', hint = 'A decision is allow, flag, modify or block (or null for an event that decides nothing).';
  end if;
  select m.id, m.user_id, m.conversation_id into v_message from public.chat_messages_v2 m where m.id = p_message_id;
  if not found then
    raise exception 'message % not found', p_message_id
      using errcode = 'AJC14', hint = 'Pass the id of a message of yours.';
  end if;
  if p_modified_message_id is not null and not exists (
       select 1 from public.chat_messages_v2 m where m.id = p_modified_message_id and m.conversation_id = v_message.conversation_id) then
    raise exception 'modified_message_id: % is not a message of the same conversation', p_modified_message_id
      using errcode = 'AJC18', hint = 'Name the message that replaced the original in its conversation, or leave it out.';
  end if;
  insert into public.policy_events (user_id, conversation_id, policy_name, decision, original_message_id, modified_message_id,
                                    reason, metadata, event_type, policy_config)
  values (v_message.user_id, v_message.conversation_id, p_policy_class, p_decision, p_message_id, p_modified_message_id,
          p_reason, coalesce(p_metadata, '{}'::jsonb), p_event_type, coalesce(p_policy_config, '{}'::jsonb))
  returning * into v_row;
  return v_row;
end
$$;

comment on function public.record_policy_event(uuid, text, text, jsonb, jsonb, uuid, text, text) is
  'Records a policy decision (judge, redaction, block, …) on a message you can see; returns the event.';

revoke execute on function public.record_policy_event(uuid, text, text, jsonb, jsonb, uuid, text, text) from public, anon;
grant execute on function public.record_policy_event(uuid, text, text, jsonb, jsonb, uuid, text, text) to authenticated, service_role;

-- Internal helpers: the API functions run as the caller (security invoker), so the caller executes these too.
revoke execute on function chat_formats.try_json(text), chat_formats.json_or_text(text),
  chat_formats.check_chat_messages(text, jsonb), chat_formats.split_chat_message(text, jsonb),
  chat_formats.chat_message_original(text, jsonb, jsonb, public.message_role, text, uuid),
  chat_formats.open_chat(uuid, uuid, text, uuid), chat_formats.assert_chat_messages(text, jsonb, text),
  chat_formats.store_chat_messages(uuid, uuid, uuid, text, jsonb), chat_formats.derive_chat_rows(uuid, uuid[]),
  chat_formats.affected_chat_messages(uuid, uuid[])
  from public, anon;
grant execute on function chat_formats.try_json(text), chat_formats.json_or_text(text),
  chat_formats.check_chat_messages(text, jsonb), chat_formats.split_chat_message(text, jsonb),
  chat_formats.chat_message_original(text, jsonb, jsonb, public.message_role, text, uuid),
  chat_formats.open_chat(uuid, uuid, text, uuid), chat_formats.assert_chat_messages(text, jsonb, text),
  chat_formats.store_chat_messages(uuid, uuid, uuid, text, jsonb), chat_formats.derive_chat_rows(uuid, uuid[]),
  chat_formats.affected_chat_messages(uuid, uuid[])
  to authenticated, service_role;
