-- Schema v2, part 5: triggers that keep the agent tables' invariants whoever writes (API, data migration, psql).
--
-- Purpose : agent_states gets its state_hash, version and single is_current by trigger and is otherwise
--           immutable (a plain INSERT becomes the stream's new current version); checkpoints get their
--           retention default and are checked against the state, snapshot and parent they name;
--           agent_memories.updated_at is stamped like the conversation tables'.
-- Objects : functions public.agent_state_stream_lock_key, public.agent_states_before_insert,
--           public.agent_states_before_update, public.state_checkpoints_before_write; their triggers, and
--           agent_memories_set_updated_at (public.set_updated_at, from 20250805074447).
-- Locks   : CREATE TRIGGER takes SHARE ROW EXCLUSIVE on agent_memories, agent_states and state_checkpoints
--           (new, empty when this runs). No rewrite.
-- Rollback: supabase/rollbacks/20250805074448_create_agent_state_triggers.down.sql (this file only).
--
-- SQLSTATEs raised here (class AJ = advanced-json-chat; catalogue in docs/schema.md):
--   AJC02 agent_states rows are immutable            HINT: insert a new version
--   AJC09 checkpoint's state / snapshot / parent belongs to another agent

create trigger agent_memories_set_updated_at
  before update on public.agent_memories
  for each row execute function public.set_updated_at();

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
-- The one update agent_states allows (retiring the current version: is_current true → false, nothing else)
-- no longer calls the function; every other update still reaches it and raises AJC02. The comparison is the
-- function's own, column by column (state last).
create trigger agent_states_before_update
  before update on public.agent_states
  for each row when (not (
    old.is_current and not new.is_current
    and (new.id, new.agent_id, new.user_id, new.session_id, new.state_type, new.state_hash, new.version,
         new.parent_state_id, new.metadata, new.created_at)
        is not distinct from
        (old.id, old.agent_id, old.user_id, old.session_id, old.state_type, old.state_hash, old.version,
         old.parent_state_id, old.metadata, old.created_at)
    and new.state = old.state))
  execute function public.agent_states_before_update();

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
