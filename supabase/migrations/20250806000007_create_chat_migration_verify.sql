-- Data migration legacy (v1) → v2, part 8 of 9: verification.
--
-- Purpose : verify_chat_migration() — one row per check, comparing content (text, attachments, tool calls), not
--           just counts; quarantined rows are accounted for, not failures. set_chat_schema_mode('v2_only') and
--           finalize_chat_migration() refuse unless it is clean.
-- Objects : function public.verify_chat_migration.
-- Locks   : none when applied. When called: reads (one scan of chat_messages and chat_messages_v2).
-- Rollback: supabase/rollbacks/20250806000007_create_chat_migration_verify.down.sql


/**
 * One row per check; ok = false means do not cut over. Compares content, not just counts: every legacy row that is
 * not quarantined must have a v2 row equal to what the mapping rules produce from the legacy row as it is NOW
 * (so a legacy row edited after it was migrated, outside dual_write, is a mismatch). In v2_only mode, v2 rows
 * changed after the switch are newer than legacy by design and are not compared. The 'tenancy' check counts v2
 * rows that put one user's data in another user's session or on another user's agent (any is a failure);
 * legacy rows quarantined for that reason are accounted in its legacy_count.
 * jit = off: the planner's estimates for the outer joins below are orders of magnitude too high, which sends the
 * query over jit_above_cost at any size; on PostgreSQL 15 with 10,000 messages, compiling took 1.4–2.5 s of a
 * 1.8–2.9 s verify that runs in 0.4 s without it.
 */
create function public.verify_chat_migration()
returns table (check_name text, legacy_count bigint, v2_count bigint, mismatches bigint, ok boolean)
language plpgsql
stable
set search_path = ''
set jit = off
as $$
declare
  cur_mode text;
  since timestamptz;
begin
  select x.mode, case when x.mode = 'v2_only' then
           (select max(c.at) from chat_migration.mode_changes c where c.to_mode = 'v2_only') end
    into cur_mode, since
    from chat_migration.mode x;
  if exists (select 1 from chat_migration.mode where finalized_at is not null) then
    return query select 'finalized'::text, 0::bigint, 0::bigint, 0::bigint, true;
    return;
  end if;

  return query
  with l as materialized (
    select m.*, coalesce(m.content, '') as body,
           exists (select 1 from chat_migration.quarantine q where q.source_table = 'chat_messages'
                     and q.source_id = m.id::text and q.resolved_at is null) as quarantined
      from public.chat_messages m
  ),
  v as materialized (
    select v.*,
           case when v.content ->> 'type' = 'text' then v.content ->> 'text'
                else chat_migration.content_text(v.content) end as v_text,
           (since is not null and greatest(coalesce(v.updated_at, v.created_at),
                                                coalesce(v.deleted_at, v.created_at)) > since) as superseded
      from public.chat_messages_v2 v
     where v.legacy_id is not null
  ),
  va as (
    select a.message_id, jsonb_agg(jsonb_build_object(
             'position', a.rn - 1, 'name', a.name, 'type', a.type, 'storage_path', a.storage_path,
             'mime_type', a.mime_type, 'size_bytes', a.size_bytes, 'metadata', coalesce(a.metadata, '{}'::jsonb))
             order by a.rn) as items, count(*) as n
      from (select a.*, row_number() over (partition by a.message_id order by a.position) as rn
              from public.chat_message_attachments a
             where a.message_id in (select v.id from v)) as a
     group by a.message_id
  ),
  vt as (
    select c.message_id, jsonb_agg(jsonb_build_object(
             'position', c.rn - 1, 'tool_call_id', c.tool_call_id, 'tool_name', c.tool_name, 'args', c.args,
             'result', c.result, 'text_position', c.text_position, 'is_partial', c.is_partial)
             order by c.rn) as items, count(*) as n
      from (select c.*, row_number() over (partition by c.message_id order by c.is_partial, c.position) as rn
              from public.chat_tool_calls c
             where c.message_id in (select v.id from v)) as c
     group by c.message_id
  ),
  pairs as materialized (
    select l.id, l.conversation_id, l.user_id, l.quarantined, v.id as v2_id, coalesce(v.superseded, false) as superseded,
           v.id is not null and v.deleted_at is null as live,
           (v.id is not null
            and v.deleted_at is null
            and v.conversation_id = l.conversation_id and v.user_id = l.user_id
            and v.agent_id is not distinct from l.agent_id
            and v.role::text = chat_migration.map_role(l.role)
            and v.created_at = l.created_at
            and v.v_text = l.body
            and v.content ->> 'type' in ('text', 'parts')
            -- metadata kept as is; tokens either the ones the backfill computed or the same on both sides
            -- (rows the app wrote through v2 need not carry tokens at all)
            and (v.metadata - 'tokens') = (coalesce(l.metadata, '{}'::jsonb) - 'tokens')
            and (v.metadata -> 'tokens' = chat_migration.v2_metadata(l.metadata, l.body) -> 'tokens'
                 or v.metadata -> 'tokens' is not distinct from l.metadata -> 'tokens')) as same_row,
           -- the CASEs keep the common row (no arrays, text content) off the non-inlinable helpers
           case when l.attachments is null then '[]'::jsonb
                else chat_migration.legacy_attachments_norm(l.attachments) end as l_att,
           coalesce(va.items, '[]'::jsonb) as v_att,
           case when l.tool_calls is null and l.partial_tool_calls is null then '[]'::jsonb
                else chat_migration.legacy_tool_calls_norm(l.tool_calls, l.partial_tool_calls) end as l_tc,
           coalesce(vt.items, '[]'::jsonb) as v_tc,
           md5(concat_ws('|', l.id, chat_migration.map_role(l.role), l.body, l.created_at, l.user_id, l.agent_id))
             as l_hash,
           case when v.id is not null and v.deleted_at is null then
             md5(concat_ws('|', v.legacy_id, v.role, v.v_text, v.created_at, v.user_id,
                           v.agent_id)) end as v_hash
      from l
      left join v on v.legacy_id = l.id
      left join va on va.message_id = v.id
      left join vt on vt.message_id = v.id
  ),
  judged as materialized (
    select p.*, not p.quarantined and not p.superseded as compared from pairs p
  ),
  conv as (
    select j.conversation_id,
           md5(string_agg(j.l_hash, ',' order by j.id)) as l_sum,
           md5(string_agg(coalesce(j.v_hash, 'missing'), ',' order by j.id)) as v_sum
      from judged j where j.compared
     group by j.conversation_id
  ),
  orphans as (
    select count(*) as n from v
     where v.deleted_at is null and not v.superseded
       and not exists (select 1 from public.chat_messages m where m.id = v.legacy_id)
  ),
  sessions as (
    select count(distinct j.conversation_id) as legacy_n,
           count(distinct j.conversation_id) filter (where s.id is not null) as v2_n,
           count(distinct j.conversation_id) filter (where s.id is null or s.user_id is null) as bad
      from judged j
      left join public.conversation_sessions s on s.id = j.conversation_id
     where not j.quarantined
  ),
  states as (
    select count(*) filter (where not exists (select 1 from chat_migration.quarantine q where q.source_table = 'chat_states'
                                                 and q.source_id = s.conversation_id::text and q.resolved_at is null))
             as legacy_n,
           count(x.conversation_id) as v2_n,
           count(*) filter (where x.conversation_id is null
                              and not exists (select 1 from chat_migration.quarantine q where q.source_table = 'chat_states'
                                                 and q.source_id = s.conversation_id::text and q.resolved_at is null))
             as missing
      from public.chat_states s
      left join chat_migration.migrated_states x on x.conversation_id = s.conversation_id
  ),
  unlinked as (
    select count(*) as n from public.chat_messages_v2 v
     where v.legacy_id is null and v.deleted_at is null and coalesce(v.metadata ->> 'source', '') <> 'chat_states'
  ),
  -- Tenancy, over every v2 row whoever wrote it (check_chat_schema_integrity() names the same cases one by
  -- one, with sample ids): a message of another user than its session's, or on an agent its user does not
  -- own; a session on such an agent; a memory, state, snapshot or checkpoint whose user_id is not its
  -- agent's owner, or whose session (a memory: source message) belongs to another user than its agent's owner.
  -- held: legacy rows quarantined for naming another user's conversation or agent (accounted, not failures).
  tenancy as (
    select
      (select count(*) from chat_migration.quarantine q
        where q.resolved_at is null
          and q.reason in ('conversation_owned_by_other_user', 'agent_owned_by_other_user')) as held,
      (select count(*) from public.chat_messages_v2 m
         join public.conversation_sessions s on s.id = m.conversation_id
         left join public.agents a on a.id = m.agent_id
        where m.user_id <> s.user_id or a.owner_id <> m.user_id)
      + (select count(*) from public.conversation_sessions s join public.agents a on a.id = s.agent_id
          where a.owner_id <> s.user_id)
      + (select count(*) from public.agent_memories x join public.agents a on a.id = x.agent_id
           left join public.chat_messages_v2 sm on sm.id = x.source_message_id
          where x.user_id <> a.owner_id or sm.user_id <> a.owner_id)
      + (select count(*) from public.agent_states x join public.agents a on a.id = x.agent_id
           left join public.conversation_sessions s on s.id = x.session_id
          where x.user_id <> a.owner_id or s.user_id <> a.owner_id)
      + (select count(*) from public.context_snapshots x join public.agents a on a.id = x.agent_id
           join public.conversation_sessions s on s.id = x.session_id
          where x.user_id <> a.owner_id or s.user_id <> a.owner_id)
      + (select count(*) from public.state_checkpoints x join public.agents a on a.id = x.agent_id
           left join public.conversation_sessions s on s.id = x.session_id
          where x.user_id <> a.owner_id or s.user_id <> a.owner_id) as broken
  ),
  checks (ord, check_name, legacy_count, v2_count, mismatches, ok) as (
  select 1, 'legacy_rows_accounted'::text, count(*), count(*) filter (where j.quarantined or j.v2_id is not null),
         count(*) filter (where not j.quarantined and j.v2_id is null), null::boolean
    from judged j
  union all
  select 2, 'messages', count(*) filter (where j.compared), count(*) filter (where j.compared and j.live),
         count(*) filter (where j.compared and not j.live), null
    from judged j
  union all
  select 3, 'message_content', count(*) filter (where j.compared and j.live),
         count(*) filter (where j.compared and j.same_row),
         count(*) filter (where j.compared and j.live and not j.same_row), null
    from judged j
  union all
  select 4, 'conversation_checksums', count(*), count(*) filter (where c.l_sum = c.v_sum),
         count(*) filter (where c.l_sum <> c.v_sum), null
    from conv c
  union all
  select 5, 'attachments', coalesce(sum(jsonb_array_length(j.l_att)) filter (where j.compared), 0)::bigint,
         coalesce(sum(jsonb_array_length(j.v_att)) filter (where j.compared), 0)::bigint,
         count(*) filter (where j.compared and j.live and j.l_att <> j.v_att), null
    from judged j
  union all
  select 6, 'tool_calls', coalesce(sum(jsonb_array_length(j.l_tc)) filter (where j.compared), 0)::bigint,
         coalesce(sum(jsonb_array_length(j.v_tc)) filter (where j.compared), 0)::bigint,
         count(*) filter (where j.compared and j.live and j.l_tc <> j.v_tc), null
    from judged j
  union all
  select 7, 'sessions', s.legacy_n, s.v2_n, s.bad, null from sessions s
  union all
  select 8, 'orphans', 0::bigint, o.n, o.n, null from orphans o
  union all
  select 9, 'quarantine', count(*) filter (where j.quarantined), count(*) filter (where j.quarantined and j.live),
         0::bigint, true
    from judged j
  union all
  select 10, 'chat_states', st.legacy_n, st.v2_n, st.missing, null from states st
  union all
  select 11, 'v2_rows_without_legacy', 0::bigint, u.n, case when cur_mode = 'dual_write' then u.n else 0 end, null
    from unlinked u
  union all
  select 12, 'tenancy', t.held, t.broken, t.broken, null from tenancy t
  )
  select c.check_name, c.legacy_count, c.v2_count, c.mismatches, coalesce(c.ok, c.mismatches = 0) from checks c
   order by c.ord;  -- the documented order, also when the planner runs the branches as a parallel append
end
$$;

revoke execute on function public.verify_chat_migration() from public, anon, authenticated;
grant execute on function public.verify_chat_migration() to service_role;
