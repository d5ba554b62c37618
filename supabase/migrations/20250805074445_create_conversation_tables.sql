-- Schema v2, part 2: conversations — sessions, messages with their revisions, attachments and tool calls, and
-- the policy (moderation) events about them; their privileges and row level security.
--
-- Purpose : where a chat lives. A session is one conversation; its messages carry structured jsonb content
--           (CHECK-validated), a version bumped on edit, the previous content kept as a revision, threads
--           (parent_message_id), idempotent retries (client_message_id) and the legacy row they came from
--           (legacy_id); attachments and tool calls are normalized out of the legacy arrays.
-- Objects : tables public.conversation_sessions, chat_messages_v2, chat_message_revisions,
--           chat_message_attachments, chat_tool_calls, policy_events; their indexes, column privileges and
--           policies; the RLS helper chat_private.owns_message.
-- Locks   : creates new tables only. Foreign keys to public.agents and auth.users take a SHARE ROW EXCLUSIVE
--           lock on those two tables until this transaction commits (writes — new agents, sign-ups — wait
--           for milliseconds; reads never do). No rewrite of existing data; legacy chat tables untouched.
-- Rollback: supabase/rollbacks/20250805074445_create_conversation_tables.down.sql (this file only; with the
--           opt-in archive of its tables).

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
-- No index on metadata: nothing filters messages by it (the data migration matches on legacy_id, the API on
-- conversation and id), and a GIN entry per message was pure write cost (docs/benchmarks.md "Hot path").

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
  public.chat_message_attachments, public.chat_tool_calls, public.policy_events
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
-- The audit log is the server's.
revoke insert, update, delete, truncate on table public.policy_events from authenticated;

revoke truncate on table
  public.conversation_sessions, public.chat_messages_v2, public.chat_message_attachments, public.chat_tool_calls
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
-- policy_events: the user concerned reads them; the server writes them.
create policy "Users can read policy events about them" on public.policy_events
  for select to authenticated
  using (user_id = (select auth.uid()));
