-- Schema v2, part 4: maintenance, health and integrity functions for operators (service_role / postgres).
--
-- Purpose : the periodic jobs (memory decay, sweeps of expired memories and old snapshots, IVFFlat rebuild
--           sized to the data, session-metric repair) and the monitoring queries (table sizes, index usage,
--           integrity / orphan checks, read-replica lag), callable from psql, pg_cron or an edge function with
--           the service key.
-- Objects : functions public.decay_agent_memories, public.sweep_expired_memories, public.sweep_old_snapshots,
--           public.rebuild_agent_memory_index, public.recompute_session_metrics, public.chat_schema_table_sizes,
--           public.chat_schema_index_usage, public.check_chat_schema_integrity, public.replica_lag.
-- Locks   : none beyond creating functions. (rebuild_agent_memory_index, when CALLED, blocks writes to
--           agent_memories while it builds — see its comment.)
-- Rollback: supabase/rollbacks/20250805074447_create_maintenance_functions.down.sql (this file only).
--
-- Every function here is EXECUTE-able by service_role only (and postgres, the owner).
-- SQLSTATE: AJC04 invalid parameter (with HINT).

/**
 * Lowers importance of memories not used for a while: importance × (1 − decay_rate) ^ days, where days run
 * from the later of the last access and the last change (updated_at). The decayed row's updated_at moves to
 * now(), so calling this hourly or daily gives the same curve — decay is never applied twice for the same
 * period. Rows whose importance would move by less than 1e-6 are not written. Returns rows updated.
 */
create function public.decay_agent_memories(p_agent_id uuid default null)
returns integer
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_count integer;
begin
  update public.agent_memories m
  set importance = (m.importance * power(1 - m.decay_rate::double precision, d.days))::real
  from (
    select x.id,
           extract(epoch from (now() - greatest(x.updated_at, coalesce(x.last_accessed_at, x.updated_at)))) / 86400.0
             as days
    from public.agent_memories x
    where (p_agent_id is null or x.agent_id = p_agent_id)
      and x.decay_rate > 0
      and x.importance > 0
  ) d
  where m.id = d.id
    and d.days > 0
    and m.importance - m.importance * power(1 - m.decay_rate::double precision, d.days) >= 1e-6;
  get diagnostics v_count = row_count;
  return v_count;
end
$$;

revoke execute on function public.decay_agent_memories(uuid) from public, anon, authenticated;
grant execute on function public.decay_agent_memories(uuid) to service_role;

/**
 * Deletes memories whose expires_at has passed, at most p_batch_size per call (short transactions, small
 * WAL bursts); call again while it returns p_batch_size. Uses agent_memories_expires_at_idx.
 */
create function public.sweep_expired_memories(p_batch_size integer default 10000)
returns integer
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_count integer;
begin
  if p_batch_size is null or p_batch_size < 1 then
    raise exception 'batch size must be a positive integer, got %', p_batch_size
      using errcode = 'AJC04',
            hint = 'Pass a batch size such as 10000; call again while the function returns that many.';
  end if;
  delete from public.agent_memories m
  where m.id in (
    select x.id from public.agent_memories x
    where x.expires_at <= now()
    order by x.expires_at
    limit p_batch_size
    for update skip locked
  );
  get diagnostics v_count = row_count;
  return v_count;
end
$$;

revoke execute on function public.sweep_expired_memories(integer) from public, anon, authenticated;
grant execute on function public.sweep_expired_memories(integer) to service_role;

/**
 * Deletes context snapshots older than p_older_than, keeping the newest p_keep_per_session of every session
 * and every snapshot a checkpoint points at (a checkpoint's evidence outlives the retention window).
 * Returns rows deleted.
 */
create function public.sweep_old_snapshots(
  p_older_than interval default interval '30 days',
  p_keep_per_session integer default 10
)
returns integer
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_count integer;
begin
  if p_older_than is null or p_older_than < interval '0' or p_keep_per_session is null or p_keep_per_session < 0 then
    raise exception 'p_older_than must be a non-negative interval and p_keep_per_session a non-negative integer'
      using errcode = 'AJC04',
            hint = 'For example: select public.sweep_old_snapshots(interval ''30 days'', 10);';
  end if;
  delete from public.context_snapshots cs
  where cs.id in (
    select r.id
    from (
      select x.id, x.created_at,
             row_number() over (partition by x.session_id order by x.created_at desc, x.id desc) as rank_in_session
      from public.context_snapshots x
    ) r
    where r.created_at < now() - p_older_than
      and r.rank_in_session > p_keep_per_session
  )
  and not exists (select 1 from public.state_checkpoints c where c.snapshot_id = cs.id);
  get diagnostics v_count = row_count;
  return v_count;
end
$$;

revoke execute on function public.sweep_old_snapshots(interval, integer) from public, anon, authenticated;
grant execute on function public.sweep_old_snapshots(interval, integer) to service_role;

/**
 * Rebuilds the IVFFlat index on agent_memories.embedding with `lists` sized to the data — run it after a
 * backfill or when the row count has grown ~4× since the last build (IVFFlat centroids are trained at build
 * time and never move): lists = rows / 1000 up to 1M rows, sqrt(rows) above (pgvector's guidance), at least 1.
 *
 * How: builds a new index under a temporary name, drops the old one and renames the new one, so searches keep
 * using the old index while the new one builds; writes to agent_memories wait for the build (CREATE INDEX
 * takes a SHARE lock). For zero write blocking on a large production table run the same statements by hand
 * with CREATE INDEX CONCURRENTLY (docs/schema.md) — that cannot run inside a function.
 * maintenance_work_mem is raised for this transaction only (IVFFlat keeps its k-means sample in memory:
 * ≈ 50 × lists vectors) and restored before returning.
 * security definer: only the table owner may create and drop its indexes; callable by service_role only.
 */
create function public.rebuild_agent_memory_index()
returns table (lists integer, indexed_rows bigint, maintenance_work_mem text)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_rows bigint;
  v_lists integer;
  v_old_mem text := current_setting('maintenance_work_mem');
  v_need_mb bigint;
begin
  select count(*) into v_rows from public.agent_memories m where m.embedding is not null;
  v_lists := case
    when v_rows > 1000000 then ceil(sqrt(v_rows))::integer
    else greatest(v_rows / 1000, 1)::integer
  end;
  -- 50 sample vectors per list, 1536 float4 each, plus 50% headroom; never below 128MB.
  v_need_mb := greatest(128, ceil((least(v_rows, 50::bigint * v_lists) * 1536 * 4 * 1.5) / 1048576.0)::bigint);
  if pg_catalog.pg_size_bytes(v_old_mem) < v_need_mb * 1048576 then
    perform set_config('maintenance_work_mem', v_need_mb || 'MB', true);
  end if;

  drop index if exists public.agent_memories_embedding_rebuild_idx;
  execute format(
    'create index agent_memories_embedding_rebuild_idx on public.agent_memories '
    'using ivfflat (embedding extensions.vector_cosine_ops) with (lists = %s)', v_lists);
  drop index if exists public.agent_memories_embedding_idx;
  alter index public.agent_memories_embedding_rebuild_idx rename to agent_memories_embedding_idx;

  lists := v_lists;
  indexed_rows := v_rows;
  maintenance_work_mem := current_setting('maintenance_work_mem');
  perform set_config('maintenance_work_mem', v_old_mem, true);
  return next;
end
$$;

revoke execute on function public.rebuild_agent_memory_index() from public, anon, authenticated;
grant execute on function public.rebuild_agent_memory_index() to service_role;

/**
 * Recomputes message_count, token_count and last_message_at from the messages themselves — for one session
 * or all. The triggers keep them right; this repairs drift after writes made with triggers disabled
 * (session_replication_role = replica, pg_restore) and is what check_chat_schema_integrity compares against.
 * Returns the number of sessions whose metrics changed.
 */
create function public.recompute_session_metrics(p_session_id uuid default null)
returns integer
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_count integer;
begin
  update public.conversation_sessions s
  set message_count = x.messages,
      token_count = x.tokens,
      last_message_at = x.last_at
  from (
    select s2.id, a.messages, a.tokens, a.last_at
    from public.conversation_sessions s2
    cross join lateral (
      select count(*)::integer as messages, coalesce(sum(public.message_tokens(m.metadata)), 0)::bigint as tokens,
             max(m.created_at) as last_at
      from public.chat_messages_v2 m
      where m.conversation_id = s2.id and m.deleted_at is null
    ) a
    where p_session_id is null or s2.id = p_session_id
  ) x
  where s.id = x.id
    and (s.message_count, s.token_count, s.last_message_at) is distinct from (x.messages, x.tokens, x.last_at);
  get diagnostics v_count = row_count;
  return v_count;
end
$$;

revoke execute on function public.recompute_session_metrics(uuid) from public, anon, authenticated;
grant execute on function public.recompute_session_metrics(uuid) to service_role;

/**
 * Size of every table in public (legacy and v2): estimated rows (pg_class.reltuples, no scan), heap, indexes,
 * toast and total bytes, largest first.
 */
create function public.chat_schema_table_sizes()
returns table (
  table_name text, row_estimate bigint, table_bytes bigint, index_bytes bigint, toast_bytes bigint,
  total_bytes bigint, total_size text
)
language sql
stable
security invoker
set search_path = ''
as $$
  select c.relname::text,
         greatest(c.reltuples, 0)::bigint,
         pg_catalog.pg_relation_size(c.oid),
         pg_catalog.pg_indexes_size(c.oid),
         coalesce(pg_catalog.pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0),
         pg_catalog.pg_total_relation_size(c.oid),
         pg_catalog.pg_size_pretty(pg_catalog.pg_total_relation_size(c.oid))
  from pg_catalog.pg_class c
  where c.relnamespace = 'public'::regnamespace
    and c.relkind in ('r', 'p')
  order by pg_catalog.pg_total_relation_size(c.oid) desc, c.relname
$$;

revoke execute on function public.chat_schema_table_sizes() from public, anon, authenticated;
grant execute on function public.chat_schema_table_sizes() to service_role;

/**
 * Usage of every index in public since statistics were last reset: scans, tuples read / fetched, size, and
 * whether it looks unused (no scans, not unique — unique indexes earn their keep by enforcing). Sorted so the
 * biggest unused indexes come first.
 */
create function public.chat_schema_index_usage()
returns table (
  table_name text, index_name text, index_scans bigint, tuples_read bigint, tuples_fetched bigint,
  index_bytes bigint, index_size text, is_unique boolean, looks_unused boolean
)
language sql
stable
security invoker
set search_path = ''
as $$
  select s.relname::text,
         s.indexrelname::text,
         s.idx_scan,
         s.idx_tup_read,
         s.idx_tup_fetch,
         pg_catalog.pg_relation_size(s.indexrelid),
         pg_catalog.pg_size_pretty(pg_catalog.pg_relation_size(s.indexrelid)),
         i.indisunique,
         s.idx_scan = 0 and not i.indisunique
  from pg_catalog.pg_stat_user_indexes s
  join pg_catalog.pg_index i on i.indexrelid = s.indexrelid
  where s.schemaname = 'public'
  order by (s.idx_scan = 0 and not i.indisunique) desc, pg_catalog.pg_relation_size(s.indexrelid) desc, s.indexrelname
$$;

revoke execute on function public.chat_schema_index_usage() from public, anon, authenticated;
grant execute on function public.chat_schema_index_usage() to service_role;

/**
 * Integrity checks foreign keys cannot express, one row per check: ok, how many rows break it, and up to
 * five sample ids. Run as service_role (sees every row); as anyone else RLS would hide problems. The
 * *_owned_by_* checks are tenancy: one user's data in another user's session or on another user's agent
 * (the policies refuse it; rows written as service_role, or by a buggy job, are not policed).
 *   message_user_matches_session        a message's user_id is its conversation's user_id
 *   message_agent_owned_by_user         a message's agent (when set) is owned by the message's user
 *   session_agent_owned_by_user         a session's agent (when set) is owned by the session's user
 *   memory_agent_owned_by_user          a memory's user_id (when set) owns the memory's agent
 *   memory_source_owned_by_agent_owner  a memory's source message belongs to the agent's owner
 *   state_agent_owned_by_user           an agent_states row's user_id (when set) owns its agent
 *   state_session_owned_by_agent_owner  an agent_states row's session belongs to the agent's owner
 *   snapshot_owned_by_agent_owner       a snapshot's user_id (when set) and session belong to the agent's owner
 *   checkpoint_owned_by_agent_owner     a checkpoint's user_id (when set) and session belong to the agent's owner
 *   session_metrics_match               trigger-kept metrics equal a recount (fix: recompute_session_metrics())
 *   agent_state_single_current          every stream with versions has exactly one current row
 *   agent_state_hash_matches            state_hash = sha256 of the state
 *   agent_state_versions_contiguous     versions of a stream are 1..n without gaps
 *   memory_related_ids_exist            related_memory_ids point at existing memories
 *   snapshot_message_ids_exist          context_snapshots.message_ids point at existing messages
 *   snapshot_memory_ids_exist           context_snapshots.memory_ids point at existing memories
 *   checkpoint_agent_matches_state      a checkpoint's agent is its state's agent
 */
create function public.check_chat_schema_integrity()
returns table (check_name text, ok boolean, problem_count bigint, sample_ids text[])
language sql
stable
security invoker
set search_path = ''
as $$
  with
  message_user as (
    select m.id::text as id
    from public.chat_messages_v2 m
    join public.conversation_sessions s on s.id = m.conversation_id
    where m.user_id <> s.user_id
  ),
  message_agent as (
    select m.id::text as id
    from public.chat_messages_v2 m
    join public.agents a on a.id = m.agent_id
    where a.owner_id <> m.user_id
  ),
  session_agent as (
    select s.id::text as id
    from public.conversation_sessions s
    join public.agents a on a.id = s.agent_id
    where a.owner_id <> s.user_id
  ),
  memory_agent as (
    select x.id::text as id
    from public.agent_memories x
    join public.agents a on a.id = x.agent_id
    where x.user_id <> a.owner_id
  ),
  memory_source as (
    select x.id::text as id
    from public.agent_memories x
    join public.agents a on a.id = x.agent_id
    join public.chat_messages_v2 m on m.id = x.source_message_id
    where m.user_id <> a.owner_id
  ),
  state_agent as (
    select x.id::text as id
    from public.agent_states x
    join public.agents a on a.id = x.agent_id
    where x.user_id <> a.owner_id
  ),
  state_session as (
    select x.id::text as id
    from public.agent_states x
    join public.agents a on a.id = x.agent_id
    join public.conversation_sessions s on s.id = x.session_id
    where s.user_id <> a.owner_id
  ),
  snapshot_owner as (
    select x.id::text as id
    from public.context_snapshots x
    join public.agents a on a.id = x.agent_id
    join public.conversation_sessions s on s.id = x.session_id
    where x.user_id <> a.owner_id or s.user_id <> a.owner_id
  ),
  checkpoint_owner as (
    select x.id::text as id
    from public.state_checkpoints x
    join public.agents a on a.id = x.agent_id
    left join public.conversation_sessions s on s.id = x.session_id
    where x.user_id <> a.owner_id or s.user_id <> a.owner_id
  ),
  metrics as (
    select s.id::text as id
    from public.conversation_sessions s
    left join lateral (
      select count(*)::integer as messages, coalesce(sum(public.message_tokens(m.metadata)), 0)::bigint as tokens,
             max(m.created_at) as last_at
      from public.chat_messages_v2 m
      where m.conversation_id = s.id and m.deleted_at is null
    ) a on true
    where (s.message_count, s.token_count, s.last_message_at) is distinct from (a.messages, a.tokens, a.last_at)
  ),
  streams as (
    select st.agent_id, st.user_id, st.state_type, st.session_id,
           count(*) filter (where st.is_current) as currents, count(*) as versions, max(st.version) as max_version,
           min(st.id::text) as sample
    from public.agent_states st
    group by st.agent_id, st.user_id, st.state_type, st.session_id
  ),
  hashes as (
    select st.id::text as id
    from public.agent_states st
    where st.state_hash <> encode(sha256(convert_to(st.state::text, 'UTF8')), 'hex')
  ),
  related as (
    select mem.id::text as id
    from public.agent_memories mem
    where exists (
      select 1 from unnest(mem.related_memory_ids) r (id)
      where not exists (select 1 from public.agent_memories o where o.id = r.id))
  ),
  snapshot_messages as (
    select cs.id::text as id
    from public.context_snapshots cs
    where exists (
      select 1 from unnest(cs.message_ids) r (id)
      where not exists (select 1 from public.chat_messages_v2 o where o.id = r.id))
  ),
  snapshot_memories as (
    select cs.id::text as id
    from public.context_snapshots cs
    where exists (
      select 1 from unnest(cs.memory_ids) r (id)
      where not exists (select 1 from public.agent_memories o where o.id = r.id))
  ),
  checkpoint_agent as (
    select c.id::text as id
    from public.state_checkpoints c
    join public.agent_states st on st.id = c.state_id
    where st.agent_id <> c.agent_id
  ),
  results (ord, check_name, problem_count, sample_ids) as (
    select 1, 'message_user_matches_session', (select count(*) from message_user),
           (select array(select id from message_user order by id limit 5))
    union all
    select 2, 'message_agent_owned_by_user', (select count(*) from message_agent),
           (select array(select id from message_agent order by id limit 5))
    union all
    select 3, 'session_agent_owned_by_user', (select count(*) from session_agent),
           (select array(select id from session_agent order by id limit 5))
    union all
    select 4, 'memory_agent_owned_by_user', (select count(*) from memory_agent),
           (select array(select id from memory_agent order by id limit 5))
    union all
    select 5, 'memory_source_owned_by_agent_owner', (select count(*) from memory_source),
           (select array(select id from memory_source order by id limit 5))
    union all
    select 6, 'state_agent_owned_by_user', (select count(*) from state_agent),
           (select array(select id from state_agent order by id limit 5))
    union all
    select 7, 'state_session_owned_by_agent_owner', (select count(*) from state_session),
           (select array(select id from state_session order by id limit 5))
    union all
    select 8, 'snapshot_owned_by_agent_owner', (select count(*) from snapshot_owner),
           (select array(select id from snapshot_owner order by id limit 5))
    union all
    select 9, 'checkpoint_owned_by_agent_owner', (select count(*) from checkpoint_owner),
           (select array(select id from checkpoint_owner order by id limit 5))
    union all
    select 10, 'session_metrics_match', (select count(*) from metrics), (select array(select id from metrics order by id limit 5))
    union all
    select 11, 'agent_state_single_current', (select count(*) from streams where currents <> 1),
           (select array(select sample from streams where currents <> 1 order by sample limit 5))
    union all
    select 12, 'agent_state_hash_matches', (select count(*) from hashes), (select array(select id from hashes order by id limit 5))
    union all
    select 13, 'agent_state_versions_contiguous', (select count(*) from streams where max_version <> versions),
           (select array(select sample from streams where max_version <> versions order by sample limit 5))
    union all
    select 14, 'memory_related_ids_exist', (select count(*) from related), (select array(select id from related order by id limit 5))
    union all
    select 15, 'snapshot_message_ids_exist', (select count(*) from snapshot_messages),
           (select array(select id from snapshot_messages order by id limit 5))
    union all
    select 16, 'snapshot_memory_ids_exist', (select count(*) from snapshot_memories),
           (select array(select id from snapshot_memories order by id limit 5))
    union all
    select 17, 'checkpoint_agent_matches_state', (select count(*) from checkpoint_agent),
           (select array(select id from checkpoint_agent order by id limit 5))
  )
  select r.check_name, r.problem_count = 0, r.problem_count, r.sample_ids
  from results r
  order by r.ord  -- the documented order, also when the planner runs the branches as a parallel append
$$;

revoke execute on function public.check_chat_schema_integrity() from public, anon, authenticated;
grant execute on function public.check_chat_schema_integrity() to service_role;

/**
 * Lag of every standby of this server, most behind first — for operators, and for a backfill that slows
 * down while read replicas fall behind: `select max(replay_lag_bytes), max(replay_lag_seconds) from
 * public.replica_lag();` (null = unknown: treat as behind). On PGlite, or a server without standbys, no
 * rows; on a standby itself no rows either (ask the primary, or there `now() - pg_last_xact_replay_timestamp()`).
 *  - replica: the standby's application_name (its cluster_name, or the name in its primary_conninfo; on
 *    hosted Supabase the replica's identifier), or the slot name when no standby is connected to the slot;
 *  - state: walsender state (startup | catchup | streaming | backup | stopping), 'disconnected' for a slot
 *    whose standby is not connected;
 *  - sent_lag_bytes: WAL written here and not yet sent; replay_lag_bytes: written here and not yet replayed
 *    there (for a disconnected slot: WAL since its restart point) — the number a throttle should watch;
 *  - replay_lag_seconds: PostgreSQL's replay_lag — how long the standby took to replay what it last
 *    confirmed — 0 when it has replayed everything or has not reported a sample since it was last caught up
 *    (replay_lag_bytes is the number that cannot lag behind itself);
 *  - slot_retained_bytes, wal_status: WAL the standby's slot keeps on this server and whether it is still
 *    within max_slot_wal_keep_size ('reserved' / 'extended' / 'unreserved' / 'lost' — lost means that standby
 *    needs a new base backup).
 * The byte and time columns need the statistics privilege (pg_read_all_stats) of this function's owner
 * (security definer: service_role gets the numbers without being granted the role): where the owner lacks
 * it they are null — unknown, which a throttle must treat as "behind". Nothing here exposes user data.
 */
create function public.replica_lag()
returns table (
  replica text,
  state text,
  sync_state text,
  sent_lag_bytes bigint,
  replay_lag_bytes bigint,
  replay_lag_seconds double precision,
  slot_name text,
  slot_retained_bytes bigint,
  wal_status text
)
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(r.application_name, s.slot_name::text) as replica,
         coalesce(r.state, case when s.slot_name is not null then 'disconnected' end) as state,
         r.sync_state,
         pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), r.sent_lsn)::bigint as sent_lag_bytes,
         pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), coalesce(r.replay_lsn, s.restart_lsn))::bigint
           as replay_lag_bytes,
         case when r.replay_lsn is null then null
              when r.replay_lsn >= pg_catalog.pg_current_wal_lsn() then 0::double precision
              else coalesce(extract(epoch from r.replay_lag)::double precision, 0) end as replay_lag_seconds,
         s.slot_name::text,
         pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn)::bigint as slot_retained_bytes,
         s.wal_status
    from pg_catalog.pg_stat_replication r
    full join (select * from pg_catalog.pg_replication_slots where slot_type = 'physical') s on s.active_pid = r.pid
   where not pg_catalog.pg_is_in_recovery()
   order by 5 desc nulls first, 1
$$;

comment on function public.replica_lag() is
  'Lag of every standby (and idle physical slot) of this server in bytes and seconds, most behind first; null numbers = not visible to the owner (grant pg_read_all_stats).';

revoke execute on function public.replica_lag() from public, anon, authenticated;
grant execute on function public.replica_lag() to service_role;
