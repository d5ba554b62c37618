-- Schema v2, part 6: the SQL API an app calls for agent memories.
--
-- Purpose : similarity search over an agent's memories (IVFFlat, cosine) and recording which memories were
--           used (what decay counts from). All security invoker: RLS decides what a caller reaches, so the
--           same function serves a user (authenticated) and the server (service_role).
-- Objects : functions public.match_agent_memories, public.record_agent_memory_access.
-- Locks   : none beyond creating functions.
-- Rollback: supabase/rollbacks/20250805074449_create_agent_memory_api.down.sql (this file only).
--
-- SQLSTATEs (class AJ = advanced-json-chat; every one comes with a HINT; catalogue in docs/schema.md):
--   AJC03 agent not found             (absent, or not owned by the caller — indistinguishable on purpose)
--   AJC04 invalid parameter
--   AJC13 embedding cannot be normalised (zero, or a norm below 2^-63)

/**
 * Nearest memories of one agent by cosine similarity (1 = same direction, 0 = unrelated), most similar first.
 * Filters: memory types, minimum importance; expired memories and memories without an embedding are skipped.
 *
 * Search uses the IVFFlat index (agent_memories_embedding_idx). Two settings are made for the duration of the
 * call and restored afterwards:
 *  - ivfflat.probes = ceil(sqrt(lists)) — the recall/speed balance pgvector recommends;
 *  - ivfflat.iterative_scan = relaxed_order (pgvector ≥ 0.8) — the agent / type / importance filters are
 *    applied after the index scan, and without iterative scans a selective filter returns fewer than
 *    p_match_count rows. relaxed_order may return rows slightly out of order, so the candidates are
 *    materialized and sorted again by exact distance.
 * security invoker: RLS limits the search to agents the caller owns; another user's agent raises AJC03.
 */
create function public.match_agent_memories(
  p_agent_id uuid,
  p_query_embedding extensions.vector(1536),
  p_match_count integer default 10,
  p_memory_types text[] default null,
  p_min_importance real default null
)
returns table (id uuid, content text, memory_type public.memory_type, importance real, similarity double precision)
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_lists integer;
  v_old_probes text := current_setting('ivfflat.probes', true);
  v_old_iterative text := current_setting('ivfflat.iterative_scan', true);
begin
  if p_agent_id is null or not exists (select 1 from public.agents a where a.id = p_agent_id) then
    raise exception 'agent % not found', p_agent_id
      using errcode = 'AJC03',
            hint = 'Pass the id of an agent you own (select id from public.agents).';
  end if;
  if p_query_embedding is null then
    raise exception 'query embedding must be a vector(1536), got null'
      using errcode = 'AJC04',
            hint = 'Pass the embedding of the query text, produced by the model that embedded the memories.';
  end if;
  -- Zero, or so small that pgvector's float4 sum of squares underflows (1536 × 1e-40 would score every
  -- memory 1.0): cosine similarity is undefined. Same bound as agent_memories_embedding_normalisable_check.
  if extensions.vector_norm(p_query_embedding) < power(2::double precision, -63) then
    raise exception 'query embedding cannot be normalised (norm %, below 2^-63)', extensions.vector_norm(p_query_embedding)
      using errcode = 'AJC13',
            hint = 'Pass the embedding of the query text, produced by the model that embedded the memories; a zero or near-zero vector has no direction to compare.';
  end if;
  if p_match_count is null or p_match_count < 1 or p_match_count > 1000 then
    raise exception 'match count must be between 1 and 1000, got %', p_match_count
      using errcode = 'AJC04',
            hint = 'Ask for at most 1000 matches; page by raising p_min_importance or narrowing p_memory_types.';
  end if;
  if p_memory_types is not null and not p_memory_types <@ enum_range(null::public.memory_type)::text[] then
    raise exception 'unknown memory type in %', p_memory_types
      using errcode = 'AJC04',
            hint = format('Memory types are %s.', array_to_string(enum_range(null::public.memory_type)::text[], ', '));
  end if;
  if p_min_importance is not null and (p_min_importance < 0 or p_min_importance > 1) then
    raise exception 'minimum importance must be between 0 and 1, got %', p_min_importance
      using errcode = 'AJC04',
            hint = 'Importance is a fraction: pass a value from 0 to 1, or null for no filter.';
  end if;

  select coalesce(
           (select substring(o.option from '^lists=(\d+)$')::integer
            from pg_catalog.pg_class c, unnest(c.reloptions) as o (option)
            where c.oid = to_regclass('public.agent_memories_embedding_idx') and o.option like 'lists=%'),
           100)
  into v_lists;
  perform set_config('ivfflat.probes', greatest(ceil(sqrt(v_lists)), 1)::integer::text, true);
  if exists (select 1 from pg_catalog.pg_settings s where s.name = 'ivfflat.iterative_scan') then
    perform set_config('ivfflat.iterative_scan', 'relaxed_order', true);
  end if;

  return query
  with candidates as materialized (
    select m.id, m.content, m.memory_type, m.importance,
           m.embedding operator(extensions.<=>) p_query_embedding as distance
    from public.agent_memories m
    where m.agent_id = p_agent_id
      and m.embedding is not null
      and (p_memory_types is null or m.memory_type = any (p_memory_types::public.memory_type[]))
      and (p_min_importance is null or m.importance >= p_min_importance)
      and (m.expires_at is null or m.expires_at > now())
    order by m.embedding operator(extensions.<=>) p_query_embedding
    limit p_match_count
  )
  select c.id, c.content, c.memory_type, c.importance, (1 - c.distance)::double precision as similarity
  from candidates c
  order by c.distance, c.id;

  perform set_config('ivfflat.probes', coalesce(v_old_probes, '1'), true);
  if v_old_iterative is not null then
    perform set_config('ivfflat.iterative_scan', v_old_iterative, true);
  end if;
end
$$;

comment on function public.match_agent_memories(uuid, extensions.vector, integer, text[], real) is
  'Nearest memories of an agent the caller owns, by cosine similarity, most similar first. AJC03 / AJC04 / AJC13 on bad input.';

revoke execute on function public.match_agent_memories(uuid, extensions.vector, integer, text[], real) from public, anon;
grant execute on function public.match_agent_memories(uuid, extensions.vector, integer, text[], real)
  to authenticated, service_role;

/**
 * Records that memories were used (access_count + 1, last_accessed_at = now()); decay counts from the last
 * access. Separate from match_agent_memories so a search stays a read (replica-safe, no row locks) and the
 * app records only the memories it actually put into the prompt. Returns the number of rows touched.
 */
create function public.record_agent_memory_access(p_memory_ids uuid[])
returns integer
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_count integer;
begin
  if p_memory_ids is null or cardinality(p_memory_ids) > 1000 then
    raise exception 'memory ids must be an array of at most 1000 ids'
      using errcode = 'AJC04',
            hint = 'Pass the ids returned by public.match_agent_memories that you used, in batches of up to 1000.';
  end if;
  update public.agent_memories m
  set access_count = m.access_count + 1,
      last_accessed_at = now()
  where m.id = any (p_memory_ids);
  get diagnostics v_count = row_count;
  return v_count;
end
$$;

revoke execute on function public.record_agent_memory_access(uuid[]) from public, anon;
grant execute on function public.record_agent_memory_access(uuid[]) to authenticated, service_role;
