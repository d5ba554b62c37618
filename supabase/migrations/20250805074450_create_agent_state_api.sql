-- Schema v2, part 7: the SQL API an app calls for agent state and checkpoints.
--
-- Purpose : optimistic-concurrency state saves; checkpoints (create / restore / prune). All security invoker:
--           RLS decides what a caller reaches, so the same function serves a user (authenticated) and the
--           server (service_role).
-- Objects : functions public.save_agent_state, public.create_state_checkpoint, public.restore_state_checkpoint,
--           public.prune_state_checkpoints.
-- Locks   : none beyond creating functions.
-- Rollback: supabase/rollbacks/20250805074450_create_agent_state_api.down.sql (this file only).
--
-- SQLSTATEs (class AJ = advanced-json-chat; every one comes with a HINT; catalogue in docs/schema.md):
--   AJC01 stale state version         (save_agent_state: p_expected_version is not the current version)
--   AJC03 agent not found             (absent, or not owned by the caller — indistinguishable on purpose)
--   AJC04 invalid parameter
--   AJC05 checkpoint not found
--   AJC06 no current state to checkpoint
--   AJC07 session not found

/**
 * Appends a new version to the state stream (p_agent_id, caller, p_state_type, p_session_id) and returns it.
 * The stream's user is auth.uid() — null for service_role / postgres, which therefore write agent-wide streams.
 * Optimistic concurrency: with p_expected_version the save succeeds only if that is the stream's current
 * version (0 = "the stream must not exist yet"); otherwise it raises AJC01 and nothing is written. The
 * check and the append happen under the stream's advisory lock, so two writers that both read version n
 * cannot both write n+1 — the second gets AJC01. Without p_expected_version the insert trigger
 * (agent_states_before_insert) does the whole job — it takes the same lock, numbers the version and retires the
 * previous one — so the lock and the read are not done twice.
 */
create function public.save_agent_state(
  p_agent_id uuid,
  p_state_type text,
  p_state jsonb,
  p_session_id uuid default null,
  p_expected_version integer default null
)
returns public.agent_states
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_nil constant uuid := '00000000-0000-0000-0000-000000000000';
  v_user_id uuid := auth.uid();
  v_current integer;
  v_row public.agent_states;
begin
  if p_agent_id is null or not exists (select 1 from public.agents a where a.id = p_agent_id) then
    raise exception 'agent % not found', p_agent_id
      using errcode = 'AJC03',
            hint = 'Pass the id of an agent you own (select id from public.agents).';
  end if;
  if p_state_type is null or not p_state_type = any (enum_range(null::public.state_type)::text[]) then
    raise exception 'unknown state type %', coalesce(p_state_type, 'null')
      using errcode = 'AJC04',
            hint = format('State types are %s.', array_to_string(enum_range(null::public.state_type)::text[], ', '));
  end if;
  if p_state is null then
    raise exception 'state must not be null'
      using errcode = 'AJC04',
            hint = 'Pass a jsonb value; use ''{}''::jsonb for an empty state.';
  end if;
  if p_expected_version is not null and p_expected_version < 0 then
    raise exception 'expected version must be 0 or more, got %', p_expected_version
      using errcode = 'AJC04',
            hint = 'Pass the version you read (0 when the stream has no state yet), or null to skip the check.';
  end if;
  if p_session_id is not null and not exists (select 1 from public.conversation_sessions s where s.id = p_session_id) then
    raise exception 'session % not found', p_session_id
      using errcode = 'AJC07',
            hint = 'Pass the id of a conversation session you own, or null for a state that is not tied to a session.';
  end if;

  if p_expected_version is not null then
    perform pg_advisory_xact_lock(public.agent_state_stream_lock_key(p_agent_id, v_user_id, p_state_type, p_session_id));

    select s.version into v_current
    from public.agent_states s
    where s.agent_id = p_agent_id
      and coalesce(s.user_id, v_nil) = coalesce(v_user_id, v_nil)
      and s.state_type = p_state_type::public.state_type
      and coalesce(s.session_id, v_nil) = coalesce(p_session_id, v_nil)
      and s.is_current;

    if p_expected_version <> coalesce(v_current, 0) then
      raise exception 'stale state version: expected %, current is %', p_expected_version, coalesce(v_current, 0)
        using errcode = 'AJC01',
              hint = format('Reload the current state (version %s), apply your change to it and save again with p_expected_version => %s.',
                            coalesce(v_current, 0), coalesce(v_current, 0));
    end if;
  end if;

  insert into public.agent_states (agent_id, user_id, session_id, state_type, state)
  values (p_agent_id, v_user_id, p_session_id, p_state_type::public.state_type, p_state)
  returning * into v_row;
  return v_row;
end
$$;

comment on function public.save_agent_state(uuid, text, jsonb, uuid, integer) is
  'Appends a new current agent state version; raises AJC01 when p_expected_version is stale.';

revoke execute on function public.save_agent_state(uuid, text, jsonb, uuid, integer) from public, anon;
grant execute on function public.save_agent_state(uuid, text, jsonb, uuid, integer) to authenticated, service_role;

/**
 * Checkpoints the CURRENT state of the stream (p_agent_id, caller, p_state_type, p_session_id). The new
 * checkpoint's parent is the stream's previous checkpoint unless p_parent_checkpoint_id says otherwise, so a
 * stream's checkpoints form a chain — also when several are taken at once (the stream's advisory lock). retain_until defaults by type (see state_checkpoints_before_insert).
 */
create function public.create_state_checkpoint(
  p_agent_id uuid,
  p_state_type text,
  p_session_id uuid default null,
  p_checkpoint_type text default 'manual',
  p_label text default null,
  p_snapshot_id uuid default null,
  p_metadata jsonb default '{}'::jsonb,
  p_retain_until timestamptz default null,
  p_parent_checkpoint_id uuid default null
)
returns public.state_checkpoints
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_nil constant uuid := '00000000-0000-0000-0000-000000000000';
  v_user_id uuid := auth.uid();
  v_state public.agent_states;
  v_parent uuid := p_parent_checkpoint_id;
  v_row public.state_checkpoints;
begin
  if p_agent_id is null or not exists (select 1 from public.agents a where a.id = p_agent_id) then
    raise exception 'agent % not found', p_agent_id
      using errcode = 'AJC03',
            hint = 'Pass the id of an agent you own (select id from public.agents).';
  end if;
  if p_checkpoint_type is null or not p_checkpoint_type = any (enum_range(null::public.checkpoint_type)::text[]) then
    raise exception 'unknown checkpoint type %', coalesce(p_checkpoint_type, 'null')
      using errcode = 'AJC04',
            hint = format('Checkpoint types are %s.', array_to_string(enum_range(null::public.checkpoint_type)::text[], ', '));
  end if;
  if p_state_type is null or not p_state_type = any (enum_range(null::public.state_type)::text[]) then
    raise exception 'unknown state type %', coalesce(p_state_type, 'null')
      using errcode = 'AJC04',
            hint = format('State types are %s.', array_to_string(enum_range(null::public.state_type)::text[], ', '));
  end if;

  -- Under the stream's lock, like saves and restores: two checkpoints taken at once would otherwise both read
  -- the same latest checkpoint and fork the chain (found on PostgreSQL 15 by test/races/agent-state.test.ts).
  perform pg_advisory_xact_lock(public.agent_state_stream_lock_key(p_agent_id, v_user_id, p_state_type, p_session_id));

  select * into v_state
  from public.agent_states s
  where s.agent_id = p_agent_id
    and coalesce(s.user_id, v_nil) = coalesce(v_user_id, v_nil)
    and s.state_type = p_state_type::public.state_type
    and coalesce(s.session_id, v_nil) = coalesce(p_session_id, v_nil)
    and s.is_current;
  if not found then
    raise exception 'agent % has no current % state to checkpoint', p_agent_id, coalesce(p_state_type, 'null')
      using errcode = 'AJC06',
            hint = 'Save a state first with public.save_agent_state(...), or check p_state_type and p_session_id.';
  end if;

  if v_parent is null then
    select c.id into v_parent
    from public.state_checkpoints c
    join public.agent_states s on s.id = c.state_id
    where c.agent_id = p_agent_id
      and coalesce(s.user_id, v_nil) = coalesce(v_user_id, v_nil)
      and s.state_type = p_state_type::public.state_type
      and coalesce(s.session_id, v_nil) = coalesce(p_session_id, v_nil)
    order by c.created_at desc, s.version desc, c.id desc
    limit 1;
  elsif not exists (select 1 from public.state_checkpoints c where c.id = v_parent and c.agent_id = p_agent_id) then
    raise exception 'parent checkpoint % not found for agent %', v_parent, p_agent_id
      using errcode = 'AJC05',
            hint = 'Pass a checkpoint of the same agent as p_parent_checkpoint_id, or null to chain to the latest one.';
  end if;

  -- clock_timestamp(), not now(): checkpoints taken in one transaction still get a creation order, which is
  -- what chains the next one to the latest.
  insert into public.state_checkpoints (
    agent_id, user_id, session_id, state_id, snapshot_id, parent_checkpoint_id, checkpoint_type, label, metadata,
    retain_until, created_at
  )
  values (
    p_agent_id, v_state.user_id, v_state.session_id, v_state.id, p_snapshot_id, v_parent, p_checkpoint_type::public.checkpoint_type, p_label,
    coalesce(p_metadata, '{}'::jsonb), p_retain_until, clock_timestamp()
  )
  returning * into v_row;
  return v_row;
end
$$;

revoke execute on function public.create_state_checkpoint(uuid, text, uuid, text, text, uuid, jsonb, timestamptz, uuid)
  from public, anon;
grant execute on function public.create_state_checkpoint(uuid, text, uuid, text, text, uuid, jsonb, timestamptz, uuid)
  to authenticated, service_role;

/**
 * Makes a checkpointed state current again, as a NEW version of its stream (history is never rewritten),
 * and returns that version. Its metadata names the checkpoint and the state it came from. When the stream's
 * current state differs from the checkpointed one, that current state is first saved as a 'recovery'
 * checkpoint, so a restore can itself be undone.
 */
create function public.restore_state_checkpoint(p_checkpoint_id uuid)
returns public.agent_states
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_nil constant uuid := '00000000-0000-0000-0000-000000000000';
  v_checkpoint public.state_checkpoints;
  v_state public.agent_states;
  v_current public.agent_states;
  v_row public.agent_states;
begin
  select * into v_checkpoint from public.state_checkpoints c where c.id = p_checkpoint_id;
  if not found then
    raise exception 'checkpoint % not found', p_checkpoint_id
      using errcode = 'AJC05',
            hint = 'Pass the id of a checkpoint of an agent you own (select id from public.state_checkpoints).';
  end if;
  select * into v_state from public.agent_states s where s.id = v_checkpoint.state_id;

  perform pg_advisory_xact_lock(
    public.agent_state_stream_lock_key(v_state.agent_id, v_state.user_id, v_state.state_type::text, v_state.session_id));

  select * into v_current
  from public.agent_states s
  where s.agent_id = v_state.agent_id
    and coalesce(s.user_id, v_nil) = coalesce(v_state.user_id, v_nil)
    and s.state_type = v_state.state_type
    and coalesce(s.session_id, v_nil) = coalesce(v_state.session_id, v_nil)
    and s.is_current;

  if found and v_current.state_hash <> v_state.state_hash then
    insert into public.state_checkpoints (
      agent_id, user_id, session_id, state_id, parent_checkpoint_id, checkpoint_type, label, metadata, created_at
    )
    values (
      v_current.agent_id, v_current.user_id, v_current.session_id, v_current.id, v_checkpoint.id, 'recovery',
      'before restore', jsonb_build_object('restoring_checkpoint_id', v_checkpoint.id), clock_timestamp()
    );
  end if;

  insert into public.agent_states (agent_id, user_id, session_id, state_type, state, metadata)
  values (
    v_state.agent_id, v_state.user_id, v_state.session_id, v_state.state_type, v_state.state,
    jsonb_build_object('restored_from_checkpoint_id', v_checkpoint.id, 'restored_from_state_id', v_state.id,
                       'restored_from_version', v_state.version)
  )
  returning * into v_row;
  return v_row;
end
$$;

revoke execute on function public.restore_state_checkpoint(uuid) from public, anon;
grant execute on function public.restore_state_checkpoint(uuid) to authenticated, service_role;

/**
 * Deletes checkpoints whose retain_until has passed (as of p_now) — of one agent, or of every agent the caller
 * can reach when p_agent_id is null — EXCEPT checkpoints that a kept checkpoint descends from: the whole
 * parent chain of every surviving checkpoint survives with it. Manual checkpoints (retain_until null) are
 * kept until deleted by hand. Returns the number deleted.
 */
create function public.prune_state_checkpoints(p_agent_id uuid default null, p_now timestamptz default now())
returns integer
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_deleted integer;
begin
  if p_agent_id is not null and not exists (select 1 from public.agents a where a.id = p_agent_id) then
    raise exception 'agent % not found', p_agent_id
      using errcode = 'AJC03',
            hint = 'Pass the id of an agent you own, or null to prune every agent you can reach.';
  end if;
  if p_now is null then
    raise exception 'p_now must not be null'
      using errcode = 'AJC04',
            hint = 'Leave p_now out to prune as of now().';
  end if;

  with recursive
    kept as (
      select c.id, c.parent_checkpoint_id
      from public.state_checkpoints c
      where (p_agent_id is null or c.agent_id = p_agent_id)
        and (c.retain_until is null or c.retain_until >= p_now)
    ),
    needed (id) as (
      select k.parent_checkpoint_id from kept k where k.parent_checkpoint_id is not null
      union
      select c.parent_checkpoint_id
      from public.state_checkpoints c
      join needed n on c.id = n.id
      where c.parent_checkpoint_id is not null
    )
  delete from public.state_checkpoints c
  where (p_agent_id is null or c.agent_id = p_agent_id)
    and c.retain_until < p_now
    and c.id not in (select n.id from needed n)
    -- an expired checkpoint that is the parent of another expired-but-needed one is in `needed` too;
    -- a parent of a checkpoint deleted in this same statement is not referenced after the statement.
    ;
  get diagnostics v_deleted = row_count;
  return v_deleted;
end
$$;

revoke execute on function public.prune_state_checkpoints(uuid, timestamptz) from public, anon;
grant execute on function public.prune_state_checkpoints(uuid, timestamptz) to authenticated, service_role;
