-- Rollback of 20250812000000_tune_chat_hot_path: puts back the hot path as schema v2 (20250805074444..54) left it.
-- - save_agent_state and chat_messages_v2_after_insert_metrics get their previous bodies (same signatures, so
--   grants and comments stay);
-- - conversation_sessions_set_updated_at and agent_states_before_update lose their WHEN clauses;
-- - chat_messages_v2_metadata_idx is rebuilt. CREATE INDEX scans chat_messages_v2 and blocks its writers for
--   the build (about 10 s per million messages on a 2-core machine). On a live table build it first with
--     create index concurrently if not exists chat_messages_v2_metadata_idx
--       on public.chat_messages_v2 using gin (metadata jsonb_path_ops);
--   (outside a transaction); this file then finds it and skips the build.
-- Data is never touched. Everything newer that builds on it is rolled back first
-- (npm run db:rollback -- --to 20250812000000).


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

  perform pg_advisory_xact_lock(public.agent_state_stream_lock_key(p_agent_id, v_user_id, p_state_type, p_session_id));

  select s.version into v_current
  from public.agent_states s
  where s.agent_id = p_agent_id
    and coalesce(s.user_id, v_nil) = coalesce(v_user_id, v_nil)
    and s.state_type = p_state_type::public.state_type
    and coalesce(s.session_id, v_nil) = coalesce(p_session_id, v_nil)
    and s.is_current;

  if p_expected_version is not null and p_expected_version <> coalesce(v_current, 0) then
    raise exception 'stale state version: expected %, current is %', p_expected_version, coalesce(v_current, 0)
      using errcode = 'AJC01',
            hint = format('Reload the current state (version %s), apply your change to it and save again with p_expected_version => %s.',
                          coalesce(v_current, 0), coalesce(v_current, 0));
  end if;

  insert into public.agent_states (agent_id, user_id, session_id, state_type, state)
  values (p_agent_id, v_user_id, p_session_id, p_state_type::public.state_type, p_state)
  returning * into v_row;
  return v_row;
end
$$;

create or replace function public.chat_messages_v2_after_insert_metrics()
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

drop trigger agent_states_before_update on public.agent_states;
create trigger agent_states_before_update
  before update on public.agent_states
  for each row execute function public.agent_states_before_update();

drop trigger conversation_sessions_set_updated_at on public.conversation_sessions;
create trigger conversation_sessions_set_updated_at
  before update on public.conversation_sessions
  for each row execute function public.set_updated_at();


create index if not exists chat_messages_v2_metadata_idx on public.chat_messages_v2 using gin (metadata jsonb_path_ops);

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250812000000';
  end if;
end
$$;
