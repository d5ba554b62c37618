-- Memory search: HNSW instead of IVFFlat as the default vector index, and the search settings to match.
--
-- Purpose : the schema created agent_memories_embedding_idx as IVFFlat with lists = 1 (an empty table cannot be
--           clustered), which is an exact scan until someone runs rebuild_agent_memory_index(), and IVFFlat's
--           lists are trained once and go stale as the table grows. HNSW needs no sizing and stays accurate as
--           rows arrive. Measured on native PostgreSQL 15 + pgvector 0.8.0 over 100k × 1536 memories with
--           overlapping topics and anisotropic noise (docs/benchmarks.md#vector): HNSW (m = 16,
--           ef_construction = 64) through match_agent_memories (hnsw.ef_search = 100) reached recall@10 = 1.0 at
--           < 1 % of the exact scan's p50; IVFFlat at lists = rows / 1000 needed probes ≥ 4 for recall 0.95 and
--           was several times slower than HNSW at equal recall.
-- Objects : index public.agent_memories_embedding_idx (IVFFlat → HNSW, same name); functions
--           public.match_agent_memories (sets hnsw.ef_search and hnsw.iterative_scan for the call) and
--           public.rebuild_agent_memory_index (rebuilds HNSW) replaced with the same signatures.
-- Depends : 20250805074446, 20250805074449, 20250805074451 (agent_memories, memory search, index rebuild), not the data
--           migration: rolling the data migration back leaves it applied.
-- Locks   : DROP INDEX takes ACCESS EXCLUSIVE on agent_memories for an instant; CREATE INDEX holds SHARE (reads go
--           on, writes to agent_memories wait) for the build: instant on an empty or small table; on a large one
--           (1–4 min per 100k × 1536 memories on a 2-core machine) run the statements by hand with CREATE INDEX CONCURRENTLY
--           first (docs/schema.md#vector-index-the-knob) — then this file's DROP/CREATE pair finds the index already HNSW
--           and only the functions change. No table rewrite.
-- Rollback: supabase/rollbacks/20250813000000_tune_memory_vector_index.down.sql (IVFFlat lists = 1 and the
--           previous function bodies); rolling v2 back rolls this file back first.

/**
 * Cosine HNSW: same operator class as before (the query uses <=>). m = 16 and ef_construction = 64 are
 * pgvector's defaults; the recall/latency knob is hnsw.ef_search at query time (match_agent_memories sets it).
 * Rebuilt only when it is not HNSW already (a DBA may have built it concurrently beforehand).
 */
do $$
begin
  if not exists (select 1 from pg_catalog.pg_indexes i where i.schemaname = 'public' and i.indexname = 'agent_memories_embedding_idx'
                 and i.indexdef ilike '% using hnsw %') then
    drop index if exists public.agent_memories_embedding_idx;
    create index agent_memories_embedding_idx on public.agent_memories
      using hnsw (embedding extensions.vector_cosine_ops) with (m = 16, ef_construction = 64);
  end if;
end
$$;

comment on table public.agent_memories is
  'Agent memories with 1536-dim embeddings (cosine HNSW); reachable only through an agent the user owns.';

/**
 * Nearest memories of one agent by cosine similarity (1 = same direction, 0 = unrelated), most similar first.
 * Filters: memory types, minimum importance; expired memories and memories without an embedding are skipped.
 *
 * Search uses the HNSW index (agent_memories_embedding_idx, m = 16, ef_construction = 64). Settings made for the
 * duration of the call and restored afterwards:
 *  - hnsw.ef_search = 100 (at least p_match_count, at most 1000): recall margin over pgvector's default of 40
 *    — on the benchmark's 100k × 1536 memories (docs/benchmarks.md#vector) every ef_search from 40 to 200
 *    reached recall@10 = 1.0 and 100 cost < 3 % of an exact scan; real embeddings can be harder;
 *  - hnsw.iterative_scan / ivfflat.iterative_scan = relaxed_order (pgvector ≥ 0.8) — the agent / type /
 *    importance filters are applied after the index scan, and without iterative scans a selective filter
 *    returns fewer than p_match_count rows. relaxed_order may return rows slightly out of order, so the
 *    candidates are materialized and sorted again by exact distance;
 *  - ivfflat.probes = ceil(sqrt(lists)) when a DBA replaced the index by an IVFFlat one (docs/schema.md).
 * security invoker: RLS limits the search to agents the caller owns; another user's agent raises AJC03.
 */
create or replace function public.match_agent_memories(
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
  v_old_ef text := current_setting('hnsw.ef_search', true);
  v_old_hnsw_iterative text := current_setting('hnsw.iterative_scan', true);
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
  perform set_config('hnsw.ef_search', least(greatest(100, p_match_count), 1000)::text, true);
  if exists (select 1 from pg_catalog.pg_settings s where s.name = 'hnsw.iterative_scan') then
    perform set_config('ivfflat.iterative_scan', 'relaxed_order', true);
    perform set_config('hnsw.iterative_scan', 'relaxed_order', true);
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
  perform set_config('hnsw.ef_search', coalesce(v_old_ef, '40'), true);
  if v_old_iterative is not null then
    perform set_config('ivfflat.iterative_scan', v_old_iterative, true);
  end if;
  if v_old_hnsw_iterative is not null then
    perform set_config('hnsw.iterative_scan', v_old_hnsw_iterative, true);
  end if;
end
$$;

comment on function public.match_agent_memories(uuid, extensions.vector, integer, text[], real) is
  'Nearest memories of an agent the caller owns, by cosine similarity, most similar first. AJC03 / AJC04 / AJC13 on bad input.';

revoke execute on function public.match_agent_memories(uuid, extensions.vector, integer, text[], real) from public, anon;
grant execute on function public.match_agent_memories(uuid, extensions.vector, integer, text[], real)
  to authenticated, service_role;

/**
 * Rebuilds the vector index on agent_memories.embedding — HNSW (m = 16, ef_construction = 64), the project's
 * default since 20250813000000. HNSW needs no sizing and stays accurate as the table grows, so a rebuild is
 * only needed to reclaim space after mass deletes, or to go back to HNSW after a hand-made IVFFlat index.
 *
 * How: builds a new index under a temporary name, drops the old one and renames the new one, so searches keep
 * using the old index while the new one builds; writes to agent_memories wait for the build (CREATE INDEX
 * takes a SHARE lock). For zero write blocking on a large production table run the same statements by hand
 * with CREATE INDEX CONCURRENTLY (docs/schema.md) — that cannot run inside a function.
 * maintenance_work_mem is raised for this transaction only (an HNSW build is fast while the graph fits in it:
 * ≈ 1.1 × rows × (6 kB + 16 neighbours), never below 128MB, at most 2047MB, the 32-bit limit) and restored before returning.
 * Returns lists = null (an IVFFlat notion; kept so callers' column lists keep working).
 * security definer: only the table owner may create and drop its indexes; callable by service_role only.
 */
create or replace function public.rebuild_agent_memory_index()
returns table (lists integer, indexed_rows bigint, maintenance_work_mem text)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_rows bigint;
  v_old_mem text := current_setting('maintenance_work_mem');
  v_need_mb bigint;
begin
  select count(*) into v_rows from public.agent_memories m where m.embedding is not null;
  v_need_mb := least(2047, greatest(128, ceil(v_rows * (1536 * 4 + 16 * 2 * 8 + 64) * 1.1 / 1048576.0)::bigint));
  if pg_catalog.pg_size_bytes(v_old_mem) < v_need_mb * 1048576 then
    perform set_config('maintenance_work_mem', v_need_mb || 'MB', true);
  end if;

  drop index if exists public.agent_memories_embedding_rebuild_idx;
  create index agent_memories_embedding_rebuild_idx on public.agent_memories
    using hnsw (embedding extensions.vector_cosine_ops) with (m = 16, ef_construction = 64);
  drop index if exists public.agent_memories_embedding_idx;
  alter index public.agent_memories_embedding_rebuild_idx rename to agent_memories_embedding_idx;

  lists := null;
  indexed_rows := v_rows;
  maintenance_work_mem := current_setting('maintenance_work_mem');
  perform set_config('maintenance_work_mem', v_old_mem, true);
  return next;
end
$$;

revoke execute on function public.rebuild_agent_memory_index() from public, anon, authenticated;
grant execute on function public.rebuild_agent_memory_index() to service_role;
