-- Data migration legacy (v1) → v2, part 2 of 9: the mapping rules, as pure SQL functions.
--
-- Purpose : one definition of how a legacy row becomes v2 (docs/data-migration-sql.md "Mapping rules"): role
--           aliases, the reason a row is quarantined, tool-call args, tokens in metadata, the normalized
--           attachments and tool calls verify compares, v2 content back to legacy text — and tenancy, the
--           owner of a conversation (a legacy row migrates only when its user owns the conversation and the
--           agent it names; docs/data-migration-sql.md#tenancy).
-- Objects : functions chat_migration.map_role, try_jsonb, parse_args, json_int, message_problem_detail,
--           message_problem, content_text, v2_metadata, legacy_attachments_norm, legacy_tool_calls_norm,
--           legacy_conversation_owner, conversation_owner.
-- Locks   : none (functions only).
-- Rollback: supabase/rollbacks/20250806000001_create_chat_migration_mapping.down.sql

-- ---------------------------------------------------------------------------------------------------------
-- Pure conversion helpers. No `set search_path` clause on purpose: a SET clause stops the planner from
-- inlining SQL functions, and these run once per row on the hot path. They reference only pg_catalog.
-- ---------------------------------------------------------------------------------------------------------

/** Legacy role → v2 role; null means unknown (the row goes to quarantine). */
create function chat_migration.map_role(legacy_role text)
returns text
language sql
immutable
parallel safe
as $$
  select case lower(btrim(legacy_role))
    when 'user' then 'user' when 'human' then 'user'
    when 'assistant' then 'assistant' when 'ai' then 'assistant' when 'bot' then 'assistant'
    when 'system' then 'system'
    when 'tool' then 'tool' when 'function' then 'tool'
  end
$$;

/**
 * jsonb or null when the text is not valid JSON (PostgreSQL 15 has no pg_input_is_valid). PARALLEL UNSAFE (the
 * default) on purpose, like every function here with an EXCEPTION block: the block is a subtransaction, and
 * PostgreSQL 15 refuses to start one in a parallel query ("cannot start subtransactions during a parallel
 * operation") — labelled safe, it broke verify_chat_migration() whenever the planner chose a parallel plan.
 * Its callers (parse_args, legacy_tool_calls_norm) are unsafe for the same reason.
 * test/schema/function-labels.test.ts keeps every label honest.
 */
create function chat_migration.try_jsonb(t text)
returns jsonb
language plpgsql
immutable
set search_path = ''
as $$
begin
  return t::jsonb;
exception when others then
  return null;
end
$$;

/** Tool-call args: a string that holds JSON becomes that JSON; anything else is kept as it is. Calls try_jsonb: not parallel safe. */
create function chat_migration.parse_args(args jsonb)
returns jsonb
language sql
immutable
as $$
  select case
    -- cheap pre-check so plain strings skip the exception path of try_jsonb
    when jsonb_typeof(args) = 'string' and (args #>> '{}') ~ '^\s*([\[{"]|-?[0-9]|true\s*$|false\s*$|null\s*$)'
      then coalesce(chat_migration.try_jsonb(args #>> '{}'), args)
    else args
  end
$$;

/** An integer out of a JSON number (or numeric string), else null — never raises. */
create function chat_migration.json_int(v jsonb)
returns bigint
language sql
immutable
parallel safe
as $$
  select case
    when jsonb_typeof(v) = 'number' and (v #>> '{}') ~ '^-?[0-9]{1,18}(\.[0-9]+)?$' then round((v #>> '{}')::numeric)::bigint
    when jsonb_typeof(v) = 'string' and (v #>> '{}') ~ '^\s*-?[0-9]{1,18}\s*$' then btrim(v #>> '{}')::bigint
  end
$$;

/** The precise reason (first offending element) for a row message_problem() flagged; slow, rare path. */
create function chat_migration.message_problem_detail(
  legacy_role text, metadata jsonb, attachments jsonb, tool_calls jsonb, partial_tool_calls jsonb)
returns text
language sql
immutable
parallel safe
as $$
  select case
    when chat_migration.map_role(legacy_role) is null then 'unknown role: ' || coalesce(legacy_role, '(null)')
    when jsonb_typeof(metadata) not in ('object', 'null') then 'metadata is not an object'
    when jsonb_typeof(attachments) not in ('array', 'null') then 'attachments is not an array'
    when jsonb_typeof(tool_calls) not in ('array', 'null') then 'tool_calls is not an array'
    when jsonb_typeof(partial_tool_calls) not in ('array', 'null') then 'partial_tool_calls is not an array'
    -- fast path: most messages carry no arrays at all, skip the element scans
    when coalesce(jsonb_array_length(case jsonb_typeof(attachments) when 'array' then attachments end), 0)
         + coalesce(jsonb_array_length(case jsonb_typeof(tool_calls) when 'array' then tool_calls end), 0)
         + coalesce(jsonb_array_length(case jsonb_typeof(partial_tool_calls) when 'array' then partial_tool_calls end), 0)
         = 0 then null
    else coalesce(
      (select 'attachments[' || (e.ord - 1) || '] ' ||
              case when jsonb_typeof(e.v) <> 'object' then 'is not an object'
                   when jsonb_typeof(e.v -> 'name') is distinct from 'string' then 'lacks a string name'
                   else 'lacks a string storageId' end
         from jsonb_array_elements(case jsonb_typeof(attachments) when 'array' then attachments end)
              with ordinality as e (v, ord)
        where jsonb_typeof(e.v) <> 'object'
           or jsonb_typeof(e.v -> 'name') is distinct from 'string'
           or jsonb_typeof(e.v -> 'storageId') is distinct from 'string'
        order by e.ord limit 1),
      (select k.col || '[' || (e.ord - 1) || '] ' ||
              case when jsonb_typeof(e.v) <> 'object' then 'is not an object'
                   when jsonb_typeof(e.v -> 'toolCallId') is distinct from 'string' then 'lacks a string toolCallId'
                   else 'lacks a string toolName' end
         from (values ('tool_calls', tool_calls), ('partial_tool_calls', partial_tool_calls)) as k (col, arr)
              cross join lateral jsonb_array_elements(case jsonb_typeof(k.arr) when 'array' then k.arr end)
              with ordinality as e (v, ord)
        where jsonb_typeof(e.v) <> 'object'
           or jsonb_typeof(e.v -> 'toolCallId') is distinct from 'string'
           or jsonb_typeof(e.v -> 'toolName') is distinct from 'string'
        order by k.col desc, e.ord limit 1))
  end
$$;

/**
 * Why a legacy message cannot be converted, or null when it can (the mapping rules, docs/data-migration-sql.md).
 * Written as one expression over C functions (jsonpath) so the planner inlines it into the batch statement; only
 * flagged rows pay for message_problem_detail's element-by-element reason. test/datamig/validation.test.ts
 * checks with random inputs that both always agree.
 */
create function chat_migration.message_problem(
  legacy_role text, metadata jsonb, attachments jsonb, tool_calls jsonb, partial_tool_calls jsonb)
returns text
language sql
immutable
parallel safe
as $$
  select case
    when chat_migration.map_role(legacy_role) is null then 'unknown role: ' || coalesce(legacy_role, '(null)')
    when attachments is null and tool_calls is null and partial_tool_calls is null
         and (metadata is null or jsonb_typeof(metadata) = 'object') then null
    when jsonb_typeof(metadata) not in ('object', 'null')
         or jsonb_typeof(attachments) not in ('array', 'null')
         or jsonb_typeof(tool_calls) not in ('array', 'null')
         or jsonb_typeof(partial_tool_calls) not in ('array', 'null')
         -- strict: any element that is not an object (lax would unwrap a nested array into nothing);
         -- lax: an object element whose key is missing or not a string (missing key = empty sequence).
         -- silent => true: never raise, whatever the planner evaluates first.
         or coalesce(jsonb_path_exists(attachments, 'strict $[*] ? (@.type() != "object")', '{}', true), false)
         or coalesce(jsonb_path_exists(attachments,
              'lax $[*] ? (!(@.name.type() == "string") || !(@.storageId.type() == "string"))', '{}', true), false)
         or coalesce(jsonb_path_exists(tool_calls, 'strict $[*] ? (@.type() != "object")', '{}', true), false)
         or coalesce(jsonb_path_exists(tool_calls,
              'lax $[*] ? (!(@.toolCallId.type() == "string") || !(@.toolName.type() == "string"))', '{}', true), false)
         or coalesce(jsonb_path_exists(partial_tool_calls, 'strict $[*] ? (@.type() != "object")', '{}', true), false)
         or coalesce(jsonb_path_exists(partial_tool_calls,
              'lax $[*] ? (!(@.toolCallId.type() == "string") || !(@.toolName.type() == "string"))', '{}', true), false)
      then chat_migration.message_problem_detail(legacy_role, metadata, attachments, tool_calls, partial_tool_calls)
  end
$$;

/** v2 content object → the legacy text (text parts joined by a newline). */
create function chat_migration.content_text(content jsonb)
returns text
language sql
immutable
parallel safe
as $$
  select case content ->> 'type'
    when 'text' then coalesce(content ->> 'text', '')
    when 'parts' then coalesce(
      (select string_agg(p.v ->> 'text', E'\n' order by p.ord)
         from jsonb_array_elements(case jsonb_typeof(content -> 'parts') when 'array' then content -> 'parts' end)
              with ordinality as p (v, ord)
        where p.v ->> 'type' = 'text'), '')
    else coalesce(content ->> 'text', '')
  end
$$;

/** Legacy metadata → v2 metadata: kept, `tokens` added when absent. */
create function chat_migration.v2_metadata(metadata jsonb, body text)
returns jsonb
language sql
immutable
parallel safe
as $$
  select case
    when jsonb_typeof(metadata -> 'tokens') is not null and jsonb_typeof(metadata -> 'tokens') <> 'null' then metadata
    else coalesce(case jsonb_typeof(metadata) when 'object' then metadata end, '{}'::jsonb)
         || jsonb_build_object('tokens', ceil(char_length(body) / 4.0)::bigint)
  end
$$;

/** Attachments of a legacy array, normalized the way verify compares them (snake_case, order kept). */
create function chat_migration.legacy_attachments_norm(attachments jsonb)
returns jsonb
language sql
immutable
parallel safe
as $$
  select coalesce(jsonb_agg(jsonb_build_object(
           'position', e.ord - 1, 'name', e.v ->> 'name', 'type', e.v ->> 'type',
           'storage_path', e.v ->> 'storageId', 'mime_type', e.v ->> 'mimeType',
           'size_bytes', chat_migration.json_int(e.v -> 'size'),
           'metadata', coalesce(e.v -> 'metadata', '{}'::jsonb)) order by e.ord), '[]'::jsonb)
    from jsonb_array_elements(case jsonb_typeof(attachments) when 'array' then attachments end)
         with ordinality as e (v, ord)
$$;

/** Tool calls (complete then partial, positions continuing) of a legacy row, normalized for verify (not parallel safe: parse_args). */
create function chat_migration.legacy_tool_calls_norm(tool_calls jsonb, partial_tool_calls jsonb)
returns jsonb
language sql
immutable
as $$
  select coalesce(jsonb_agg(jsonb_build_object(
           'position', t.pos, 'tool_call_id', t.v ->> 'toolCallId', 'tool_name', t.v ->> 'toolName',
           'args', chat_migration.parse_args(t.v -> 'args'), 'result', t.v -> 'result',
           'text_position', chat_migration.json_int(t.v -> 'textPosition'), 'is_partial', t.is_partial)
           order by t.pos), '[]'::jsonb)
    from (
      select e.v, e.ord - 1 as pos, false as is_partial
        from jsonb_array_elements(case jsonb_typeof(tool_calls) when 'array' then tool_calls end)
             with ordinality as e (v, ord)
      union all
      select e.v, coalesce(jsonb_array_length(case jsonb_typeof(tool_calls) when 'array' then tool_calls end), 0)
                  + e.ord - 1, true
        from jsonb_array_elements(case jsonb_typeof(partial_tool_calls) when 'array' then partial_tool_calls end)
             with ordinality as e (v, ord)
    ) as t
$$;

-- ---------------------------------------------------------------------------------------------------------
-- Tenancy. The legacy policies check only user_id, so through them any user can write a row that names
-- another user's conversation or agent. Nothing such a row says may reach another user in v2: the copy
-- below migrates a legacy row only when its user owns the conversation and the agent it names, and
-- quarantines it otherwise (reasons 'conversation_owned_by_other_user', 'agent_owned_by_other_user').
-- docs/data-migration-sql.md#tenancy has the rule and its reasons.
-- ---------------------------------------------------------------------------------------------------------

/** The legacy half of conversation_owner(): the creator (lowest-id chat_messages row), else the chat_states user. */
create function chat_migration.legacy_conversation_owner(p_conversation_id uuid)
returns uuid
language sql
stable
as $$
  select coalesce(
    -- "m.id + 0": an order no index provides, so the planner reads the conversation's rows through
    -- chat_messages_conversation_id_created_at_idx and keeps the lowest id. Ordered by plain m.id it may pick a
    -- LIMIT 1 walk of the primary key from the lowest id until it meets the conversation: most of the table
    -- when the conversation is recent.
    (select m.user_id from public.chat_messages m
      where m.conversation_id = p_conversation_id order by m.id + 0 limit 1),
    (select c.user_id from public.chat_states c where c.conversation_id = p_conversation_id))
$$;

/**
 * The owner of a conversation: the user of its v2 session when one exists; otherwise the user of its
 * lowest-id legacy chat_messages row (its creator); otherwise, for a conversation that exists only in
 * chat_states, that row's user. Null when the id is unknown everywhere. Once a conversation has a session
 * (from its first migrated row on) this is one primary-key probe; before that, one pass over the
 * conversation's legacy rows. Callers evaluate it once per distinct conversation, never per row.
 */
create function chat_migration.conversation_owner(p_conversation_id uuid)
returns uuid
language sql
stable
as $$
  select coalesce(
    (select s.user_id from public.conversation_sessions s where s.id = p_conversation_id),
    chat_migration.legacy_conversation_owner(p_conversation_id))
$$;

-- Not for the API roles: the functions of this file are postgres' and service_role's only.
revoke execute on function chat_migration.map_role(text) from public, anon, authenticated;
revoke execute on function chat_migration.try_jsonb(text) from public, anon, authenticated;
revoke execute on function chat_migration.parse_args(jsonb) from public, anon, authenticated;
revoke execute on function chat_migration.json_int(jsonb) from public, anon, authenticated;
revoke execute on function chat_migration.message_problem_detail(text, jsonb, jsonb, jsonb, jsonb) from public, anon, authenticated;
revoke execute on function chat_migration.message_problem(text, jsonb, jsonb, jsonb, jsonb) from public, anon, authenticated;
revoke execute on function chat_migration.content_text(jsonb) from public, anon, authenticated;
revoke execute on function chat_migration.v2_metadata(jsonb, text) from public, anon, authenticated;
revoke execute on function chat_migration.legacy_attachments_norm(jsonb) from public, anon, authenticated;
revoke execute on function chat_migration.legacy_tool_calls_norm(jsonb, jsonb) from public, anon, authenticated;
revoke execute on function chat_migration.legacy_conversation_owner(uuid) from public, anon, authenticated;
revoke execute on function chat_migration.conversation_owner(uuid) from public, anon, authenticated;
grant execute on function chat_migration.map_role(text) to service_role;
grant execute on function chat_migration.try_jsonb(text) to service_role;
grant execute on function chat_migration.parse_args(jsonb) to service_role;
grant execute on function chat_migration.json_int(jsonb) to service_role;
grant execute on function chat_migration.message_problem_detail(text, jsonb, jsonb, jsonb, jsonb) to service_role;
grant execute on function chat_migration.message_problem(text, jsonb, jsonb, jsonb, jsonb) to service_role;
grant execute on function chat_migration.content_text(jsonb) to service_role;
grant execute on function chat_migration.v2_metadata(jsonb, text) to service_role;
grant execute on function chat_migration.legacy_attachments_norm(jsonb) to service_role;
grant execute on function chat_migration.legacy_tool_calls_norm(jsonb, jsonb) to service_role;
grant execute on function chat_migration.legacy_conversation_owner(uuid) to service_role;
grant execute on function chat_migration.conversation_owner(uuid) to service_role;
