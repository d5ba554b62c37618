-- Schema v2 (advanced JSON chat), part 1: what every later v2 file builds on.
--
-- Purpose : the target schema (docs/schema.md) is split by concern, each file about one thing; together they
--           are "v2": this file (foundations), the conversation tables (20250805074445), the agent tables
--           (…46), triggers (…47, …48), the memory and state API (…49, …50), maintenance and health functions
--           (…51, …52) and the write API (…53, …54).
-- Objects : extension vector (schema extensions, if absent); default privileges on functions (EXECUTE is
--           granted explicitly from here on); enum types public.message_role, public.session_status,
--           public.memory_type, public.state_type, public.checkpoint_type (the fixed vocabularies, declared
--           once); function public.is_valid_message_content; schema chat_private with its inlinable twin
--           chat_private.is_valid_message_content (the content CHECK's) and the rollbacks' archive helper
--           chat_private.archive_v2_tables.
-- Locks   : none on existing objects: new types, functions and a schema only. No rewrite; legacy tables untouched.
-- Rollback: supabase/rollbacks/20250805074444_create_advanced_json_chat_schema.down.sql — undoes this file and
--           leaves legacy tables and data untouched; `npm run db:rollback -- --to 20250805074444` first rolls
--           back every newer file built on it, newest first (docs/schema.md#rollback).
--
-- Conventions of the v2 files:
--   * RLS is enabled on every table in the file that creates it; one policy per operation per role, named as
--     a sentence; `(select auth.uid())` so Postgres evaluates it once per statement, not once per row.
--   * anon reaches nothing: no policy names anon and its table privileges are revoked as well.
--   * memories, states, snapshots and checkpoints are reached only through an agent the caller owns.
--   * columns a user must not write (trigger-kept metrics, version, legacy_id) are fenced by column
--     privileges, because RLS filters rows, not columns.
--   * a fixed vocabulary (roles, statuses, memory / state / checkpoint types) is an enum type, declared once
--     here: the plpgsql API checks against enum_range(), the edge functions' zod enums are tested equal to
--     its labels, and the TypeScript types come from the generated Database['public']['Enums'].

create extension if not exists vector with schema extensions;

/**
 * Functions are not executable by everyone by default any more (Postgres grants EXECUTE to PUBLIC and the
 * platform grants it to anon/authenticated in public). From here on every function in this project is
 * granted explicitly — a forgotten grant fails closed instead of open.
 * The global statement is the one that matters for PUBLIC (a per-schema REVOKE cannot undo a global default);
 * it also covers functions of extensions that postgres creates later: grant the API roles what they need from
 * those explicitly (the pgTAP test files do so for pgTAP). The rollback restores both defaults.
 */
alter default privileges for role postgres revoke execute on functions from public;
alter default privileges for role postgres in schema public revoke execute on functions from public, anon, authenticated;

/**
 * The shape a v2 message's content must have; used by the CHECK on chat_messages_v2.content.
 *   {"type":"text","text":"..."}                       — plain text, no other keys;
 *   {"type":"parts","parts":[{"type":"...",...}, ...]} — at least one part, each an object with a string
 *                                                        "type"; a "text" part carries a string "text".
 * Immutable and written with nested CASE (not AND) so no jsonb_* call ever sees a value of the wrong type
 * whatever order the planner evaluates things in. Runs on PostgreSQL 15.
 */
create function public.is_valid_message_content(p_content jsonb)
returns boolean
language sql
immutable
strict
parallel safe
security invoker
set search_path = ''
as $$
  select case
    when jsonb_typeof(p_content) <> 'object' then false
    when p_content ->> 'type' = 'text' then
      case
        when jsonb_typeof(p_content -> 'text') is distinct from 'string' then false
        else (p_content - 'type' - 'text') = '{}'::jsonb
      end
    when p_content ->> 'type' = 'parts' then
      case
        when jsonb_typeof(p_content -> 'parts') is distinct from 'array' then false
        when (p_content - 'type' - 'parts') <> '{}'::jsonb then false
        when jsonb_array_length(p_content -> 'parts') = 0 then false
        else not exists (
          select 1
          from jsonb_array_elements(p_content -> 'parts') as p (part)
          where case
            when jsonb_typeof(p.part) <> 'object' then true
            when jsonb_typeof(p.part -> 'type') is distinct from 'string' then true
            when p.part ->> 'type' = 'text' then jsonb_typeof(p.part -> 'text') is distinct from 'string'
            else false
          end
        )
      end
    else false
  end
$$;

comment on function public.is_valid_message_content(jsonb) is
  'true when a jsonb value is valid chat_messages_v2.content: {"type":"text","text":...} or {"type":"parts","parts":[...]}';

-- A CHECK runs with the privileges of whoever writes the row, so writers need EXECUTE.
revoke execute on function public.is_valid_message_content(jsonb) from public, anon;
grant execute on function public.is_valid_message_content(jsonb) to authenticated, service_role;

/**
 * The twin the CHECK on chat_messages_v2.content actually calls: the same rule as
 * public.is_valid_message_content, written so the planner can inline it into the constraint — no SET clause,
 * not strict, no subquery (the per-part rule is jsonpath, a C function), only pg_catalog. The public function
 * stays the documented API; this one lives in a schema the API does not expose. test/schema/triggers.test.ts
 * checks that both agree. jsonpath: strict `$.parts[*]` for "every part is an object" (lax would unwrap a nested
 * array); lax member access for keys (a missing key is an empty sequence, so the test fails and the part is
 * flagged); silent => true so nothing raises whatever the planner evaluates first.
 */
create schema chat_private;
comment on schema chat_private is 'Internal helpers of schema v2 (not exposed by the API).';
revoke all on schema chat_private from public;

create function chat_private.is_valid_message_content(p_content jsonb)
returns boolean
language sql
immutable
parallel safe
as $$
  select case
    when p_content is null then null
    when pg_catalog.jsonb_typeof(p_content) <> 'object' then false
    when p_content operator(pg_catalog.->>) 'type' = 'text' then
      case
        when pg_catalog.jsonb_typeof(p_content operator(pg_catalog.->) 'text') is distinct from 'string' then false
        else (p_content operator(pg_catalog.-) 'type' operator(pg_catalog.-) 'text') operator(pg_catalog.=) '{}'::jsonb
      end
    when p_content operator(pg_catalog.->>) 'type' = 'parts' then
      case
        when pg_catalog.jsonb_typeof(p_content operator(pg_catalog.->) 'parts') is distinct from 'array' then false
        when (p_content operator(pg_catalog.-) 'type' operator(pg_catalog.-) 'parts') operator(pg_catalog.<>) '{}'::jsonb then false
        when pg_catalog.jsonb_array_length(p_content operator(pg_catalog.->) 'parts') = 0 then false
        when pg_catalog.jsonb_path_exists(p_content, 'strict $.parts[*] ? (@.type() != "object")', '{}', true) then false
        when pg_catalog.jsonb_path_exists(p_content,
               'lax $.parts[*] ? (!(@.type.type() == "string") || (@.type == "text" && !(@.text.type() == "string")))',
               '{}', true) then false
        else true
      end
    else false
  end
$$;

comment on function chat_private.is_valid_message_content(jsonb) is
  'Inlinable twin of public.is_valid_message_content used by the chat_messages_v2 content CHECK; not an API.';

-- Writers need EXECUTE (the planner only inlines a function the caller may execute); no schema USAGE is
-- needed to run a constraint, which names the function by oid.
revoke execute on function chat_private.is_valid_message_content(jsonb) from public, anon;
grant execute on function chat_private.is_valid_message_content(jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------------------
-- Fixed vocabularies. Enums, not text + CHECK: one declaration that the catalog, the generated TypeScript
-- types (`Database['public']['Enums']`, `Constants`) and the functions' zod enums (tested equal) share.
-- Adding a label later is `alter type … add value` (no rewrite); removing one is a new type and a rewrite,
-- which is what a vocabulary change deserves. Labels sort in declaration order.
-- ---------------------------------------------------------------------------------------------------------

/** Who wrote a chat message. Legacy aliases (human, ai, bot, function) are mapped by the data migration. */
create type public.message_role as enum ('user', 'assistant', 'system', 'tool');
comment on type public.message_role is 'Author of a chat_messages_v2 row: user | assistant | system | tool.';

/** Lifecycle of a conversation (conversation_sessions.status). */
create type public.session_status as enum ('active', 'idle', 'closed');
comment on type public.session_status is 'conversation_sessions.status: active | idle | closed.';

/** Kind of long-term memory (agent_memories.memory_type). */
create type public.memory_type as enum ('episodic', 'semantic', 'procedural', 'working');
comment on type public.memory_type is 'agent_memories.memory_type: episodic | semantic | procedural | working.';

/** Scope of an agent state stream (agent_states.state_type). */
create type public.state_type as enum ('local', 'shared', 'session', 'persistent');
comment on type public.state_type is 'agent_states.state_type: local | shared | session | persistent.';

/** Why a checkpoint was taken (state_checkpoints.checkpoint_type); drives its default retention. */
create type public.checkpoint_type as enum ('auto', 'manual', 'pre_migration', 'recovery');
comment on type public.checkpoint_type is 'state_checkpoints.checkpoint_type: auto | manual | pre_migration | recovery.';

/**
 * The opt-in archive of the v2 rollbacks (20250805074445 and …46 call it before dropping their tables): when the
 * setting advanced_json_chat.archive is 'on' (npm run db:rollback -- --archive, or
 * `set local advanced_json_chat.archive = on` in psql), copies each named public table that exists into schema
 * advanced_json_chat_archive (create table … as select); otherwise does nothing. An archive left by an earlier
 * rollback is renamed <table>_<epoch> first, never overwritten. Enum columns are archived as text, so the
 * archive outlives the v2 types. The archive is not an API schema: only the owner and service_role read it.
 * Not executable by the API roles (only the owner runs rollbacks).
 */
create function chat_private.archive_v2_tables(p_tables text[])
returns void
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_table text;
  v_suffix constant text := extract(epoch from clock_timestamp())::bigint::text;
  v_columns text;
begin
  if coalesce(current_setting('advanced_json_chat.archive', true), '') <> 'on' then
    return;
  end if;
  create schema if not exists advanced_json_chat_archive;
  revoke all on schema advanced_json_chat_archive from public;
  grant usage on schema advanced_json_chat_archive to service_role;
  foreach v_table in array p_tables loop
    if to_regclass(format('public.%I', v_table)) is null then
      continue;
    end if;
    if to_regclass(format('advanced_json_chat_archive.%I', v_table)) is not null then
      execute format('alter table advanced_json_chat_archive.%I rename to %I', v_table, v_table || '_' || v_suffix);
    end if;
    select string_agg(case when t.typtype = 'e' then format('%I::text as %I', a.attname, a.attname)
                           else format('%I', a.attname) end, ', ' order by a.attnum)
      into v_columns
      from pg_catalog.pg_attribute a
      join pg_catalog.pg_type t on t.oid = a.atttypid
     where a.attrelid = format('public.%I', v_table)::regclass and a.attnum > 0 and not a.attisdropped;
    execute format('create table advanced_json_chat_archive.%I as select %s from public.%I', v_table, v_columns, v_table);
    execute format('revoke all on table advanced_json_chat_archive.%I from public, anon, authenticated', v_table);
    execute format('grant select on table advanced_json_chat_archive.%I to service_role', v_table);
    execute format(
      'comment on table advanced_json_chat_archive.%I is %L', v_table,
      format('copy of public.%s taken by the schema v2 rollback at %s', v_table, clock_timestamp()));
  end loop;
end
$$;

comment on function chat_private.archive_v2_tables(text[]) is
  'Opt-in archive (advanced_json_chat.archive = on) of v2 tables before a v2 rollback drops them; not an API.';

revoke execute on function chat_private.archive_v2_tables(text[]) from public, anon, authenticated, service_role;
