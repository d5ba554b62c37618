-- Schema v2, part 2: triggers that keep v2's invariants whoever writes (API, data migration, psql).
--
-- Purpose : updated_at; message edits bump `version` and keep the previous content in
--           chat_message_revisions; conversation_sessions metrics (message_count, token_count,
--           last_message_at) follow inserts, soft deletes and deletes of messages; agent_states gets its
--           state_hash, version and single is_current by trigger and is otherwise immutable; checkpoints get
--           their retention default and are checked against the state they name.
-- Objects : functions public.set_updated_at, public.message_tokens, public.agent_state_stream_lock_key,
--           public.chat_messages_v2_before_update,
--           public.chat_messages_v2_after_insert_metrics, public.chat_messages_v2_after_update_metrics,
--           public.chat_messages_v2_after_delete_metrics, public.agent_states_before_insert,
--           public.agent_states_before_update, public.chat_messages_v2_check_parent,
--           public.state_checkpoints_before_write; their triggers.
-- Locks   : CREATE TRIGGER takes SHARE ROW EXCLUSIVE on the v2 tables (new, empty when this runs).
--           No rewrite.
-- Rollback: supabase/rollbacks/20250805074445_create_chat_triggers.down.sql (this file only).
--
-- SQLSTATEs raised here (class AJ = advanced-json-chat; catalogue in docs/schema.md):
--   AJC02 agent_states rows are immutable            HINT: insert a new version
--   AJC08 a message cannot move to another conversation
--   AJC09 checkpoint's state / snapshot / parent belongs to another agent
--   AJC12 parent message is not in the same conversation

/**
 * Generic BEFORE UPDATE trigger: stamps updated_at with the transaction time.
 * Usage: create trigger <table>_set_updated_at before update on <table>
 *          for each row execute function public.set_updated_at();
 * The table needs an `updated_at timestamptz` column. Writers cannot back-date a row: whatever they set is
 * overwritten.
 */
create function public.set_updated_at()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

revoke execute on function public.set_updated_at() from public, anon, authenticated;

create trigger conversation_sessions_set_updated_at
  before update on public.conversation_sessions
  for each row execute function public.set_updated_at();
create trigger chat_messages_v2_set_updated_at
  before update on public.chat_messages_v2
  for each row execute function public.set_updated_at();
create trigger agent_memories_set_updated_at
  before update on public.agent_memories
  for each row execute function public.set_updated_at();

/**
 * The token count a message contributes to its session: metadata.tokens when it is a non-negative number
 * (rounded down), else 0. Never raises: legacy metadata is dirty and a metric must not block a write.
 */
create function public.message_tokens(p_metadata jsonb)
returns bigint
language sql
immutable
parallel safe
security invoker
set search_path = ''
as $$
  select case
    when jsonb_typeof(p_metadata -> 'tokens') = 'number'
      then greatest(least(floor((p_metadata ->> 'tokens')::numeric), 9007199254740991), 0)::bigint
    else 0
  end
$$;

revoke execute on function public.message_tokens(jsonb) from public, anon;
grant execute on function public.message_tokens(jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------------------
-- Message edits: version + revisions
-- ---------------------------------------------------------------------------------------------------------

/**
 * BEFORE UPDATE on chat_messages_v2. When content changes, version goes up by one and the content being
 * replaced is stored in chat_message_revisions under the version it had; otherwise version stays as it was
 * (nobody sets it by hand). security definer because users have no write access to the revisions table —
 * history they could forge would not be history; search_path is empty and every name is qualified.
 */
create function public.chat_messages_v2_before_update()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.conversation_id is distinct from old.conversation_id then
    raise exception 'message % cannot move to another conversation', old.id
      using errcode = 'AJC08',
            hint = 'Insert a copy of the message in the target conversation and delete this one.';
  end if;

  if new.content is distinct from old.content then
    insert into public.chat_message_revisions (message_id, version, content, metadata, edited_by)
    values (old.id, old.version, old.content, old.metadata, auth.uid());
    new.version := old.version + 1;
  else
    new.version := old.version;
  end if;
  return new;
end
$$;

revoke execute on function public.chat_messages_v2_before_update() from public, anon, authenticated;

create trigger chat_messages_v2_before_update
  before update on public.chat_messages_v2
  for each row execute function public.chat_messages_v2_before_update();

/**
 * BEFORE INSERT OR UPDATE OF parent_message_id on chat_messages_v2: a thread / branch stays inside its
 * conversation. security invoker, so a parent the writer cannot see (another user's message) is not found.
 */
create function public.chat_messages_v2_check_parent()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  if new.parent_message_id is not null and not exists (
    select 1 from public.chat_messages_v2 m
    where m.id = new.parent_message_id and m.conversation_id = new.conversation_id
  ) then
    raise exception 'parent message % is not a message of conversation %', new.parent_message_id, new.conversation_id
      using errcode = 'AJC12',
            hint = 'Reply to a message of the same conversation, or leave parent_message_id null.';
  end if;
  return new;
end
$$;

revoke execute on function public.chat_messages_v2_check_parent() from public, anon, authenticated;

-- The WHEN clause keeps the function call off the hot path: most messages (and every backfilled legacy row)
-- have no parent.
create trigger chat_messages_v2_check_parent
  before insert or update of parent_message_id on public.chat_messages_v2
  for each row when (new.parent_message_id is not null)
  execute function public.chat_messages_v2_check_parent();

-- ---------------------------------------------------------------------------------------------------------
-- Session metrics
-- ---------------------------------------------------------------------------------------------------------
-- Statement-level triggers with transition tables: an INSERT … SELECT of 5,000 rows (a backfill batch)
-- updates each affected session once, with the sum of its rows, instead of 5,000 times. Only live
-- (deleted_at is null) messages count. Sessions are locked in id order first so two statements touching
-- the same sessions cannot deadlock. security definer: users cannot write the metric columns themselves
-- (column privileges), only through these triggers.

/** AFTER INSERT … FOR EACH STATEMENT on chat_messages_v2: add the new live rows to their sessions. */
create function public.chat_messages_v2_after_insert_metrics()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform 1
  from public.conversation_sessions s
  where s.id in (select n.conversation_id from new_rows n where n.deleted_at is null)
  order by s.id
  for no key update;

  update public.conversation_sessions s
  set message_count = s.message_count + d.messages,
      token_count = s.token_count + d.tokens,
      last_message_at = greatest(s.last_message_at, d.last_at)
  from (
    select n.conversation_id, count(*)::integer as messages, sum(public.message_tokens(n.metadata))::bigint as tokens,
           max(n.created_at) as last_at
    from new_rows n
    where n.deleted_at is null
    group by n.conversation_id
  ) d
  where s.id = d.conversation_id;
  return null;
end
$$;

/**
 * AFTER UPDATE … FOR EACH STATEMENT on chat_messages_v2: soft deletes, undeletes and changed token counts
 * move the metrics by the difference between the old and the new live rows. A plain content edit costs one
 * hash join over the statement's own rows and touches no session.
 */
create function public.chat_messages_v2_after_update_metrics()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not exists (
    select 1
    from new_rows n
    join old_rows o on o.id = n.id
    where (n.deleted_at is null) <> (o.deleted_at is null)
       or n.created_at <> o.created_at
       or public.message_tokens(n.metadata) <> public.message_tokens(o.metadata)
  ) then
    return null;
  end if;

  perform 1
  from public.conversation_sessions s
  where s.id in (select n.conversation_id from new_rows n)
  order by s.id
  for no key update;

  with changes as (
    select n.conversation_id,
           (case when n.deleted_at is null then 1 else 0 end)
             - (case when o.deleted_at is null then 1 else 0 end) as messages,
           (case when n.deleted_at is null then public.message_tokens(n.metadata) else 0 end)
             - (case when o.deleted_at is null then public.message_tokens(o.metadata) else 0 end) as tokens,
           (n.deleted_at is null) <> (o.deleted_at is null) or n.created_at <> o.created_at as moves_last
    from new_rows n
    join old_rows o on o.id = n.id
  ), deltas as (
    select c.conversation_id, sum(c.messages)::integer as messages, sum(c.tokens)::bigint as tokens,
           bool_or(c.moves_last) as moves_last
    from changes c
    group by c.conversation_id
    having sum(c.messages) <> 0 or sum(c.tokens) <> 0 or bool_or(c.moves_last)
  )
  update public.conversation_sessions s
  set message_count = greatest(s.message_count + d.messages, 0),
      token_count = greatest(s.token_count + d.tokens, 0),
      -- recomputed from the live rows: the keyset index makes it one index probe per session
      last_message_at = case
        when d.moves_last then (
          select max(m.created_at) from public.chat_messages_v2 m
          where m.conversation_id = s.id and m.deleted_at is null)
        else s.last_message_at
      end
  from deltas d
  where s.id = d.conversation_id;
  return null;
end
$$;

/** AFTER DELETE … FOR EACH STATEMENT on chat_messages_v2: remove the deleted live rows from their sessions. */
create function public.chat_messages_v2_after_delete_metrics()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform 1
  from public.conversation_sessions s
  where s.id in (select o.conversation_id from old_rows o where o.deleted_at is null)
  order by s.id
  for no key update;

  -- last_message_at is recomputed from what is left: the keyset index makes it one index probe per session.
  update public.conversation_sessions s
  set message_count = greatest(s.message_count - d.messages, 0),
      token_count = greatest(s.token_count - d.tokens, 0),
      last_message_at = (
        select max(m.created_at) from public.chat_messages_v2 m
        where m.conversation_id = s.id and m.deleted_at is null)
  from (
    select o.conversation_id, count(*)::integer as messages, sum(public.message_tokens(o.metadata))::bigint as tokens
    from old_rows o
    where o.deleted_at is null
    group by o.conversation_id
  ) d
  where s.id = d.conversation_id;
  return null;
end
$$;

revoke execute on function public.chat_messages_v2_after_insert_metrics() from public, anon, authenticated;
revoke execute on function public.chat_messages_v2_after_update_metrics() from public, anon, authenticated;
revoke execute on function public.chat_messages_v2_after_delete_metrics() from public, anon, authenticated;

create trigger chat_messages_v2_after_insert_metrics
  after insert on public.chat_messages_v2
  referencing new table as new_rows
  for each statement execute function public.chat_messages_v2_after_insert_metrics();
create trigger chat_messages_v2_after_update_metrics
  after update on public.chat_messages_v2
  referencing old table as old_rows new table as new_rows
  for each statement execute function public.chat_messages_v2_after_update_metrics();
create trigger chat_messages_v2_after_delete_metrics
  after delete on public.chat_messages_v2
  referencing old table as old_rows
  for each statement execute function public.chat_messages_v2_after_delete_metrics();

-- ---------------------------------------------------------------------------------------------------------
-- agent_states: hash, version, single current, immutability
-- ---------------------------------------------------------------------------------------------------------

/**
 * The advisory-lock key of an agent_states stream (agent, user, state_type, session). The insert trigger and
 * save_agent_state take pg_advisory_xact_lock on it, so "read the current version, then append" is atomic
 * per stream on a real multi-session Postgres while different streams never wait for each other.
 */
create function public.agent_state_stream_lock_key(p_agent_id uuid, p_user_id uuid, p_state_type text, p_session_id uuid)
returns bigint
language sql
immutable
parallel safe
security invoker
set search_path = ''
as $$
  select hashtextextended(
    'agent_states:' || coalesce(p_agent_id::text, '') || ':' || coalesce(p_user_id::text, '') || ':'
      || coalesce(p_state_type, '') || ':' || coalesce(p_session_id::text, ''), 0)
$$;

revoke execute on function public.agent_state_stream_lock_key(uuid, uuid, text, uuid) from public, anon;
grant execute on function public.agent_state_stream_lock_key(uuid, uuid, text, uuid) to authenticated, service_role;

/**
 * BEFORE INSERT on agent_states.
 *  - state_hash is always computed here (hex sha256 of jsonb's canonical text), never trusted from the writer.
 *  - The stream (agent_id, user_id, state_type, session_id) is serialized with a transaction-scoped advisory
 *    lock, so two concurrent writers get versions n+1 and n+2 instead of a unique violation.
 *  - version left out → previous max + 1; is_current left out → true when this is the newest version.
 *  - a new current row retires the previous current one and, unless told otherwise, names it as parent.
 * security definer because users cannot UPDATE agent_states at all (append-only): retiring the previous row
 * is done here, as the table owner, only for the stream of a row the RLS insert check then has to accept —
 * if it does not, the statement fails and the retirement rolls back with it.
 */
create function public.agent_states_before_insert()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_nil constant uuid := '00000000-0000-0000-0000-000000000000';
  v_max integer;
  v_current_id uuid;
  v_newest_is_current boolean;
begin
  new.state_hash := encode(sha256(convert_to(new.state::text, 'UTF8')), 'hex');

  perform pg_advisory_xact_lock(public.agent_state_stream_lock_key(new.agent_id, new.user_id, new.state_type::text, new.session_id));

  -- One probe of agent_states_stream_version_key (newest version first) answers both "latest version" and,
  -- in the usual case where the newest version is the current one, "which row to retire". Only when the
  -- newest version is not current (an insert with is_current => false) is the current row looked up apart.
  select s.version, case when s.is_current then s.id end, s.is_current
    into v_max, v_current_id, v_newest_is_current
  from public.agent_states s
  where s.agent_id = new.agent_id
    and coalesce(s.user_id, v_nil) = coalesce(new.user_id, v_nil)
    and s.state_type = new.state_type
    and coalesce(s.session_id, v_nil) = coalesce(new.session_id, v_nil)
  order by s.version desc
  limit 1;

  if v_max is not null and not v_newest_is_current then
    select s.id into v_current_id
    from public.agent_states s
    where s.agent_id = new.agent_id
      and coalesce(s.user_id, v_nil) = coalesce(new.user_id, v_nil)
      and s.state_type = new.state_type
      and coalesce(s.session_id, v_nil) = coalesce(new.session_id, v_nil)
      and s.is_current;
  end if;

  new.version := coalesce(new.version, coalesce(v_max, 0) + 1);
  new.is_current := coalesce(new.is_current, new.version > coalesce(v_max, 0));

  if new.is_current and v_current_id is not null then
    update public.agent_states set is_current = false where id = v_current_id;
    new.parent_state_id := coalesce(new.parent_state_id, v_current_id);
  end if;
  return new;
end
$$;

/**
 * BEFORE UPDATE on agent_states: the only change a version may ever undergo is being retired
 * (is_current true → false, nothing else). Anything else raises AJC02 — state history is evidence;
 * to change a state, insert a new version (or call public.save_agent_state).
 */
create function public.agent_states_before_update()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  -- Column by column, not to_jsonb(new) = to_jsonb(old): that turned two ~2 kB rows into jsonb on every
  -- save. state (not null, the largest value) is compared last with jsonb =. Add a column here when the
  -- table gains one.
  if old.is_current and not new.is_current
     and (new.id, new.agent_id, new.user_id, new.session_id, new.state_type, new.state_hash, new.version,
          new.parent_state_id, new.metadata, new.created_at)
         is not distinct from
         (old.id, old.agent_id, old.user_id, old.session_id, old.state_type, old.state_hash, old.version,
          old.parent_state_id, old.metadata, old.created_at)
     and new.state = old.state then
    return new;
  end if;
  raise exception 'agent_states rows are immutable (state %, version %)', old.id, old.version
    using errcode = 'AJC02',
          hint = 'insert a new version (insert into public.agent_states … or select public.save_agent_state(…)) instead of updating one.';
end
$$;

revoke execute on function public.agent_states_before_insert() from public, anon, authenticated;
revoke execute on function public.agent_states_before_update() from public, anon, authenticated;

create trigger agent_states_before_insert
  before insert on public.agent_states
  for each row execute function public.agent_states_before_insert();
create trigger agent_states_before_update
  before update on public.agent_states
  for each row execute function public.agent_states_before_update();

-- ---------------------------------------------------------------------------------------------------------
-- state_checkpoints: consistency with the named state, retention default by type
-- ---------------------------------------------------------------------------------------------------------

/**
 * BEFORE INSERT OR UPDATE on state_checkpoints. The state, the snapshot and the parent checkpoint must all
 * belong to the checkpoint's agent (the RLS policy checks the agent; it cannot check the rest, see the
 * policies); session_id and user_id default to the state's. retain_until defaults by type on insert:
 *   auto 7 days · recovery 30 days · pre_migration 90 days · manual kept until deleted (null).
 * prune_state_checkpoints deletes checkpoints past retain_until that no kept checkpoint descends from.
 * security invoker: rows the writer cannot see are reported as not belonging to the agent.
 */
create function public.state_checkpoints_before_write()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_state public.agent_states;
begin
  select * into v_state from public.agent_states s where s.id = new.state_id;
  if not found or v_state.agent_id <> new.agent_id then
    raise exception 'state % is not a state of agent %', new.state_id, new.agent_id
      using errcode = 'AJC09',
            hint = 'Checkpoint a state of the same agent (see public.agent_states), or use public.create_state_checkpoint.';
  end if;
  if new.snapshot_id is not null and not exists (
    select 1 from public.context_snapshots cs where cs.id = new.snapshot_id and cs.agent_id = new.agent_id
  ) then
    raise exception 'context snapshot % is not a snapshot of agent %', new.snapshot_id, new.agent_id
      using errcode = 'AJC09',
            hint = 'Pass a snapshot taken for the same agent (see public.context_snapshots), or null.';
  end if;
  if new.parent_checkpoint_id is not null
     and (tg_op = 'INSERT' or new.parent_checkpoint_id is distinct from old.parent_checkpoint_id)
     and not exists (
       select 1 from public.state_checkpoints c where c.id = new.parent_checkpoint_id and c.agent_id = new.agent_id
     ) then
    raise exception 'parent checkpoint % is not a checkpoint of agent %', new.parent_checkpoint_id, new.agent_id
      using errcode = 'AJC09',
            hint = 'Chain checkpoints of the same agent only, or leave parent_checkpoint_id null.';
  end if;
  if tg_op = 'INSERT' then
    new.session_id := coalesce(new.session_id, v_state.session_id);
    new.user_id := coalesce(new.user_id, v_state.user_id);
    if new.retain_until is null then
      new.retain_until := case new.checkpoint_type
        when 'auto' then new.created_at + interval '7 days'
        when 'recovery' then new.created_at + interval '30 days'
        when 'pre_migration' then new.created_at + interval '90 days'
        else null
      end;
    end if;
  end if;
  return new;
end
$$;

revoke execute on function public.state_checkpoints_before_write() from public, anon, authenticated;

create trigger state_checkpoints_before_write
  before insert or update on public.state_checkpoints
  for each row execute function public.state_checkpoints_before_write();
