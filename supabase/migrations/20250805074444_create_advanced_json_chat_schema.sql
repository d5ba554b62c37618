-- Schema v2 (advanced JSON chat): sessions, structured messages, vector memories, versioned agent state.
--
-- Purpose : the target schema (docs/schema.md) — every table, its constraints, indexes and row level security.
--           Triggers live in 20250805074445, the state/memory API in 20250805074446 and maintenance /
--           health functions in 20250805074447, so each file is about one thing; together they are "v2".
-- Objects : extension vector (schema extensions, if absent); enum types public.message_role,
--           public.session_status, public.memory_type, public.state_type, public.checkpoint_type (the fixed
--           vocabularies, declared once); function public.is_valid_message_content;
--           schema chat_private with its inlinable twin chat_private.is_valid_message_content (the CHECK's)
--           and the RLS helper chat_private.owns_message;
--           tables public.conversation_sessions, chat_messages_v2, chat_message_revisions,
--           chat_message_attachments, chat_tool_calls, agent_memories, agent_states, context_snapshots,
--           state_checkpoints, policy_events; their indexes and policies; default privileges on functions.
-- Locks   : creates new tables only. Foreign keys to public.agents and auth.users take a SHARE ROW EXCLUSIVE
--           lock on those two tables until this transaction commits (writes — new agents, sign-ups — wait
--           for milliseconds; reads never do). No rewrite of existing data; legacy chat tables untouched.
-- Rollback: supabase/rollbacks/20250805074444_create_advanced_json_chat_schema.down.sql — undoes this file and
--           leaves legacy tables and data untouched; `npm run db:rollback -- --to 20250805074444` first rolls
--           back every newer file built on it, newest first (docs/schema.md#rollback).
--
-- Conventions used below:
--   * RLS is enabled on every table here; one policy per operation per role, named as a sentence;
--     `(select auth.uid())` so Postgres evaluates it once per statement, not once per row.
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

-- ---------------------------------------------------------------------------------------------------------
-- conversation_sessions
-- ---------------------------------------------------------------------------------------------------------

/**
 * One row per conversation; its id IS the conversation id (legacy chat_messages.conversation_id maps 1:1).
 * message_count / token_count / last_message_at are kept by triggers on chat_messages_v2 (live messages
 * only: soft-deleted ones do not count), so listing a user's conversations never aggregates messages.
 */
create table public.conversation_sessions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  agent_id uuid references public.agents (id) on delete set null,
  title text check (char_length(title) <= 500),
  status public.session_status not null default 'active',
  session_state jsonb not null default '{}'::jsonb check (jsonb_typeof(session_state) = 'object'),
  metadata jsonb not null default '{}'::jsonb check (jsonb_typeof(metadata) = 'object'),
  message_count integer not null default 0 check (message_count >= 0),
  token_count bigint not null default 0 check (token_count >= 0),
  last_message_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

comment on table public.conversation_sessions is
  'One row per conversation (id = conversation id); metrics kept by triggers on chat_messages_v2.';

-- "my conversations, most recent first"
create index conversation_sessions_user_id_last_message_at_idx
  on public.conversation_sessions (user_id, last_message_at desc nulls last);
create index conversation_sessions_agent_id_idx on public.conversation_sessions (agent_id);

-- ---------------------------------------------------------------------------------------------------------
-- chat_messages_v2
-- ---------------------------------------------------------------------------------------------------------

/**
 * Structured messages. content is CHECK-validated jsonb; version is bumped by a trigger on every content
 * edit (the previous content goes to chat_message_revisions); deleted_at is a soft delete.
 * client_message_id makes client retries idempotent per conversation; legacy_id is the chat_messages.id a
 * migrated row came from (unique: a legacy row is migrated at most once).
 */
create table public.chat_messages_v2 (
  id uuid primary key default gen_random_uuid(),
  conversation_id uuid not null references public.conversation_sessions (id) on delete cascade,
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  agent_id uuid references public.agents (id) on delete set null,
  role public.message_role not null,
  content jsonb not null constraint chat_messages_v2_content_check check (chat_private.is_valid_message_content(content)),
  version integer not null default 1 check (version >= 1),
  parent_message_id uuid references public.chat_messages_v2 (id) on delete set null,
  metadata jsonb not null default '{}'::jsonb check (jsonb_typeof(metadata) = 'object'),
  client_message_id text check (char_length(client_message_id) between 1 and 200),
  legacy_id bigint,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  deleted_at timestamptz,
  constraint chat_messages_v2_conversation_id_client_message_id_key unique (conversation_id, client_message_id),
  constraint chat_messages_v2_legacy_id_key unique (legacy_id),
  constraint chat_messages_v2_not_own_parent check (parent_message_id <> id)
);

comment on table public.chat_messages_v2 is
  'Structured chat messages (jsonb content, versions, threads, soft delete); legacy_id links to chat_messages.id.';

-- Keyset pagination: where conversation_id = $1 and (created_at, id) < ($2, $3) order by created_at desc, id desc.
create index chat_messages_v2_conversation_id_created_at_id_idx
  on public.chat_messages_v2 (conversation_id, created_at desc, id desc);
create index chat_messages_v2_user_id_idx on public.chat_messages_v2 (user_id);
create index chat_messages_v2_agent_id_idx on public.chat_messages_v2 (agent_id);
create index chat_messages_v2_parent_message_id_idx
  on public.chat_messages_v2 (parent_message_id) where parent_message_id is not null;
-- metadata is queried by containment (metadata @> '{"source":"chat_states"}'); jsonb_path_ops is smaller
-- and faster than the default opclass for @>, and @> is the only operator we use on it.
create index chat_messages_v2_metadata_idx on public.chat_messages_v2 using gin (metadata jsonb_path_ops);

-- ---------------------------------------------------------------------------------------------------------
-- chat_message_revisions
-- ---------------------------------------------------------------------------------------------------------

/**
 * Previous contents of edited messages: row (message_id, version) holds the content the message had at
 * that version, written by the edit trigger (a security definer function) — users read their history
 * but cannot forge or erase it.
 */
create table public.chat_message_revisions (
  id bigint generated always as identity primary key,
  message_id uuid not null references public.chat_messages_v2 (id) on delete cascade,
  version integer not null check (version >= 1),
  content jsonb not null,
  metadata jsonb not null default '{}'::jsonb,
  edited_by uuid default auth.uid(),
  created_at timestamptz not null default now(),
  constraint chat_message_revisions_message_id_version_key unique (message_id, version)
);

comment on table public.chat_message_revisions is
  'Content a message had before each edit, one row per superseded version; written only by trigger.';

-- ---------------------------------------------------------------------------------------------------------
-- chat_message_attachments, chat_tool_calls
-- ---------------------------------------------------------------------------------------------------------

/** Attachments normalized out of the legacy jsonb array; position keeps the original order. */
create table public.chat_message_attachments (
  id uuid primary key default gen_random_uuid(),
  message_id uuid not null references public.chat_messages_v2 (id) on delete cascade,
  position integer not null check (position >= 0),
  type text,
  name text not null,
  storage_path text not null,
  mime_type text,
  size_bytes bigint check (size_bytes >= 0),
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  constraint chat_message_attachments_message_id_position_key unique (message_id, position)
);

comment on table public.chat_message_attachments is
  'One row per attachment of a message, in order (legacy chat_messages.attachments normalized).';

/** Tool calls normalized out of the legacy tool_calls / partial_tool_calls arrays. */
create table public.chat_tool_calls (
  id uuid primary key default gen_random_uuid(),
  message_id uuid not null references public.chat_messages_v2 (id) on delete cascade,
  position integer not null check (position >= 0),
  tool_call_id text not null,
  tool_name text not null,
  args jsonb,
  result jsonb,
  text_position integer,
  is_partial boolean not null default false,
  created_at timestamptz not null default now(),
  constraint chat_tool_calls_message_id_position_key unique (message_id, position)
);

comment on table public.chat_tool_calls is
  'One row per tool call of a message, in order; is_partial marks calls that never completed.';

-- A tool result arrives later and is matched to its call by tool_call_id.
create index chat_tool_calls_tool_call_id_idx on public.chat_tool_calls (tool_call_id);

-- ---------------------------------------------------------------------------------------------------------
-- agent_memories
-- ---------------------------------------------------------------------------------------------------------

/**
 * Long-term memories of an agent with an embedding for similarity search (match_agent_memories).
 * importance (0..1) decays at decay_rate per day without access (decay_agent_memories); expired rows are
 * swept by sweep_expired_memories.
 */
create table public.agent_memories (
  id uuid primary key default gen_random_uuid(),
  agent_id uuid not null references public.agents (id) on delete cascade,
  user_id uuid default auth.uid() references auth.users (id) on delete cascade,
  memory_type public.memory_type not null,
  content text not null,
  -- A norm below 2^-63 (squared norm below the smallest normal float4) makes cosine distance NaN or
  -- nonsense: pgvector sums squares in float4. match_agent_memories refuses such queries (AJC13).
  embedding extensions.vector(1536)
    constraint agent_memories_embedding_normalisable_check
    check (embedding is null or extensions.vector_norm(embedding) >= power(2::double precision, -63)),
  embedding_model text,
  importance real not null default 0.5 check (importance >= 0 and importance <= 1),
  decay_rate real not null default 0.01 check (decay_rate >= 0 and decay_rate <= 1),
  access_count integer not null default 0 check (access_count >= 0),
  last_accessed_at timestamptz,
  related_memory_ids uuid[] not null default '{}',
  source_message_id uuid references public.chat_messages_v2 (id) on delete set null,
  metadata jsonb not null default '{}'::jsonb check (jsonb_typeof(metadata) = 'object'),
  expires_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

comment on table public.agent_memories is
  'Agent memories with 1536-dim embeddings (cosine IVFFlat); reachable only through an agent the user owns.';

create index agent_memories_agent_id_memory_type_idx on public.agent_memories (agent_id, memory_type);
create index agent_memories_user_id_idx on public.agent_memories (user_id);
create index agent_memories_source_message_id_idx
  on public.agent_memories (source_message_id) where source_message_id is not null;
create index agent_memories_expires_at_idx on public.agent_memories (expires_at) where expires_at is not null;
create index agent_memories_metadata_idx on public.agent_memories using gin (metadata jsonb_path_ops);
/**
 * Cosine distance, not L2 or inner product: embedding models (OpenAI text-embedding-3-*, ada-002, most
 * sentence encoders) are trained for cosine similarity and their vectors are not guaranteed to share one
 * norm across models or versions; cosine ignores magnitude, so similarity = 1 - distance stays in a
 * meaningful [-1, 1] whatever model wrote the row. The operator class must match the operator the query
 * uses (<=>), otherwise the index is silently not used.
 * lists = 1 here because an empty table cannot be clustered (one list = exact search, always correct);
 * run public.rebuild_agent_memory_index() after a backfill to size lists to the data.
 */
create index agent_memories_embedding_idx
  on public.agent_memories using ivfflat (embedding extensions.vector_cosine_ops) with (lists = 1);

-- ---------------------------------------------------------------------------------------------------------
-- agent_states
-- ---------------------------------------------------------------------------------------------------------

/**
 * Append-only state versions. A stream is (agent_id, user_id, state_type, session_id); each stream has
 * versions 1..n and exactly one row with is_current (partial unique index). Rows never change except that
 * the trigger retires the previous current row; a change is a new version (insert, or save_agent_state
 * with optimistic concurrency). state_hash = hex sha256 of state::text (jsonb's canonical text form).
 * version and is_current have no default on purpose: the trigger fills them when an insert leaves them out.
 */
create table public.agent_states (
  id uuid primary key default gen_random_uuid(),
  agent_id uuid not null references public.agents (id) on delete cascade,
  user_id uuid default auth.uid() references auth.users (id) on delete cascade,
  session_id uuid references public.conversation_sessions (id) on delete cascade,
  state_type public.state_type not null,
  state jsonb not null,
  state_hash text not null check (state_hash ~ '^[0-9a-f]{64}$'),
  version integer not null check (version >= 1),
  is_current boolean not null,
  parent_state_id uuid references public.agent_states (id),
  metadata jsonb not null default '{}'::jsonb check (jsonb_typeof(metadata) = 'object'),
  created_at timestamptz not null default now(),
  constraint agent_states_not_own_parent check (parent_state_id <> id)
);

comment on table public.agent_states is
  'Append-only agent state versions; one is_current row per (agent, user, state_type, session) stream.';

-- The nil uuid stands for "no user" / "no session" so a null does not open a second stream
-- (nulls are distinct in a unique index, and `nulls not distinct` needs PostgreSQL 15 and reads worse).
create unique index agent_states_current_stream_key
  on public.agent_states (
    agent_id, coalesce(user_id, '00000000-0000-0000-0000-000000000000'::uuid), state_type,
    coalesce(session_id, '00000000-0000-0000-0000-000000000000'::uuid)
  )
  where is_current;
-- Versions are unique per stream; also serves history (order by version desc) and "latest version" lookups.
create unique index agent_states_stream_version_key
  on public.agent_states (
    agent_id, coalesce(user_id, '00000000-0000-0000-0000-000000000000'::uuid), state_type,
    coalesce(session_id, '00000000-0000-0000-0000-000000000000'::uuid), version desc
  );
create index agent_states_user_id_idx on public.agent_states (user_id);
create index agent_states_session_id_idx on public.agent_states (session_id) where session_id is not null;
create index agent_states_parent_state_id_idx on public.agent_states (parent_state_id) where parent_state_id is not null;

-- ---------------------------------------------------------------------------------------------------------
-- context_snapshots
-- ---------------------------------------------------------------------------------------------------------

/**
 * The context an agent was given at one point of a session: which messages (window) and memories, the
 * assembled context, token counts and how long building it took. Snapshots are evidence for debugging and
 * the anchor of checkpoints; old ones are swept by sweep_old_snapshots unless a checkpoint needs them.
 */
create table public.context_snapshots (
  id uuid primary key default gen_random_uuid(),
  session_id uuid not null references public.conversation_sessions (id) on delete cascade,
  agent_id uuid not null references public.agents (id) on delete cascade,
  user_id uuid default auth.uid() references auth.users (id) on delete cascade,
  message_ids uuid[] not null default '{}',
  first_message_at timestamptz,
  last_message_at timestamptz,
  memory_ids uuid[] not null default '{}',
  context jsonb not null default '{}'::jsonb,
  token_count integer not null default 0 check (token_count >= 0),
  token_budget integer check (token_budget > 0),
  build_metrics jsonb not null default '{}'::jsonb check (jsonb_typeof(build_metrics) = 'object'),
  created_at timestamptz not null default now()
);

comment on table public.context_snapshots is
  'Point-in-time context of a session: message window, memory ids, token counts, build metrics.';

create index context_snapshots_session_id_created_at_idx on public.context_snapshots (session_id, created_at desc);
create index context_snapshots_agent_id_idx on public.context_snapshots (agent_id);
create index context_snapshots_user_id_idx on public.context_snapshots (user_id);

-- ---------------------------------------------------------------------------------------------------------
-- state_checkpoints
-- ---------------------------------------------------------------------------------------------------------

/**
 * Recovery points: a checkpoint names one agent_states version (and optionally the context snapshot it was
 * taken with); restore_state_checkpoint makes that state current again as a NEW version. Checkpoints form
 * chains through parent_checkpoint_id; retain_until drives pruning (prune_state_checkpoints), which never
 * deletes a checkpoint a kept one descends from — the foreign key (no action) enforces the same.
 */
create table public.state_checkpoints (
  id uuid primary key default gen_random_uuid(),
  agent_id uuid not null references public.agents (id) on delete cascade,
  user_id uuid default auth.uid() references auth.users (id) on delete cascade,
  session_id uuid references public.conversation_sessions (id) on delete cascade,
  state_id uuid not null references public.agent_states (id) on delete cascade,
  snapshot_id uuid references public.context_snapshots (id) on delete set null,
  parent_checkpoint_id uuid references public.state_checkpoints (id),
  checkpoint_type public.checkpoint_type not null,
  label text check (char_length(label) <= 200),
  metadata jsonb not null default '{}'::jsonb check (jsonb_typeof(metadata) = 'object'),
  retain_until timestamptz,
  created_at timestamptz not null default now(),
  constraint state_checkpoints_not_own_parent check (parent_checkpoint_id <> id)
);

comment on table public.state_checkpoints is
  'Recovery points over agent_states (auto|manual|pre_migration|recovery) with retention and parent chains.';

create index state_checkpoints_agent_id_created_at_idx on public.state_checkpoints (agent_id, created_at desc);
create index state_checkpoints_user_id_idx on public.state_checkpoints (user_id);
create index state_checkpoints_session_id_idx on public.state_checkpoints (session_id) where session_id is not null;
create index state_checkpoints_state_id_idx on public.state_checkpoints (state_id);
create index state_checkpoints_snapshot_id_idx on public.state_checkpoints (snapshot_id) where snapshot_id is not null;
create index state_checkpoints_parent_checkpoint_id_idx
  on public.state_checkpoints (parent_checkpoint_id) where parent_checkpoint_id is not null;
create index state_checkpoints_retain_until_idx on public.state_checkpoints (retain_until) where retain_until is not null;

-- ---------------------------------------------------------------------------------------------------------
-- policy_events
-- ---------------------------------------------------------------------------------------------------------

/**
 * Moderation / policy decisions on messages: which policy, what it decided, the original message and the
 * message that replaced it (when the decision rewrote it). An audit log: written by the server
 * (service_role), read by the user it concerns, never edited by users.
 */
create table public.policy_events (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  conversation_id uuid references public.conversation_sessions (id) on delete cascade,
  policy_name text not null,
  decision text not null check (decision in ('allow', 'flag', 'modify', 'block')),
  original_message_id uuid references public.chat_messages_v2 (id) on delete set null,
  modified_message_id uuid references public.chat_messages_v2 (id) on delete set null,
  reason text,
  metadata jsonb not null default '{}'::jsonb check (jsonb_typeof(metadata) = 'object'),
  created_at timestamptz not null default now()
);

comment on table public.policy_events is
  'Audit log of moderation / policy decisions on messages; written by the server, readable by the user concerned.';

create index policy_events_user_id_created_at_idx on public.policy_events (user_id, created_at desc);
create index policy_events_conversation_id_idx on public.policy_events (conversation_id) where conversation_id is not null;
create index policy_events_original_message_id_idx
  on public.policy_events (original_message_id) where original_message_id is not null;
create index policy_events_modified_message_id_idx
  on public.policy_events (modified_message_id) where modified_message_id is not null;
create index policy_events_policy_name_created_at_idx on public.policy_events (policy_name, created_at desc);

-- ---------------------------------------------------------------------------------------------------------
-- Privileges. The platform grants ALL on new public tables to anon and authenticated; RLS is the row
-- fence, these are the column / operation fence underneath it.
-- ---------------------------------------------------------------------------------------------------------

revoke all on table
  public.conversation_sessions, public.chat_messages_v2, public.chat_message_revisions,
  public.chat_message_attachments, public.chat_tool_calls, public.agent_memories, public.agent_states,
  public.context_snapshots, public.state_checkpoints, public.policy_events
from anon;

-- Metrics are trigger-kept: users write only the descriptive columns of their sessions.
revoke insert, update on table public.conversation_sessions from authenticated;
grant insert (id, user_id, agent_id, title, status, session_state, metadata) on table public.conversation_sessions to authenticated;
grant update (agent_id, title, status, session_state, metadata) on table public.conversation_sessions to authenticated;

-- legacy_id belongs to the data migration (a user setting it could block a legacy row from migrating);
-- version, timestamps and ownership are kept by triggers / defaults.
revoke insert, update on table public.chat_messages_v2 from authenticated;
grant insert (id, conversation_id, user_id, agent_id, role, content, parent_message_id, metadata, client_message_id)
  on table public.chat_messages_v2 to authenticated;
grant update (content, metadata, deleted_at) on table public.chat_messages_v2 to authenticated;

-- History is written by the edit trigger only.
revoke insert, update, delete, truncate on table public.chat_message_revisions from authenticated;

-- Versions are appended, never edited: retiring the previous current row is the trigger's job.
revoke update, truncate on table public.agent_states from authenticated;

-- The audit log is the server's.
revoke insert, update, delete, truncate on table public.policy_events from authenticated;

revoke truncate on table
  public.conversation_sessions, public.chat_messages_v2, public.chat_message_attachments, public.chat_tool_calls,
  public.agent_memories, public.agent_states, public.context_snapshots, public.state_checkpoints
from authenticated;

-- ---------------------------------------------------------------------------------------------------------
-- Row level security
-- ---------------------------------------------------------------------------------------------------------

/**
 * True when the caller (auth.uid()) owns message p_message_id: the "through the parent message" rule of the
 * write policies on chat_message_attachments and chat_tool_calls and of agent_memories.source_message_id,
 * written once. One index probe per checked row. The SELECT policies spell the same rule inline as a
 * correlated EXISTS instead: a SQL function with a subquery is never inlined, and on a page read (hundreds
 * of child rows) the call per row cost more than the inline probe — measured in docs/benchmarks.md
 * ("RLS through the parent message"), where both beat the earlier `message_id in (select … every message
 * of the user)`, whose cost grew with the user's history. security invoker: the probe is itself under the
 * RLS of chat_messages_v2.
 */
create function chat_private.owns_message(p_message_id uuid)
returns boolean
language sql
stable
security invoker
set search_path = ''
as $$
  select exists (select 1 from public.chat_messages_v2 m where m.id = p_message_id and m.user_id = (select auth.uid()))
$$;

comment on function chat_private.owns_message(uuid) is
  'RLS helper: the caller owns this chat_messages_v2 row (write policies of attachments, tool calls, memories).';

revoke execute on function chat_private.owns_message(uuid) from public, anon;
grant execute on function chat_private.owns_message(uuid) to authenticated;


alter table public.conversation_sessions enable row level security;
alter table public.chat_messages_v2 enable row level security;
alter table public.chat_message_revisions enable row level security;
alter table public.chat_message_attachments enable row level security;
alter table public.chat_tool_calls enable row level security;
alter table public.agent_memories enable row level security;
alter table public.agent_states enable row level security;
alter table public.context_snapshots enable row level security;
alter table public.state_checkpoints enable row level security;
alter table public.policy_events enable row level security;

-- conversation_sessions: owned by user_id; a session may only name an agent its user owns.
create policy "Users can read their sessions" on public.conversation_sessions
  for select to authenticated
  using (user_id = (select auth.uid()));
create policy "Users can create their sessions" on public.conversation_sessions
  for insert to authenticated
  with check (
    user_id = (select auth.uid())
    and (agent_id is null or agent_id in (select a.id from public.agents a where a.owner_id = (select auth.uid())))
  );
create policy "Users can update their sessions" on public.conversation_sessions
  for update to authenticated
  using (user_id = (select auth.uid()))
  with check (
    user_id = (select auth.uid())
    and (agent_id is null or agent_id in (select a.id from public.agents a where a.owner_id = (select auth.uid())))
  );
create policy "Users can delete their sessions" on public.conversation_sessions
  for delete to authenticated
  using (user_id = (select auth.uid()));

-- chat_messages_v2: owned by user_id, and only inside a conversation the user owns. A parent message must be in
-- the same conversation — checked by the trigger chat_messages_v2_check_parent, because a policy on
-- chat_messages_v2 cannot query chat_messages_v2 (Postgres rejects the recursion).
create policy "Users can read their messages" on public.chat_messages_v2
  for select to authenticated
  using (user_id = (select auth.uid()));
create policy "Users can create messages in their conversations" on public.chat_messages_v2
  for insert to authenticated
  with check (
    user_id = (select auth.uid())
    and conversation_id in (select s.id from public.conversation_sessions s where s.user_id = (select auth.uid()))
    and (agent_id is null or agent_id in (select a.id from public.agents a where a.owner_id = (select auth.uid())))
  );
create policy "Users can update their messages" on public.chat_messages_v2
  for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));
create policy "Users can delete their messages" on public.chat_messages_v2
  for delete to authenticated
  using (user_id = (select auth.uid()));

-- chat_message_revisions: readable through the message; written by trigger only (no write policies).
create policy "Users can read revisions of their messages" on public.chat_message_revisions
  for select to authenticated
  using (exists (select 1 from public.chat_messages_v2 m where m.id = chat_message_revisions.message_id and m.user_id = (select auth.uid())));

-- chat_message_attachments: through the message (reads inline, writes through chat_private.owns_message — see there).
create policy "Users can read attachments of their messages" on public.chat_message_attachments
  for select to authenticated
  using (exists (select 1 from public.chat_messages_v2 m where m.id = chat_message_attachments.message_id and m.user_id = (select auth.uid())));
create policy "Users can add attachments to their messages" on public.chat_message_attachments
  for insert to authenticated
  with check (chat_private.owns_message(message_id));
create policy "Users can update attachments of their messages" on public.chat_message_attachments
  for update to authenticated
  using (chat_private.owns_message(message_id))
  with check (chat_private.owns_message(message_id));
create policy "Users can delete attachments of their messages" on public.chat_message_attachments
  for delete to authenticated
  using (chat_private.owns_message(message_id));

-- chat_tool_calls: through the message, like the attachments.
create policy "Users can read tool calls of their messages" on public.chat_tool_calls
  for select to authenticated
  using (exists (select 1 from public.chat_messages_v2 m where m.id = chat_tool_calls.message_id and m.user_id = (select auth.uid())));
create policy "Users can add tool calls to their messages" on public.chat_tool_calls
  for insert to authenticated
  with check (chat_private.owns_message(message_id));
create policy "Users can update tool calls of their messages" on public.chat_tool_calls
  for update to authenticated
  using (chat_private.owns_message(message_id))
  with check (chat_private.owns_message(message_id));
create policy "Users can delete tool calls of their messages" on public.chat_tool_calls
  for delete to authenticated
  using (chat_private.owns_message(message_id));

-- agent_memories: through an agent the user owns.
create policy "Agent owners can read their agents' memories" on public.agent_memories
  for select to authenticated
  using (agent_id in (select a.id from public.agents a where a.owner_id = (select auth.uid())));
create policy "Agent owners can add memories to their agents" on public.agent_memories
  for insert to authenticated
  with check (
    agent_id in (select a.id from public.agents a where a.owner_id = (select auth.uid()))
    and (user_id is null or user_id = (select auth.uid()))
    and (source_message_id is null or chat_private.owns_message(source_message_id))
  );
create policy "Agent owners can update their agents' memories" on public.agent_memories
  for update to authenticated
  using (agent_id in (select a.id from public.agents a where a.owner_id = (select auth.uid())))
  with check (
    agent_id in (select a.id from public.agents a where a.owner_id = (select auth.uid()))
    and (user_id is null or user_id = (select auth.uid()))
    -- as on insert: an update must not point a memory at another user's message
    and (source_message_id is null or chat_private.owns_message(source_message_id))
  );
create policy "Agent owners can delete their agents' memories" on public.agent_memories
  for delete to authenticated
  using (agent_id in (select a.id from public.agents a where a.owner_id = (select auth.uid())));

-- agent_states: through an agent the user owns; append-only (no update policy: the trigger retires rows).
create policy "Agent owners can read their agents' states" on public.agent_states
  for select to authenticated
  using (agent_id in (select a.id from public.agents a where a.owner_id = (select auth.uid())));
create policy "Agent owners can add state versions to their agents" on public.agent_states
  for insert to authenticated
  with check (
    agent_id in (select a.id from public.agents a where a.owner_id = (select auth.uid()))
    and (user_id is null or user_id = (select auth.uid()))
    and (session_id is null
         or session_id in (select s.id from public.conversation_sessions s where s.user_id = (select auth.uid())))
  );
create policy "Agent owners can delete their agents' states" on public.agent_states
  for delete to authenticated
  using (agent_id in (select a.id from public.agents a where a.owner_id = (select auth.uid())));

-- context_snapshots: through an agent the user owns, of a session the user owns.
create policy "Agent owners can read their agents' snapshots" on public.context_snapshots
  for select to authenticated
  using (agent_id in (select a.id from public.agents a where a.owner_id = (select auth.uid())));
create policy "Agent owners can add snapshots to their agents" on public.context_snapshots
  for insert to authenticated
  with check (
    agent_id in (select a.id from public.agents a where a.owner_id = (select auth.uid()))
    and session_id in (select s.id from public.conversation_sessions s where s.user_id = (select auth.uid()))
    and (user_id is null or user_id = (select auth.uid()))
  );
create policy "Agent owners can update their agents' snapshots" on public.context_snapshots
  for update to authenticated
  using (agent_id in (select a.id from public.agents a where a.owner_id = (select auth.uid())))
  with check (
    agent_id in (select a.id from public.agents a where a.owner_id = (select auth.uid()))
    and session_id in (select s.id from public.conversation_sessions s where s.user_id = (select auth.uid()))
    and (user_id is null or user_id = (select auth.uid()))
  );
create policy "Agent owners can delete their agents' snapshots" on public.context_snapshots
  for delete to authenticated
  using (agent_id in (select a.id from public.agents a where a.owner_id = (select auth.uid())));

-- state_checkpoints: through an agent the user owns. That the state, snapshot and parent checkpoint belong to
-- the same agent is checked by the trigger state_checkpoints_before_write (a policy on state_checkpoints cannot
-- query state_checkpoints itself: Postgres rejects the recursion).
create policy "Agent owners can read their agents' checkpoints" on public.state_checkpoints
  for select to authenticated
  using (agent_id in (select a.id from public.agents a where a.owner_id = (select auth.uid())));
-- session_id, like a state's, must be a session the user owns (the trigger defaults it to the state's session).
create policy "Agent owners can create checkpoints for their agents" on public.state_checkpoints
  for insert to authenticated
  with check (
    agent_id in (select a.id from public.agents a where a.owner_id = (select auth.uid()))
    and (user_id is null or user_id = (select auth.uid()))
    and (session_id is null
         or session_id in (select s.id from public.conversation_sessions s where s.user_id = (select auth.uid())))
  );
create policy "Agent owners can update their agents' checkpoints" on public.state_checkpoints
  for update to authenticated
  using (agent_id in (select a.id from public.agents a where a.owner_id = (select auth.uid())))
  with check (
    agent_id in (select a.id from public.agents a where a.owner_id = (select auth.uid()))
    and (user_id is null or user_id = (select auth.uid()))
    and (session_id is null
         or session_id in (select s.id from public.conversation_sessions s where s.user_id = (select auth.uid())))
  );
create policy "Agent owners can delete their agents' checkpoints" on public.state_checkpoints
  for delete to authenticated
  using (agent_id in (select a.id from public.agents a where a.owner_id = (select auth.uid())));

-- policy_events: the user concerned reads them; the server writes them.
create policy "Users can read policy events about them" on public.policy_events
  for select to authenticated
  using (user_id = (select auth.uid()));
