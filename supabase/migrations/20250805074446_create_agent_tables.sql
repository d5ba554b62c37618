-- Schema v2, part 3: agents' memories and state — vector memories, append-only state versions, context
-- snapshots and checkpoints; their privileges and row level security.
--
-- Purpose : what an agent remembers and where it stands. All four tables are reached only through an agent
--           the caller owns (public.agents.owner_id); states are versioned streams (one current version per
--           agent, user, state type and session), checkpoints name a state (and a snapshot) to come back to.
-- Objects : tables public.agent_memories (IVFFlat cosine index on the embedding), agent_states,
--           context_snapshots, state_checkpoints; their indexes, privileges and policies.
-- Locks   : creates new tables only. Foreign keys to public.agents and auth.users take a SHARE ROW EXCLUSIVE
--           lock on those two tables until this transaction commits (writes wait for milliseconds; reads
--           never do). No rewrite of existing data.
-- Rollback: supabase/rollbacks/20250805074446_create_agent_tables.down.sql (this file only; with the opt-in
--           archive of its tables).

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
-- Privileges (see 20250805074445: RLS is the row fence, these are the operation fence underneath it).
-- ---------------------------------------------------------------------------------------------------------

revoke all on table public.agent_memories, public.agent_states, public.context_snapshots, public.state_checkpoints
from anon;

-- Versions are appended, never edited: retiring the previous current row is the trigger's job.
revoke update, truncate on table public.agent_states from authenticated;
revoke truncate on table
  public.agent_memories, public.agent_states, public.context_snapshots, public.state_checkpoints
from authenticated;

-- ---------------------------------------------------------------------------------------------------------
-- Row level security
-- ---------------------------------------------------------------------------------------------------------

alter table public.agent_memories enable row level security;
alter table public.agent_states enable row level security;
alter table public.context_snapshots enable row level security;
alter table public.state_checkpoints enable row level security;

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
