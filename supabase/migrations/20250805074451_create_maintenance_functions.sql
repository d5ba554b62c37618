-- Schema v2, part 8: maintenance functions for operators (service_role / postgres).
--
-- Purpose : the periodic jobs — memory decay, sweeps of expired memories and old snapshots, IVFFlat rebuild
--           sized to the data, session-metric repair — callable from psql, pg_cron (20250809000000 schedules
--           them) or an edge function with the service key.
-- Objects : functions public.decay_agent_memories, public.sweep_expired_memories, public.sweep_old_snapshots,
--           public.rebuild_agent_memory_index, public.recompute_session_metrics.
-- Locks   : none beyond creating functions. (rebuild_agent_memory_index, when CALLED, blocks writes to
--           agent_memories while it builds — see its comment.)
-- Rollback: supabase/rollbacks/20250805074451_create_maintenance_functions.down.sql (this file only).
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
