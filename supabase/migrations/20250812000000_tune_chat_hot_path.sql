-- Hot path: less work per message insert, per state save and per state read, same behaviour.
--
-- Purpose : every index, trigger and query on the API's hot path earns its cost (measured on native
--           PostgreSQL 15, docs/benchmarks.md "Hot path"):
--           - the session metrics trigger computes a message's tokens inline (the rule of
--             public.message_tokens, which pins search_path and so is called, not inlined, once per row);
--           - chat_messages_v2_metadata_idx dropped: nothing queries chat_messages_v2.metadata by
--             containment, and a GIN entry per message was pure write cost;
--           - the session metrics trigger locks and updates its sessions in one statement (was two) and stamps
--             updated_at itself, so conversation_sessions_set_updated_at (now with a WHEN clause) no longer
--             runs a plpgsql call per metric update;
--           - agent_states_before_update only runs when an update is NOT a plain retirement (WHEN clause), so
--             the retirement of the previous version inside every save costs no plpgsql call; any other
--             update still raises AJC02 from the same function;
--           - save_agent_state reads the current version under the stream lock only when p_expected_version
--             asks for a check; the insert trigger takes the same lock and finds the same row anyway.
-- Objects : index chat_messages_v2_metadata_idx (dropped); functions public.chat_messages_v2_after_insert_metrics
--           and public.save_agent_state (replaced, same signatures and grants); triggers
--           conversation_sessions_set_updated_at and agent_states_before_update (recreated with WHEN).
-- Depends : 20250805074445, 20250805074447, 20250805074448, 20250805074450 (the tables, triggers and state API
--           it retunes), not the data migration: rolling the data migration back leaves it applied.
-- Locks   : DROP INDEX takes ACCESS EXCLUSIVE on chat_messages_v2, DROP / CREATE TRIGGER SHARE ROW EXCLUSIVE on
--           agent_states and conversation_sessions, for an instant each (catalog only, no rewrite, no scan);
--           lock_timeout makes the migration fail fast instead of queueing writers behind a long reader.
-- Rollback: supabase/rollbacks/20250812000000_tune_chat_hot_path.down.sql (rebuilds the GIN index, which
--           scans chat_messages_v2: see its header).

set local lock_timeout = '5s';

-- Nothing filters chat_messages_v2.metadata by containment (the data migration matches on legacy_id, the API
-- on conversation and id); the GIN entry was written on every insert for no reader. agent_memories keeps its
-- own metadata index.
drop index public.chat_messages_v2_metadata_idx;

/**
 * AFTER INSERT … FOR EACH STATEMENT on chat_messages_v2: add the new live rows to their sessions. One
 * statement: the sessions are locked in id order by the `locked` CTE (every row the update touches has to come
 * through it first, so whatever plan runs, locks are taken in increasing id order and two statements touching
 * the same sessions cannot deadlock), then updated with the sum of the statement's rows. updated_at is set here
 * so conversation_sessions_set_updated_at (WHEN updated_at is not yet now()) has nothing to do. The tokens are
 * public.message_tokens's rule spelled inline (a function with SET is called per row, never inlined);
 * test/schema/triggers.test.ts checks the metrics against dirty metadata.
 */
create or replace function public.chat_messages_v2_after_insert_metrics()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  with d as (
    select n.conversation_id, count(*)::integer as messages,
           sum(case
                 when jsonb_typeof(n.metadata -> 'tokens') = 'number'
                   then greatest(least(floor((n.metadata ->> 'tokens')::numeric), 9007199254740991), 0)::bigint
                 else 0
               end)::bigint as tokens,
           max(n.created_at) as last_at
    from new_rows n
    where n.deleted_at is null
    group by n.conversation_id
  ), locked as materialized (
    select s.id
    from public.conversation_sessions s
    where s.id in (select d.conversation_id from d)
    order by s.id
    for no key update
  )
  update public.conversation_sessions s
  set message_count = s.message_count + d.messages,
      token_count = s.token_count + d.tokens,
      last_message_at = greatest(s.last_message_at, d.last_at),
      updated_at = now()
  from d
  where s.id = d.conversation_id
    and s.id in (select l.id from locked l);
  return null;
end
$$;

-- Same behaviour as before (updated_at ends up now() whatever the writer set), minus the call when it
-- already is now() — which is what the metrics triggers write.
drop trigger conversation_sessions_set_updated_at on public.conversation_sessions;
create trigger conversation_sessions_set_updated_at
  before update on public.conversation_sessions
  for each row when (new.updated_at is distinct from now())
  execute function public.set_updated_at();

-- The one update agent_states allows (retiring the current version: is_current true → false, nothing else)
-- no longer calls the function; every other update still reaches it and raises AJC02. The comparison is the
-- function's own, column by column (state last).
drop trigger agent_states_before_update on public.agent_states;
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

/**
 * Appends a new current version to the stream (p_agent_id, caller, p_state_type, p_session_id). With
 * p_expected_version it is a compare-and-set: the current version is read under the stream's advisory lock
 * and a different one raises AJC01. Without it the insert trigger (agent_states_before_insert) does the
 * whole job — it takes the same lock, numbers the version and retires the previous one — so the lock and the
 * read are not done twice.
 */
create or replace function public.save_agent_state(
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
