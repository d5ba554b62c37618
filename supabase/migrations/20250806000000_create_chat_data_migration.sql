-- Online data migration legacy (v1) → v2: ledger, quarantine, set-based backfill, dual-write, verify, cutover.
--
-- Purpose : move public.chat_messages / public.chat_states onto the v2 tables while the app keeps writing,
--           resumably (keyset checkpoint in a ledger), verifiably (verify_chat_migration) and reversibly
--           (dual_write mirrors both directions, so legacy stays complete until finalize).
-- Objects : schema chat_migration (runs, batches, mode, mode_changes, quarantine, migrated_states + internal
--           functions); schema chat_archive only when finalize_chat_migration() runs;
--           public API functions migrate_with_progress, migrate_chat_messages, migrate_chat_messages_batch,
--           procedure run_chat_migration, migrate_chat_states, verify_chat_migration, set_chat_schema_mode,
--           finalize_chat_migration, chat_migration_status, pause_/resume_chat_migration,
--           list_chat_migration_quarantine, retry_chat_migration_quarantine, repair_chat_migration;
--           triggers on public.chat_messages, chat_states, chat_messages_v2, chat_message_attachments,
--           chat_tool_calls,
--           all created DISABLED (mode 'legacy' writes nothing extra until set_chat_schema_mode enables them);
--           one ENABLED trigger on public.conversation_sessions (chat_migration_guard_session_claim: a v2
--           session cannot take the id of another user's legacy conversation).
-- Tenancy : a legacy row migrates only when its user owns the conversation and the agent it names; otherwise
--           it is quarantined and stays in legacy (docs/data-migration-sql.md#tenancy).
-- Locks   : creates new objects only; creating the (disabled) triggers takes a brief SHARE ROW EXCLUSIVE lock on
--           the legacy and v2 tables, no rewrite. Mode changes later take the same brief lock (lock_timeout 5s).
-- Rollback: supabase/rollbacks/20250806000000_create_chat_data_migration.down.sql
--           (the v2 rollback, 20250805074444_*.down.sql, removes these objects too).
-- Docs    : docs/data-migration-sql.md (API reference), docs/runbook.md (operations).

/** Everything the migration remembers; not exposed through the API (PostgREST serves public only). */
create schema chat_migration;
revoke all on schema chat_migration from public;
grant usage on schema chat_migration to service_role;

-- ---------------------------------------------------------------------------------------------------------
-- Ledger
-- ---------------------------------------------------------------------------------------------------------

/**
 * One row per run (the Stripe pattern). A run fixes its upper_bound when it starts: rows newer than that are
 * dual_write's job, or the next run's. checkpoint.cursor is the last chat_messages.id the keyset has passed.
 */
create table chat_migration.runs (
  id bigint generated always as identity primary key,
  name text not null default 'chat_messages',
  phase text not null default 'backfill' check (phase in ('backfill', 'sweep', 'done')),
  status text not null default 'running' check (status in ('running', 'paused', 'completed', 'failed')),
  checkpoint jsonb not null default jsonb_build_object(
    'cursor', 0, 'processedCount', 0, 'successCount', 0, 'errorCount', 0, 'lastProcessedId', null),
  start_cursor bigint not null default 0,
  upper_bound bigint not null default 0,
  total_rows bigint not null default 0,
  batch_count integer not null default 0,
  started_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  completed_at timestamptz,
  last_error text
);
create index runs_name_id_idx on chat_migration.runs (name, id desc);

/** Per-batch log: what each batch covered and how long it took (rows/s and ETA come from here). */
create table chat_migration.batches (
  id bigint generated always as identity primary key,
  run_id bigint not null references chat_migration.runs (id) on delete cascade,
  batch_number integer not null,
  phase text not null,
  first_id bigint,
  last_id bigint,
  migrated integer not null,
  quarantined integer not null,
  row_by_row boolean not null default false,
  milliseconds numeric not null,
  at timestamptz not null default now(),
  unique (run_id, batch_number)
);

/** The schema mode (singleton row). 'legacy' right after this migration is applied. */
create table chat_migration.mode (
  singleton boolean primary key default true check (singleton),
  mode text not null default 'legacy' check (mode in ('legacy', 'dual_write', 'v2_only')),
  changed_at timestamptz not null default now(),
  finalized_at timestamptz
);
insert into chat_migration.mode (mode) values ('legacy');

/** Every mode change, who made it and what it did on the way. */
create table chat_migration.mode_changes (
  id bigint generated always as identity primary key,
  from_mode text not null,
  to_mode text not null,
  changed_by text not null default current_user,
  note text,
  at timestamptz not null default now()
);

/**
 * Rows that could not be converted. The full original row is kept so nothing is lost; a row is "accounted for"
 * while resolved_at is null. Fix the legacy row, then retry_chat_migration_quarantine().
 */
create table chat_migration.quarantine (
  id bigint generated always as identity primary key,
  source_table text not null,
  source_id text not null,
  original_row jsonb not null,
  reason text not null,
  sqlstate text,
  attempts integer not null default 1,
  first_seen timestamptz not null default now(),
  last_seen timestamptz not null default now(),
  retried_at timestamptz,
  resolved_at timestamptz
);
-- One open entry per source row; the anti-joins of the sweep and of verify use it.
create unique index quarantine_open_source_idx on chat_migration.quarantine (source_table, source_id)
  where resolved_at is null;

comment on table chat_migration.runs is 'Data-migration runs (Stripe pattern): checkpoint, fixed upper bound, status.';
comment on table chat_migration.batches is 'One row per backfill batch: id range, migrated, quarantined, milliseconds.';
comment on table chat_migration.mode is 'The chat schema mode (legacy | dual_write | v2_only); singleton.';
comment on table chat_migration.mode_changes is 'Every chat schema mode change, who made it and what it copied.';
comment on table chat_migration.quarantine is 'Legacy rows that could not be converted, with the full original row and the reason.';

revoke all on all tables in schema chat_migration from public, anon, authenticated;
grant select, insert, update, delete on all tables in schema chat_migration to service_role;

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

-- ---------------------------------------------------------------------------------------------------------
-- The set-based copy. Used by the backfill, the sweep, the legacy→v2 dual-write trigger and quarantine retry,
-- so there is exactly one implementation of the mapping.
-- ---------------------------------------------------------------------------------------------------------

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

-- ---------------------------------------------------------------------------------------------------------
-- Backfill API
-- ---------------------------------------------------------------------------------------------------------

/** The advisory-lock key every batch takes; any constant shared by all runs of this migration. */
create function chat_migration.lock_key()
returns bigint
language sql
immutable
as $$ select 727274006::bigint $$;

/** Latest run of the chat_messages backfill (null when none has started). */
create function chat_migration.latest_run()
returns chat_migration.runs
language sql
stable
set search_path = ''
as $$
  select r from chat_migration.runs r where r.name = 'chat_messages' order by r.id desc limit 1
$$;

/** Raises the finalize error when the legacy tables have been archived. */
create function chat_migration.assert_not_finalized()
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if exists (select 1 from chat_migration.mode where finalized_at is not null) then
    raise exception 'the chat migration is finalized: legacy tables live in schema chat_archive'
      using errcode = '55000',
            hint = 'Nothing is left to migrate. To roll back, run select set_chat_schema_mode(''dual_write'') '
                   'first: it moves the legacy tables back and copies to them what v2 gained.';
  end if;
end
$$;

/**
 * Re-analyzes chat_migration.quarantine once the run has quarantined more than twice the rows the planner last
 * counted there. Why: with statistics from when it was empty, the batch's quarantine lookups degrade to
 * nested-loop scans and batch time grows with every quarantined row (measured on PGlite, which never
 * autovacuums: 5,000-row batches 4 s → 40 s by 40,000 quarantined rows; a real server has the same window
 * between autovacuum runs). Doubling keeps the cost to a few ANALYZEs per run. Security definer because
 * only the table owner may analyze it and service_role runs the backfill; it touches nothing else.
 */
create function chat_migration.refresh_quarantine_stats(quarantined_in_run bigint)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  seen real;
begin
  select c.reltuples into seen from pg_catalog.pg_class c where c.oid = 'chat_migration.quarantine'::pg_catalog.regclass;
  if quarantined_in_run > greatest(seen, 10) * 2 then
    analyze chat_migration.quarantine;
  end if;
end
$$;

revoke all on function chat_migration.refresh_quarantine_stats(bigint) from public;

/**
 * Exactly one batch of the backfill (the TypeScript driver calls it once per transaction).
 * Returns rows processed (migrated + quarantined); 0 when nothing is left or the run is paused.
 * Keyset on chat_messages.id up to the run's fixed upper bound; once the keyset is exhausted it sweeps for rows
 * neither migrated nor quarantined (late commits behind the cursor, rows written while mode was 'legacy'),
 * and marks the run completed when the sweep comes back short.
 */
create function public.migrate_chat_messages_batch(batch_size integer default 1000)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  r chat_migration.runs;
  ids bigint[];
  res record;
  t0 timestamptz := clock_timestamp();
  n integer;
  last_id bigint;
  batch_phase text;
  fresh bigint[];
  mirrored integer := 0;
begin
  if batch_size is null or batch_size < 1 then
    raise exception 'batch_size must be a positive integer, got %', batch_size
      using errcode = '22023', hint = 'Try 1000 (psql) or 5000 (run_chat_migration).';
  end if;
  if not pg_try_advisory_xact_lock(chat_migration.lock_key()) then
    raise exception 'another chat migration batch is running right now'
      using errcode = '55P03',
            hint = 'Two runs never overlap. Watch it with select * from chat_migration_status(); '
                   'stop it with select pause_chat_migration(), or wait and retry.';
  end if;
  perform chat_migration.assert_not_finalized();
  if (select x.mode from chat_migration.mode x) = 'v2_only' then
    -- legacy is read-only and v2 is the source of truth: copying would revert v2 edits
    raise notice 'chat schema mode is v2_only: legacy cannot change, nothing to migrate';
    return 0;
  end if;

  select * into r from chat_migration.runs where name = 'chat_messages' order by id desc limit 1 for update;

  if r.id is null or r.status = 'completed' then
    -- A new run starts where the last completed one stopped; its upper bound is fixed now.
    if r.id is not null
       and not exists (select 1 from public.chat_messages m where m.id > r.upper_bound)
       and not exists (select 1 from public.chat_messages m
                        where not exists (select 1 from public.chat_messages_v2 v where v.legacy_id = m.id)
                          and not exists (select 1 from chat_migration.quarantine q
                                           where q.source_table = 'chat_messages' and q.source_id = m.id::text
                                             and q.resolved_at is null)) then
      return 0;
    end if;
    insert into chat_migration.runs (name, start_cursor, upper_bound, total_rows, checkpoint)
    select 'chat_messages', b.start_cursor, b.upper_bound,
           (select count(*) from public.chat_messages m where m.id > b.start_cursor and m.id <= b.upper_bound),
           jsonb_build_object('cursor', b.start_cursor, 'processedCount', 0, 'successCount', 0, 'errorCount', 0,
                              'lastProcessedId', null)
      from (select coalesce(r.upper_bound, 0) as start_cursor,
                   coalesce((select max(m.id) from public.chat_messages m), 0) as upper_bound) as b
    returning * into r;
  elsif r.status = 'paused' then
    raise notice 'chat migration run % is paused; select resume_chat_migration() to continue', r.id;
    return 0;
  elsif r.status = 'failed' then
    update chat_migration.runs set status = 'running', last_error = null where id = r.id;
  end if;

  batch_phase := r.phase;
  if r.phase = 'backfill' then
    select array_agg(s.id order by s.id) into ids
      from (select m.id from public.chat_messages m
             where m.id > (r.checkpoint ->> 'cursor')::bigint and m.id <= r.upper_bound
             order by m.id
             limit batch_size
               for no key update) as s;
    if ids is null then
      batch_phase := 'sweep';
    end if;
  end if;
  if batch_phase = 'sweep' then
    select array_agg(s.id order by s.id) into ids
      from (select m.id from public.chat_messages m
             where m.id <= r.upper_bound
               and not exists (select 1 from public.chat_messages_v2 v where v.legacy_id = m.id)
               and not exists (select 1 from chat_migration.quarantine q
                                where q.source_table = 'chat_messages' and q.source_id = m.id::text
                                  and q.resolved_at is null)
             order by m.id
             limit batch_size
               for no key update of m) as s;
  end if;

  n := coalesce(cardinality(ids), 0);
  if n = 0 then
    update chat_migration.runs
       set phase = 'done', status = 'completed', completed_at = now(), updated_at = now()
     where id = r.id;
    return 0;
  end if;

  -- dual_write: a row that already has a live v2 twin was mirrored, and the triggers keep the two in sync.
  -- Copying it again would wait for the v2 row while holding the legacy row — the reverse of a v2 writer, who
  -- holds the v2 row while its mirror waits for the legacy one: a deadlock (40P01, found by
  -- test/races/dual-write-writers.test.ts on PostgreSQL 15). So the backfill only creates missing twins.
  fresh := ids;
  if (select x.mode from chat_migration.mode x) = 'dual_write' then
    select coalesce(array_agg(i order by i) filter (where v.id is null), '{}'), count(v.id)
      into fresh, mirrored
      from unnest(ids) as i
      left join public.chat_messages_v2 v on v.legacy_id = i and v.deleted_at is null;
  end if;
  select * into res from chat_migration.copy_messages_safely(fresh);
  res.migrated := res.migrated + mirrored;
  last_id := ids[n];

  update chat_migration.runs
     set phase = case when batch_phase = 'sweep' and n < batch_size then 'done' else batch_phase end,
         status = case when batch_phase = 'sweep' and n < batch_size then 'completed' else 'running' end,
         completed_at = case when batch_phase = 'sweep' and n < batch_size then now() end,
         batch_count = batch_count + 1,
         updated_at = now(),
         checkpoint = jsonb_build_object(
           'cursor', case when batch_phase = 'backfill' then last_id else (checkpoint ->> 'cursor')::bigint end,
           'processedCount', (checkpoint ->> 'processedCount')::bigint + n,
           'successCount', (checkpoint ->> 'successCount')::bigint + res.migrated,
           'errorCount', (checkpoint ->> 'errorCount')::bigint + res.quarantined,
           'lastProcessedId', last_id)
   where id = r.id
  returning * into r;

  if res.quarantined > 0 then
    perform chat_migration.refresh_quarantine_stats((r.checkpoint ->> 'errorCount')::bigint);
  end if;

  insert into chat_migration.batches
    (run_id, batch_number, phase, first_id, last_id, migrated, quarantined, row_by_row, milliseconds)
  values (r.id, r.batch_count, batch_phase, ids[1], last_id, res.migrated, res.quarantined, res.row_by_row,
          round(extract(epoch from clock_timestamp() - t0)::numeric * 1000, 3));
  return n;
end
$$;

/** One progress line per batch for psql users: rows, percent and ETA from the run's recent throughput. */
create function chat_migration.progress_notice(n integer)
returns void
language plpgsql
set search_path = ''
as $$
declare
  s record;
begin
  select * into s from public.chat_migration_status();
  raise notice 'chat migration: batch % — % rows (% migrated, % quarantined in total) — %/% (% %%) — % rows/s — ETA %',
    (select r.batch_count from chat_migration.latest_run() r), n, s.migrated, s.quarantined, s.processed,
    s.total_legacy, s.percent, coalesce(round(s.rows_per_second)::text, '?'),
    coalesce((make_interval(secs => round(s.eta_seconds)))::text, '?');
end
$$;

/**
 * The seed's signature: migrates everything left in one call (one transaction), one result row per batch and a
 * NOTICE per batch. Resumes from the stored checkpoint. For tens of millions of rows prefer
 * `call run_chat_migration()`, which commits per batch.
 */
create function public.migrate_with_progress(batch_size integer default 1000)
returns table (batch_number integer, records_migrated integer, total_migrated integer)
language plpgsql
set search_path = ''
as $$
declare
  n integer;
  r chat_migration.runs;
begin
  loop
    n := public.migrate_chat_messages_batch(batch_size);
    exit when n = 0;
    perform chat_migration.progress_notice(n);
    r := chat_migration.latest_run();
    select b.batch_number, b.migrated into batch_number, records_migrated
      from chat_migration.batches b where b.run_id = r.id order by b.batch_number desc limit 1;
    total_migrated := (r.checkpoint ->> 'successCount')::integer;
    return next;
  end loop;
end
$$;

/** Migrates everything remaining (in the caller's transaction); returns the rows migrated (not quarantined). */
create function public.migrate_chat_messages()
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  total bigint := 0;
  n integer;
  r chat_migration.runs;
  before_success bigint;
  before_id bigint;
begin
  loop
    r := chat_migration.latest_run();
    before_id := r.id;
    before_success := coalesce((r.checkpoint ->> 'successCount')::bigint, 0);
    n := public.migrate_chat_messages_batch(5000);
    exit when n = 0;
    r := chat_migration.latest_run();
    total := total + (r.checkpoint ->> 'successCount')::bigint
                   - case when r.id is not distinct from before_id then before_success else 0 end;
  end loop;
  return total;
end
$$;

/**
 * The DBA's backfill: one transaction per batch (COMMIT after each), honours pause_chat_migration() between
 * batches, optional throttle. Must be CALLed outside an explicit transaction block. No `set search_path`
 * clause: a procedure with a SET clause cannot COMMIT; every name below is schema-qualified instead.
 */
create procedure public.run_chat_migration(batch_size integer default 5000, max_rows_per_second integer default null)
language plpgsql
as $$
declare
  n integer;
  t0 timestamptz;
  err text;
  err_state text;
  err_hint text;
  pause_s double precision;
begin
  loop
    t0 := clock_timestamp();
    err := null;
    begin
      n := public.migrate_chat_messages_batch(batch_size);
      if n > 0 then
        perform chat_migration.progress_notice(n);
      end if;
    exception when others then
      get stacked diagnostics err = message_text, err_state = returned_sqlstate, err_hint = pg_exception_hint;
    end;
    if err is not null then
      -- the failed batch rolled back; record why (unless it only met another run's lock: that run is
      -- fine), keep the checkpoint, and stop
      if err_state <> '55P03' then
        update chat_migration.runs set status = 'failed', last_error = err, updated_at = now()
         where id = (select r.id from chat_migration.latest_run() r) and status = 'running';
      end if;
      commit;
      raise exception 'chat migration stopped: %', err
        using errcode = err_state,
              hint = coalesce(nullif(err_hint, ''), 'The checkpoint is safe; fix the cause and call run_chat_migration() again.');
    end if;
    commit;
    exit when n = 0;
    if max_rows_per_second is not null and max_rows_per_second > 0 then
      pause_s := n::double precision / max_rows_per_second - extract(epoch from clock_timestamp() - t0);
      if pause_s > 0 then
        perform pg_sleep(pause_s);
      end if;
    end if;
  end loop;
end
$$;

/** One row describing the latest run (or the pending one), for psql, the CLI and dashboards. */
create function public.chat_migration_status()
returns table (
  name text, phase text, status text, mode text, total_legacy bigint, processed bigint, migrated bigint,
  quarantined bigint, remaining bigint, percent numeric, cursor bigint, upper_bound bigint,
  started_at timestamptz, updated_at timestamptz, completed_at timestamptz, last_error text,
  rows_per_second numeric, eta_seconds numeric)
language plpgsql
stable
set search_path = ''
as $$
declare
  r chat_migration.runs := chat_migration.latest_run();
  m text := (select x.mode from chat_migration.mode x);
  rate numeric;
begin
  if r.id is null then
    name := 'chat_messages'; phase := 'backfill'; status := 'pending'; mode := m;
    total_legacy := case when to_regclass('public.chat_messages') is not null
                         then (select count(*) from public.chat_messages) else 0 end;
    processed := 0; migrated := 0; quarantined := 0; remaining := total_legacy;
    percent := case when total_legacy = 0 then 100 else 0 end; cursor := 0; upper_bound := null;
    return next;
    return;
  end if;
  select sum(b.migrated + b.quarantined) / nullif(sum(b.milliseconds), 0) * 1000 into rate
    from (select * from chat_migration.batches b where b.run_id = r.id order by b.batch_number desc limit 20) as b;
  name := r.name; phase := r.phase; status := r.status; mode := m;
  total_legacy := r.total_rows;
  processed := (r.checkpoint ->> 'processedCount')::bigint;
  migrated := (r.checkpoint ->> 'successCount')::bigint;
  quarantined := (r.checkpoint ->> 'errorCount')::bigint;
  remaining := case when r.status = 'completed' then 0 else greatest(r.total_rows - processed, 0) end;
  percent := case when r.status = 'completed' or r.total_rows = 0 then 100
                  else least(100, round(100.0 * processed / r.total_rows, 2)) end;
  cursor := (r.checkpoint ->> 'cursor')::bigint;
  upper_bound := r.upper_bound;
  started_at := r.started_at; updated_at := r.updated_at; completed_at := r.completed_at; last_error := r.last_error;
  rows_per_second := round(rate, 1);
  eta_seconds := case when remaining = 0 then 0 when rate > 0 then round(remaining / rate, 1) end;
  return next;
end
$$;

/** Asks the running backfill to stop after its current batch (run_chat_migration and drivers check it). */
create function public.pause_chat_migration()
returns text
language plpgsql
set search_path = ''
as $$
declare
  r chat_migration.runs := chat_migration.latest_run();
begin
  if r.id is null or r.status <> 'running' then
    raise notice 'no running chat migration to pause (status: %)', coalesce(r.status, 'pending');
    return coalesce(r.status, 'pending');
  end if;
  update chat_migration.runs set status = 'paused', updated_at = now() where id = r.id;
  return 'paused';
end
$$;

/** Lets a paused (or failed) run continue; call run_chat_migration() (or the CLI) again afterwards. */
create function public.resume_chat_migration()
returns text
language plpgsql
set search_path = ''
as $$
declare
  r chat_migration.runs := chat_migration.latest_run();
begin
  if r.id is null or r.status not in ('paused', 'failed') then
    raise notice 'no paused chat migration to resume (status: %)', coalesce(r.status, 'pending');
    return coalesce(r.status, 'pending');
  end if;
  update chat_migration.runs set status = 'running', last_error = null, updated_at = now() where id = r.id;
  return 'running';
end
$$;

/** Open quarantine entries, oldest first, with the full original row and why it was set aside. */
create function public.list_chat_migration_quarantine(lim integer default 100)
returns table (id bigint, source_table text, source_id text, reason text, sqlstate text, attempts integer,
               first_seen timestamptz, last_seen timestamptz, retried_at timestamptz, original_row jsonb)
language sql
stable
set search_path = ''
as $$
  select q.id, q.source_table, q.source_id, q.reason, q.sqlstate, q.attempts, q.first_seen, q.last_seen,
         q.retried_at, q.original_row
    from chat_migration.quarantine q
   where q.resolved_at is null
   order by q.id
   limit lim
$$;

/**
 * Retries every open quarantine entry against the CURRENT legacy row (fix the row first). Rows that now convert
 * are migrated and their entries resolved; rows deleted since are resolved too; the rest stay quarantined.
 */
create function public.retry_chat_migration_quarantine()
returns table (retried integer, resolved integer, still_quarantined integer)
language plpgsql
set search_path = ''
as $$
declare
  ids bigint[];
  gone integer;
begin
  perform chat_migration.assert_not_finalized();
  if (select x.mode from chat_migration.mode x) = 'v2_only' then
    raise exception 'cannot retry quarantined rows while the chat schema mode is v2_only'
      using errcode = '55000',
            hint = 'Legacy rows cannot be fixed while legacy is read-only. Switch back with '
                   'select set_chat_schema_mode(''dual_write''), fix the rows, retry, then switch again.';
  end if;
  update chat_migration.quarantine q set retried_at = now() where q.resolved_at is null;
  get diagnostics retried = row_count;

  update chat_migration.quarantine q
     set resolved_at = now(), reason = q.reason || ' (source row deleted)'
   where q.resolved_at is null and q.source_table = 'chat_messages'
     and not exists (select 1 from public.chat_messages m where m.id::text = q.source_id);
  get diagnostics gone = row_count;

  select array_agg(q.source_id::bigint order by q.source_id::bigint) into ids
    from chat_migration.quarantine q where q.resolved_at is null and q.source_table = 'chat_messages';
  perform chat_migration.copy_messages_safely(ids);
  if exists (select 1 from chat_migration.quarantine q where q.resolved_at is null and q.source_table = 'chat_states') then
    perform public.migrate_chat_states();
  end if;

  still_quarantined := (select count(*) from chat_migration.quarantine q where q.resolved_at is null);
  resolved := greatest(retried - still_quarantined, 0);
  return next;
end
$$;

/**
 * Re-copies every legacy row (keyset batches, same set-based copy): fixes v2 rows that drifted from legacy,
 * e.g. legacy rows edited while mode was 'legacy' (verify_chat_migration reports them as message_content
 * mismatches). Rows already equal are not rewritten. Refused in v2_only, where v2 is the source of truth.
 * Returns the rows examined.
 */
create function public.repair_chat_migration(batch_size integer default 5000)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  cur bigint := null;
  ids bigint[];
  total bigint := 0;
begin
  perform chat_migration.assert_not_finalized();
  if (select x.mode from chat_migration.mode x) = 'v2_only' then
    raise exception 'cannot repair from legacy while the chat schema mode is v2_only'
      using errcode = '55000',
            hint = 'In v2_only, v2 is the source of truth. Switch back with select set_chat_schema_mode(''dual_write'') first.';
  end if;
  if not pg_try_advisory_xact_lock(chat_migration.lock_key()) then
    raise exception 'a chat migration batch is running right now'
      using errcode = '55P03', hint = 'Wait for it (select * from chat_migration_status()) and retry.';
  end if;
  loop
    select array_agg(s.id order by s.id) into ids
      from (select m.id from public.chat_messages m
             where cur is null or m.id > cur
             order by m.id limit greatest(batch_size, 1)
               for no key update) as s;
    exit when ids is null;
    perform chat_migration.copy_messages_safely(ids);
    total := total + cardinality(ids);
    cur := ids[cardinality(ids)];
  end loop;
  return total;
end
$$;

-- ---------------------------------------------------------------------------------------------------------
-- chat_states → agent_states + agent_memories (+ history for conversations without chat_messages rows)
-- ---------------------------------------------------------------------------------------------------------

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

-- ---------------------------------------------------------------------------------------------------------
-- Dual-write. Every trigger below is created DISABLED; set_chat_schema_mode() enables the set that belongs to
-- the mode, so 'legacy' mode costs nothing. Recursion guard: the transaction-local setting
-- chat_migration.mirroring = 'on' while we write the other side; every mirror trigger's WHEN clause checks it,
-- so an echo does not even call a function. Definer rights because the app's roles (authenticated) write
-- through RLS, and the mirror must reach rows and the ledger they cannot see.
-- ---------------------------------------------------------------------------------------------------------

/** True while this transaction is writing a mirror (the WHEN clause of every mirror trigger). */
create function chat_migration.mirroring()
returns boolean
language sql
stable
as $$ select coalesce(current_setting('chat_migration.mirroring', true), '') = 'on' $$;

/** legacy INSERT/UPDATE (statement level, transition table) → the same set-based copy the backfill uses. */
create function chat_migration.mirror_legacy_upsert()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform chat_migration.copy_messages_safely(array(select n.id from new_rows n order by n.id));
  return null;
end
$$;

/** legacy DELETE → soft-delete the v2 mirror (its history stays; legacy_id keeps the link). */
create function chat_migration.mirror_legacy_delete()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform set_config('chat_migration.mirroring', 'on', true);
  update public.chat_messages_v2 v set deleted_at = now()
   where v.legacy_id in (select o.id from old_rows o) and v.deleted_at is null;
  update chat_migration.quarantine q set resolved_at = now(), reason = q.reason || ' (source row deleted)'
   where q.source_table = 'chat_messages' and q.resolved_at is null
     and q.source_id in (select o.id::text from old_rows o);
  perform set_config('chat_migration.mirroring', '', true);
  return null;
end
$$;

/** Legacy arrays rebuilt from a v2 message's attachment and tool-call rows (legacy key names, order kept). */
create function chat_migration.legacy_arrays(message_id uuid, out attachments jsonb, out tool_calls jsonb,
                                             out partial_tool_calls jsonb)
language sql
stable
set search_path = ''
as $$
  select (select jsonb_agg(jsonb_build_object('name', a.name, 'type', a.type, 'storageId', a.storage_path,
                                              'mimeType', a.mime_type, 'size', a.size_bytes, 'metadata', a.metadata)
                           order by a.position)
            from public.chat_message_attachments a where a.message_id = legacy_arrays.message_id),
         (select jsonb_agg(jsonb_strip_nulls(jsonb_build_object('toolCallId', c.tool_call_id, 'toolName', c.tool_name,
                                              'args', c.args, 'result', c.result, 'textPosition', c.text_position))
                           order by c.position)
            from public.chat_tool_calls c where c.message_id = legacy_arrays.message_id and not c.is_partial),
         (select jsonb_agg(jsonb_strip_nulls(jsonb_build_object('toolCallId', c.tool_call_id, 'toolName', c.tool_name,
                                              'args', c.args, 'result', c.result, 'textPosition', c.text_position))
                           order by c.position)
            from public.chat_tool_calls c where c.message_id = legacy_arrays.message_id and c.is_partial)
$$;

/** v2 INSERT by the app (no legacy_id) → a legacy row first, and the link in NEW.legacy_id. */
create function chat_migration.mirror_v2_insert()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform set_config('chat_migration.mirroring', 'on', true);
  insert into public.chat_messages (conversation_id, user_id, agent_id, role, content, metadata, created_at)
  values (new.conversation_id, new.user_id, new.agent_id, new.role, chat_migration.content_text(new.content),
          new.metadata, new.created_at)
  returning id into new.legacy_id;
  perform set_config('chat_migration.mirroring', '', true);
  return new;
end
$$;

/** v2 UPDATE → legacy UPDATE; a v2 soft delete deletes the legacy row. */
create function chat_migration.mirror_v2_update()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform set_config('chat_migration.mirroring', 'on', true);
  if new.deleted_at is not null then
    delete from public.chat_messages m where m.id = new.legacy_id;
  else
    update public.chat_messages m
       set conversation_id = new.conversation_id, user_id = new.user_id, agent_id = new.agent_id, role = new.role,
           content = chat_migration.content_text(new.content), metadata = new.metadata, updated_at = now()
     where m.id = new.legacy_id
       and (m.conversation_id, m.user_id, m.agent_id, m.role, m.content, m.metadata)
           is distinct from (new.conversation_id, new.user_id, new.agent_id, new.role::text,
                             chat_migration.content_text(new.content), new.metadata);
  end if;
  perform set_config('chat_migration.mirroring', '', true);
  return null;
end
$$;

/** v2 hard DELETE → legacy DELETE. */
create function chat_migration.mirror_v2_delete()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform set_config('chat_migration.mirroring', 'on', true);
  delete from public.chat_messages m where m.id = old.legacy_id;
  perform set_config('chat_migration.mirroring', '', true);
  return null;
end
$$;

/** v2 attachment / tool-call change → rebuild the legacy row's arrays from v2. */
create function chat_migration.mirror_v2_children()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  mid uuid := case when tg_op = 'DELETE' then old.message_id else new.message_id end;
begin
  perform set_config('chat_migration.mirroring', 'on', true);
  update public.chat_messages m
     set attachments = a.attachments, tool_calls = a.tool_calls, partial_tool_calls = a.partial_tool_calls,
         updated_at = now()
    from public.chat_messages_v2 v, chat_migration.legacy_arrays(mid) a
   where v.id = mid and m.id = v.legacy_id
     and (m.attachments, m.tool_calls, m.partial_tool_calls)
         is distinct from (a.attachments, a.tool_calls, a.partial_tool_calls);
  perform set_config('chat_migration.mirroring', '', true);
  return null;
end
$$;

/** v2_only: every write to a legacy table fails, for every role (a trigger, not a privilege). */
create function chat_migration.reject_legacy_write()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'public.% is read-only: the chat schema mode is v2_only', tg_table_name
    using errcode = '55000',
          hint = 'Write to public.chat_messages_v2 (the v2 API) instead. To make legacy writable again run '
                 'select set_chat_schema_mode(''dual_write'') as postgres or service_role.';
end
$$;

/**
 * BEFORE INSERT on conversation_sessions, in every mode until finalize: a v2 session may not take the id of a
 * legacy conversation that another user owns (conversation_owner's rule, legacy half). Without it any user
 * could start a v2 conversation under the id of someone else's not yet migrated conversation (POST /messages
 * accepts a conversation_id), become its owner by the rule, and have every legacy row of the real owner
 * quarantined. An id that already has a session is left to the insert (ON CONFLICT / the primary key); the
 * migration's own session inserts run with chat_migration.mirroring = 'on' and skip this (they follow the rule).
 * Raises 42501 like an RLS refusal. Definer rights: the writer cannot read other users' legacy rows.
 */
create function chat_migration.guard_session_claim()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  legacy_owner uuid;
begin
  if exists (select 1 from chat_migration.mode x where x.finalized_at is not null)
     or exists (select 1 from public.conversation_sessions s where s.id = new.id) then
    return new;
  end if;
  legacy_owner := chat_migration.legacy_conversation_owner(new.id);
  if legacy_owner is not null and legacy_owner is distinct from new.user_id then
    raise exception 'conversation % belongs to another user', new.id
      using errcode = '42501',
            hint = 'Start a new conversation without choosing its id (the server picks one), or use one of your own.';
  end if;
  return new;
end
$$;

create trigger chat_migration_guard_session_claim before insert on public.conversation_sessions
  for each row when (not chat_migration.mirroring()) execute function chat_migration.guard_session_claim();

create trigger chat_migration_mirror_insert after insert on public.chat_messages
  referencing new table as new_rows for each statement
  when (not chat_migration.mirroring()) execute function chat_migration.mirror_legacy_upsert();
create trigger chat_migration_mirror_update after update on public.chat_messages
  referencing new table as new_rows for each statement
  when (not chat_migration.mirroring()) execute function chat_migration.mirror_legacy_upsert();
create trigger chat_migration_mirror_delete after delete on public.chat_messages
  referencing old table as old_rows for each statement
  when (not chat_migration.mirroring()) execute function chat_migration.mirror_legacy_delete();
create trigger chat_migration_reject_writes before insert or update or delete or truncate on public.chat_messages
  for each statement execute function chat_migration.reject_legacy_write();
create trigger chat_migration_reject_writes before insert or update or delete or truncate on public.chat_states
  for each statement execute function chat_migration.reject_legacy_write();

create trigger chat_migration_mirror_insert before insert on public.chat_messages_v2
  for each row when (new.legacy_id is null and not chat_migration.mirroring())
  execute function chat_migration.mirror_v2_insert();
create trigger chat_migration_mirror_update after update on public.chat_messages_v2
  for each row when (new.legacy_id is not null and not chat_migration.mirroring())
  execute function chat_migration.mirror_v2_update();
create trigger chat_migration_mirror_delete after delete on public.chat_messages_v2
  for each row when (old.legacy_id is not null and not chat_migration.mirroring())
  execute function chat_migration.mirror_v2_delete();
create trigger chat_migration_mirror_children after insert or update or delete on public.chat_message_attachments
  for each row when (not chat_migration.mirroring()) execute function chat_migration.mirror_v2_children();
create trigger chat_migration_mirror_children after insert or update or delete on public.chat_tool_calls
  for each row when (not chat_migration.mirroring()) execute function chat_migration.mirror_v2_children();

alter table public.chat_messages disable trigger chat_migration_mirror_insert;
alter table public.chat_messages disable trigger chat_migration_mirror_update;
alter table public.chat_messages disable trigger chat_migration_mirror_delete;
alter table public.chat_messages disable trigger chat_migration_reject_writes;
alter table public.chat_states disable trigger chat_migration_reject_writes;
alter table public.chat_messages_v2 disable trigger chat_migration_mirror_insert;
alter table public.chat_messages_v2 disable trigger chat_migration_mirror_update;
alter table public.chat_messages_v2 disable trigger chat_migration_mirror_delete;
alter table public.chat_message_attachments disable trigger chat_migration_mirror_children;
alter table public.chat_tool_calls disable trigger chat_migration_mirror_children;

/**
 * v2_only: a v2 edit is stamped with the moment it is written (clock_timestamp()), not with its transaction's
 * start (now(), what set_updated_at uses). Verify (skipping v2 rows changed after the switch) and the copy back
 * to legacy when leaving v2_only (copying them) tell such edits by updated_at > the switch's time. A
 * transaction that began before the switch and wrote after it would otherwise look older than the switch, and
 * its edit would never reach legacy (found by test/races/mode-switches.test.ts on PostgreSQL 15). Enabled in
 * v2_only only; BEFORE triggers fire in name order, so this one runs after chat_messages_v2_set_updated_at.
 */
create function chat_migration.stamp_v2_only_edit()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := clock_timestamp();
  return new;
end
$$;

create trigger chat_migration_stamp_v2_only_edit before update on public.chat_messages_v2
  for each row execute function chat_migration.stamp_v2_only_edit();
alter table public.chat_messages_v2 disable trigger chat_migration_stamp_v2_only_edit;

/** Enables exactly the triggers of a mode. Owner rights needed for ALTER TABLE, hence only called by definers. */
create function chat_migration.apply_mode_triggers(target text)
returns void
language plpgsql
set search_path = ''
as $$
declare
  dual text := case when target = 'dual_write' then 'enable' else 'disable' end;
  reject text := case when target = 'v2_only' then 'enable' else 'disable' end;
begin
  execute format('alter table public.chat_messages %s trigger chat_migration_mirror_insert', dual);
  execute format('alter table public.chat_messages %s trigger chat_migration_mirror_update', dual);
  execute format('alter table public.chat_messages %s trigger chat_migration_mirror_delete', dual);
  execute format('alter table public.chat_messages %s trigger chat_migration_reject_writes', reject);
  execute format('alter table public.chat_states %s trigger chat_migration_reject_writes', reject);
  execute format('alter table public.chat_messages_v2 %s trigger chat_migration_mirror_insert', dual);
  execute format('alter table public.chat_messages_v2 %s trigger chat_migration_mirror_update', dual);
  execute format('alter table public.chat_messages_v2 %s trigger chat_migration_mirror_delete', dual);
  execute format('alter table public.chat_message_attachments %s trigger chat_migration_mirror_children', dual);
  execute format('alter table public.chat_tool_calls %s trigger chat_migration_mirror_children', dual);
  execute format('alter table public.chat_messages_v2 %s trigger chat_migration_stamp_v2_only_edit', reject);
end
$$;

/**
 * Takes SHARE ROW EXCLUSIVE on every table whose triggers a mode change flips — all of them or none. Writers lock
 * these tables in opposite orders (a legacy write mirrors into v2, a v2 write into legacy), so a mode change that
 * waited for one table while holding another closed a deadlock cycle with a writer (found by
 * test/races/mode-switches.test.ts on PostgreSQL 15: 40P01 between set_chat_schema_mode and a v2 insert). Each
 * attempt waits at most 100 ms per table, far below deadlock_timeout, inside a subtransaction; one that times out
 * releases what it took, lets the writers through, and tries again, until `patience` has passed (55P03).
 */
create function chat_migration.lock_chat_tables(patience interval default interval '5 seconds')
returns void
language plpgsql
set search_path = ''
as $$
declare
  give_up timestamptz := clock_timestamp() + patience;
  caller_timeout text := current_setting('lock_timeout');
begin
  loop
    begin
      perform set_config('lock_timeout', '100ms', true);
      lock table public.chat_messages_v2, public.chat_message_attachments, public.chat_tool_calls,
                 public.chat_messages, public.chat_states in share row exclusive mode;
      perform set_config('lock_timeout', caller_timeout, true);
      return;
    exception when lock_not_available then
      if clock_timestamp() > give_up then
        raise exception 'could not lock the chat tables for a mode change within %: writers kept them busy', patience
          using errcode = '55P03',
                hint = 'Nothing changed. Try again at a quieter moment, or find long transactions on the chat tables '
                       'in pg_stat_activity.';
      end if;
    end;
    perform pg_sleep(0.01 + random() * 0.04);
  end loop;
end
$$;

/**
 * Copies to legacy what v2 gained while legacy was read-only (v2_only): v2 rows legacy lacks get a legacy row and
 * the legacy_id link, v2 edits overwrite their legacy row, v2 soft deletes delete it. History imported from
 * chat_states is not copied (it never had a legacy row). Returns the rows touched.
 */
create function chat_migration.copy_v2_to_legacy()
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  added bigint;
  changed bigint;
  removed bigint;
  since timestamptz := (select max(c.at) from chat_migration.mode_changes c where c.to_mode = 'v2_only');
begin
  perform set_config('chat_migration.mirroring', 'on', true);
  with pick as materialized (
    select v.*, nextval(pg_get_serial_sequence('public.chat_messages', 'id')::regclass) as new_id
      from public.chat_messages_v2 v
     where v.deleted_at is null and v.legacy_id is null
       and coalesce(v.metadata ->> 'source', '') <> 'chat_states'
  ),
  ins as (
    insert into public.chat_messages (id, conversation_id, user_id, agent_id, role, content, attachments, tool_calls,
                                      partial_tool_calls, metadata, created_at, updated_at)
    overriding system value
    select p.new_id, p.conversation_id, p.user_id, p.agent_id, p.role, chat_migration.content_text(p.content),
           a.attachments, a.tool_calls, a.partial_tool_calls, p.metadata, p.created_at, p.updated_at
      from pick p cross join lateral chat_migration.legacy_arrays(p.id) a
    returning 1
  )
  update public.chat_messages_v2 v set legacy_id = p.new_id from pick p where v.id = p.id;
  get diagnostics added = row_count;

  update public.chat_messages m
     set conversation_id = v.conversation_id, user_id = v.user_id, agent_id = v.agent_id, role = v.role,
         content = chat_migration.content_text(v.content), metadata = v.metadata,
         attachments = a.attachments, tool_calls = a.tool_calls, partial_tool_calls = a.partial_tool_calls,
         updated_at = v.updated_at
    from public.chat_messages_v2 v cross join lateral chat_migration.legacy_arrays(v.id) a
   where v.legacy_id = m.id and v.deleted_at is null
     and coalesce(v.updated_at, v.created_at) >= coalesce(since, '-infinity')
     and (m.conversation_id, m.user_id, m.agent_id, m.role, m.content, m.metadata, m.attachments, m.tool_calls,
          m.partial_tool_calls)
         is distinct from (v.conversation_id, v.user_id, v.agent_id, v.role::text, chat_migration.content_text(v.content),
                           v.metadata, a.attachments, a.tool_calls, a.partial_tool_calls);
  get diagnostics changed = row_count;

  -- a mirror retired because its legacy row is quarantined is not a v2 delete: that legacy row stays
  delete from public.chat_messages m
   using public.chat_messages_v2 v
   where v.legacy_id = m.id and v.deleted_at is not null
     and not exists (select 1 from chat_migration.quarantine q where q.source_table = 'chat_messages'
                       and q.source_id = m.id::text and q.resolved_at is null);
  get diagnostics removed = row_count;
  perform set_config('chat_migration.mirroring', '', true);
  return added + changed + removed;
end
$$;

-- ---------------------------------------------------------------------------------------------------------
-- Verification
-- ---------------------------------------------------------------------------------------------------------

/**
 * One row per check; ok = false means do not cut over. Compares content, not just counts: every legacy row that is
 * not quarantined must have a v2 row equal to what the mapping rules produce from the legacy row as it is NOW
 * (so a legacy row edited after it was migrated, outside dual_write, is a mismatch). In v2_only mode, v2 rows
 * changed after the switch are newer than legacy by design and are not compared. The 'tenancy' check counts v2
 * rows that put one user's data in another user's session or on another user's agent (any is a failure);
 * legacy rows quarantined for that reason are accounted in its legacy_count.
 * jit = off: the planner's estimates for the outer joins below are orders of magnitude too high, which sends the
 * query over jit_above_cost at any size; on PostgreSQL 15 with 10,000 messages, compiling took 1.4–2.5 s of a
 * 1.8–2.9 s verify that runs in 0.4 s without it.
 */
create function public.verify_chat_migration()
returns table (check_name text, legacy_count bigint, v2_count bigint, mismatches bigint, ok boolean)
language plpgsql
stable
set search_path = ''
set jit = off
as $$
declare
  cur_mode text;
  since timestamptz;
begin
  select x.mode, case when x.mode = 'v2_only' then
           (select max(c.at) from chat_migration.mode_changes c where c.to_mode = 'v2_only') end
    into cur_mode, since
    from chat_migration.mode x;
  if exists (select 1 from chat_migration.mode where finalized_at is not null) then
    return query select 'finalized'::text, 0::bigint, 0::bigint, 0::bigint, true;
    return;
  end if;

  return query
  with l as materialized (
    select m.*, coalesce(m.content, '') as body,
           exists (select 1 from chat_migration.quarantine q where q.source_table = 'chat_messages'
                     and q.source_id = m.id::text and q.resolved_at is null) as quarantined
      from public.chat_messages m
  ),
  v as materialized (
    select v.*,
           case when v.content ->> 'type' = 'text' then v.content ->> 'text'
                else chat_migration.content_text(v.content) end as v_text,
           (since is not null and greatest(coalesce(v.updated_at, v.created_at),
                                                coalesce(v.deleted_at, v.created_at)) > since) as superseded
      from public.chat_messages_v2 v
     where v.legacy_id is not null
  ),
  va as (
    select a.message_id, jsonb_agg(jsonb_build_object(
             'position', a.rn - 1, 'name', a.name, 'type', a.type, 'storage_path', a.storage_path,
             'mime_type', a.mime_type, 'size_bytes', a.size_bytes, 'metadata', coalesce(a.metadata, '{}'::jsonb))
             order by a.rn) as items, count(*) as n
      from (select a.*, row_number() over (partition by a.message_id order by a.position) as rn
              from public.chat_message_attachments a
             where a.message_id in (select v.id from v)) as a
     group by a.message_id
  ),
  vt as (
    select c.message_id, jsonb_agg(jsonb_build_object(
             'position', c.rn - 1, 'tool_call_id', c.tool_call_id, 'tool_name', c.tool_name, 'args', c.args,
             'result', c.result, 'text_position', c.text_position, 'is_partial', c.is_partial)
             order by c.rn) as items, count(*) as n
      from (select c.*, row_number() over (partition by c.message_id order by c.is_partial, c.position) as rn
              from public.chat_tool_calls c
             where c.message_id in (select v.id from v)) as c
     group by c.message_id
  ),
  pairs as materialized (
    select l.id, l.conversation_id, l.user_id, l.quarantined, v.id as v2_id, coalesce(v.superseded, false) as superseded,
           v.id is not null and v.deleted_at is null as live,
           (v.id is not null
            and v.deleted_at is null
            and v.conversation_id = l.conversation_id and v.user_id = l.user_id
            and v.agent_id is not distinct from l.agent_id
            and v.role::text = chat_migration.map_role(l.role)
            and v.created_at = l.created_at
            and v.v_text = l.body
            and v.content ->> 'type' in ('text', 'parts')
            -- metadata kept as is; tokens either the ones the backfill computed or the same on both sides
            -- (rows the app wrote through v2 need not carry tokens at all)
            and (v.metadata - 'tokens') = (coalesce(l.metadata, '{}'::jsonb) - 'tokens')
            and (v.metadata -> 'tokens' = chat_migration.v2_metadata(l.metadata, l.body) -> 'tokens'
                 or v.metadata -> 'tokens' is not distinct from l.metadata -> 'tokens')) as same_row,
           -- the CASEs keep the common row (no arrays, text content) off the non-inlinable helpers
           case when l.attachments is null then '[]'::jsonb
                else chat_migration.legacy_attachments_norm(l.attachments) end as l_att,
           coalesce(va.items, '[]'::jsonb) as v_att,
           case when l.tool_calls is null and l.partial_tool_calls is null then '[]'::jsonb
                else chat_migration.legacy_tool_calls_norm(l.tool_calls, l.partial_tool_calls) end as l_tc,
           coalesce(vt.items, '[]'::jsonb) as v_tc,
           md5(concat_ws('|', l.id, chat_migration.map_role(l.role), l.body, l.created_at, l.user_id, l.agent_id))
             as l_hash,
           case when v.id is not null and v.deleted_at is null then
             md5(concat_ws('|', v.legacy_id, v.role, v.v_text, v.created_at, v.user_id,
                           v.agent_id)) end as v_hash
      from l
      left join v on v.legacy_id = l.id
      left join va on va.message_id = v.id
      left join vt on vt.message_id = v.id
  ),
  judged as materialized (
    select p.*, not p.quarantined and not p.superseded as compared from pairs p
  ),
  conv as (
    select j.conversation_id,
           md5(string_agg(j.l_hash, ',' order by j.id)) as l_sum,
           md5(string_agg(coalesce(j.v_hash, 'missing'), ',' order by j.id)) as v_sum
      from judged j where j.compared
     group by j.conversation_id
  ),
  orphans as (
    select count(*) as n from v
     where v.deleted_at is null and not v.superseded
       and not exists (select 1 from public.chat_messages m where m.id = v.legacy_id)
  ),
  sessions as (
    select count(distinct j.conversation_id) as legacy_n,
           count(distinct j.conversation_id) filter (where s.id is not null) as v2_n,
           count(distinct j.conversation_id) filter (where s.id is null or s.user_id is null) as bad
      from judged j
      left join public.conversation_sessions s on s.id = j.conversation_id
     where not j.quarantined
  ),
  states as (
    select count(*) filter (where not exists (select 1 from chat_migration.quarantine q where q.source_table = 'chat_states'
                                                 and q.source_id = s.conversation_id::text and q.resolved_at is null))
             as legacy_n,
           count(x.conversation_id) as v2_n,
           count(*) filter (where x.conversation_id is null
                              and not exists (select 1 from chat_migration.quarantine q where q.source_table = 'chat_states'
                                                 and q.source_id = s.conversation_id::text and q.resolved_at is null))
             as missing
      from public.chat_states s
      left join chat_migration.migrated_states x on x.conversation_id = s.conversation_id
  ),
  unlinked as (
    select count(*) as n from public.chat_messages_v2 v
     where v.legacy_id is null and v.deleted_at is null and coalesce(v.metadata ->> 'source', '') <> 'chat_states'
  ),
  -- Tenancy, over every v2 row whoever wrote it (check_chat_schema_integrity() names the same cases one by
  -- one, with sample ids): a message of another user than its session's, or on an agent its user does not
  -- own; a session on such an agent; a memory, state, snapshot or checkpoint whose user_id is not its
  -- agent's owner, or whose session (a memory: source message) belongs to another user than its agent's owner.
  -- held: legacy rows quarantined for naming another user's conversation or agent (accounted, not failures).
  tenancy as (
    select
      (select count(*) from chat_migration.quarantine q
        where q.resolved_at is null
          and q.reason in ('conversation_owned_by_other_user', 'agent_owned_by_other_user')) as held,
      (select count(*) from public.chat_messages_v2 m
         join public.conversation_sessions s on s.id = m.conversation_id
         left join public.agents a on a.id = m.agent_id
        where m.user_id <> s.user_id or a.owner_id <> m.user_id)
      + (select count(*) from public.conversation_sessions s join public.agents a on a.id = s.agent_id
          where a.owner_id <> s.user_id)
      + (select count(*) from public.agent_memories x join public.agents a on a.id = x.agent_id
           left join public.chat_messages_v2 sm on sm.id = x.source_message_id
          where x.user_id <> a.owner_id or sm.user_id <> a.owner_id)
      + (select count(*) from public.agent_states x join public.agents a on a.id = x.agent_id
           left join public.conversation_sessions s on s.id = x.session_id
          where x.user_id <> a.owner_id or s.user_id <> a.owner_id)
      + (select count(*) from public.context_snapshots x join public.agents a on a.id = x.agent_id
           join public.conversation_sessions s on s.id = x.session_id
          where x.user_id <> a.owner_id or s.user_id <> a.owner_id)
      + (select count(*) from public.state_checkpoints x join public.agents a on a.id = x.agent_id
           left join public.conversation_sessions s on s.id = x.session_id
          where x.user_id <> a.owner_id or s.user_id <> a.owner_id) as broken
  ),
  checks (ord, check_name, legacy_count, v2_count, mismatches, ok) as (
  select 1, 'legacy_rows_accounted'::text, count(*), count(*) filter (where j.quarantined or j.v2_id is not null),
         count(*) filter (where not j.quarantined and j.v2_id is null), null::boolean
    from judged j
  union all
  select 2, 'messages', count(*) filter (where j.compared), count(*) filter (where j.compared and j.live),
         count(*) filter (where j.compared and not j.live), null
    from judged j
  union all
  select 3, 'message_content', count(*) filter (where j.compared and j.live),
         count(*) filter (where j.compared and j.same_row),
         count(*) filter (where j.compared and j.live and not j.same_row), null
    from judged j
  union all
  select 4, 'conversation_checksums', count(*), count(*) filter (where c.l_sum = c.v_sum),
         count(*) filter (where c.l_sum <> c.v_sum), null
    from conv c
  union all
  select 5, 'attachments', coalesce(sum(jsonb_array_length(j.l_att)) filter (where j.compared), 0)::bigint,
         coalesce(sum(jsonb_array_length(j.v_att)) filter (where j.compared), 0)::bigint,
         count(*) filter (where j.compared and j.live and j.l_att <> j.v_att), null
    from judged j
  union all
  select 6, 'tool_calls', coalesce(sum(jsonb_array_length(j.l_tc)) filter (where j.compared), 0)::bigint,
         coalesce(sum(jsonb_array_length(j.v_tc)) filter (where j.compared), 0)::bigint,
         count(*) filter (where j.compared and j.live and j.l_tc <> j.v_tc), null
    from judged j
  union all
  select 7, 'sessions', s.legacy_n, s.v2_n, s.bad, null from sessions s
  union all
  select 8, 'orphans', 0::bigint, o.n, o.n, null from orphans o
  union all
  select 9, 'quarantine', count(*) filter (where j.quarantined), count(*) filter (where j.quarantined and j.live),
         0::bigint, true
    from judged j
  union all
  select 10, 'chat_states', st.legacy_n, st.v2_n, st.missing, null from states st
  union all
  select 11, 'v2_rows_without_legacy', 0::bigint, u.n, case when cur_mode = 'dual_write' then u.n else 0 end, null
    from unlinked u
  union all
  select 12, 'tenancy', t.held, t.broken, t.broken, null from tenancy t
  )
  select c.check_name, c.legacy_count, c.v2_count, c.mismatches, coalesce(c.ok, c.mismatches = 0) from checks c
   order by c.ord;  -- the documented order, also when the planner runs the branches as a parallel append
end
$$;

-- ---------------------------------------------------------------------------------------------------------
-- Mode changes and finalize (definer: they ALTER tables the API roles do not own)
-- ---------------------------------------------------------------------------------------------------------

/**
 * legacy → dual_write → v2_only (and back). dual_write enables the mirror triggers both ways; v2_only makes
 * legacy read-only and refuses while verify_chat_migration() is not clean; leaving v2_only first copies to
 * legacy what v2 gained (and moves archived legacy tables back after a finalize). Logged in
 * chat_migration.mode_changes. Takes a brief lock on the chat tables (lock_timeout 5s, then retry).
 */
create function public.set_chat_schema_mode(mode text)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  cur chat_migration.mode;
  failing text;
  copied bigint := 0;
  note text := null;
begin
  if mode is null or mode not in ('legacy', 'dual_write', 'v2_only') then
    raise exception 'unknown chat schema mode: %', coalesce(mode, '(null)')
      using errcode = '22023', hint = 'Use one of: legacy, dual_write, v2_only.';
  end if;
  perform set_config('lock_timeout', '5s', true);
  select * into cur from chat_migration.mode for update;

  if cur.finalized_at is not null then
    if mode = 'v2_only' then
      return 'v2_only';
    end if;
    -- un-finalize: bring the archived legacy tables back before copying to them
    alter table chat_archive.chat_messages set schema public;
    alter table chat_archive.chat_states set schema public;
    update chat_migration.mode set finalized_at = null;
    note := 'legacy tables moved back from chat_archive';
  elsif cur.mode = mode then
    raise notice 'chat schema mode is already %', mode;
    return mode;
  end if;

  -- From legacy (no mirrors) a write between verify and the switch would be stranded in read-only legacy, so
  -- the tables are locked before verify; from dual_write every write is mirrored and writers need not wait.
  if not (mode = 'v2_only' and cur.mode = 'dual_write') then
    perform chat_migration.lock_chat_tables();
  end if;
  if mode = 'v2_only' then
    select string_agg(format('%s (%s mismatches)', c.check_name, c.mismatches), ', ') into failing
      from public.verify_chat_migration() c where not c.ok;
    if failing is not null then
      raise exception 'cannot switch to v2_only: verification is not clean: %', failing
        using errcode = '55000',
              hint = 'Finish the backfill (call run_chat_migration()) and select migrate_chat_states(); re-copy '
                     'drifted rows with select repair_chat_migration(); inspect select * from '
                     'verify_chat_migration() where not ok; then try again.';
    end if;
    if cur.mode = 'dual_write' then
      perform chat_migration.lock_chat_tables();
    end if;
  end if;

  if cur.mode = 'v2_only' and mode <> 'v2_only' then
    perform chat_migration.apply_mode_triggers('legacy');  -- legacy writable again before copying into it
    copied := chat_migration.copy_v2_to_legacy();
    note := concat_ws('; ', note, format('copied %s v2 changes to legacy', copied));
  end if;

  perform chat_migration.apply_mode_triggers(mode);
  update chat_migration.mode set mode = set_chat_schema_mode.mode, changed_at = now();
  -- at: taken under the table locks, after every write of the old mode (see stamp_v2_only_edit)
  insert into chat_migration.mode_changes (from_mode, to_mode, changed_by, note, at)
  values (cur.mode, mode, session_user, note, clock_timestamp());
  return mode;
end
$$;

/**
 * The last step: moves public.chat_messages and public.chat_states to schema chat_archive (ALTER TABLE … SET
 * SCHEMA — no copy, no drop) once mode is v2_only and verification is clean.
 */
create function public.finalize_chat_migration()
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  cur chat_migration.mode;
  failing text;
begin
  select * into cur from chat_migration.mode for update;
  if cur.finalized_at is not null then
    raise notice 'chat migration already finalized at %', cur.finalized_at;
    return 'finalized';
  end if;
  if cur.mode <> 'v2_only' then
    raise exception 'cannot finalize the chat migration while mode is %', cur.mode
      using errcode = '55000',
            hint = 'Switch reads and writes to v2 first: select set_chat_schema_mode(''v2_only''); '
                   '(it requires a clean verify_chat_migration()).';
  end if;
  select string_agg(format('%s (%s mismatches)', c.check_name, c.mismatches), ', ') into failing
    from public.verify_chat_migration() c where not c.ok;
  if failing is not null then
    raise exception 'cannot finalize the chat migration: verification is not clean: %', failing
      using errcode = '55000',
            hint = 'Inspect select * from verify_chat_migration() where not ok; fix the rows, then finalize again.';
  end if;
  perform set_config('lock_timeout', '5s', true);
  create schema if not exists chat_archive;
  revoke all on schema chat_archive from public;
  alter table public.chat_messages set schema chat_archive;
  alter table public.chat_states set schema chat_archive;
  update chat_migration.mode set finalized_at = now();
  insert into chat_migration.mode_changes (from_mode, to_mode, changed_by, note)
  values ('v2_only', 'v2_only', session_user, 'finalized: legacy tables moved to chat_archive');
  return 'finalized';
end
$$;

-- ---------------------------------------------------------------------------------------------------------
-- Privileges: the API is for postgres (owner) and service_role only. Supabase's default privileges grant
-- EXECUTE on new public functions to anon and authenticated, hence the explicit revokes.
-- ---------------------------------------------------------------------------------------------------------
revoke execute on all functions in schema chat_migration from public, anon, authenticated;
grant execute on all functions in schema chat_migration to service_role;
-- The mirror triggers' WHEN clause runs with the writer's rights, and the app writes as authenticated.
grant execute on function chat_migration.mirroring() to authenticated;

revoke execute on function public.migrate_with_progress(integer) from public, anon, authenticated;
revoke execute on function public.migrate_chat_messages() from public, anon, authenticated;
revoke execute on function public.migrate_chat_messages_batch(integer) from public, anon, authenticated;
revoke execute on procedure public.run_chat_migration(integer, integer) from public, anon, authenticated;
revoke execute on function public.migrate_chat_states() from public, anon, authenticated;
revoke execute on function public.verify_chat_migration() from public, anon, authenticated;
revoke execute on function public.set_chat_schema_mode(text) from public, anon, authenticated;
revoke execute on function public.finalize_chat_migration() from public, anon, authenticated;
revoke execute on function public.chat_migration_status() from public, anon, authenticated;
revoke execute on function public.pause_chat_migration() from public, anon, authenticated;
revoke execute on function public.resume_chat_migration() from public, anon, authenticated;
revoke execute on function public.list_chat_migration_quarantine(integer) from public, anon, authenticated;
revoke execute on function public.retry_chat_migration_quarantine() from public, anon, authenticated;
revoke execute on function public.repair_chat_migration(integer) from public, anon, authenticated;

grant execute on function public.migrate_with_progress(integer) to service_role;
grant execute on function public.migrate_chat_messages() to service_role;
grant execute on function public.migrate_chat_messages_batch(integer) to service_role;
grant execute on procedure public.run_chat_migration(integer, integer) to service_role;
grant execute on function public.migrate_chat_states() to service_role;
grant execute on function public.verify_chat_migration() to service_role;
grant execute on function public.set_chat_schema_mode(text) to service_role;
grant execute on function public.finalize_chat_migration() to service_role;
grant execute on function public.chat_migration_status() to service_role;
grant execute on function public.pause_chat_migration() to service_role;
grant execute on function public.resume_chat_migration() to service_role;
grant execute on function public.list_chat_migration_quarantine(integer) to service_role;
grant execute on function public.retry_chat_migration_quarantine() to service_role;
grant execute on function public.repair_chat_migration(integer) to service_role;
