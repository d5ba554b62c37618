-- Benchmark baseline, NOT a migration (bench/ only; `supabase db push` never sees it).
--
-- The seed document's migrate_with_progress, the way it paginates: OFFSET over chat_messages ordered by id,
-- one transaction for the whole run (a function cannot COMMIT), a pg_sleep(0.1) after every batch.
-- Batch n therefore reads and throws away n × batch_size rows before it reaches its own: the run is
-- O(rows²). To compare pagination only, each page is converted by the project's own set-based
-- chat_migration.copy_messages(ids) — the very transform the keyset backfill uses — so the difference measured
-- against run_chat_migration is OFFSET-vs-keyset + one-transaction-vs-commit-per-batch, nothing else.
-- Instrumentation added for the benchmark: sleep_seconds (0.1 = the seed; 0 = without the sleep) and a
-- batch_ms column (conversion time of the batch, sleep excluded).

create schema if not exists bench;

create or replace function bench.seed_migrate_with_progress(
  batch_size integer default 1000,
  sleep_seconds double precision default 0.1
)
returns table (batch_number integer, records_migrated integer, total_migrated integer, batch_ms double precision)
language plpgsql
set search_path = ''
as $$
declare
  v_offset bigint := 0;
  v_ids bigint[];
  v_n integer;
  v_t0 timestamptz;
begin
  batch_number := 0;
  total_migrated := 0;
  loop
    v_t0 := clock_timestamp();
    -- the seed's page query: whole rows (the seed reads every column to convert them), ORDER BY id, OFFSET n
    select array_agg((p.m).id order by (p.m).id) into v_ids
      from (select m from public.chat_messages m order by m.id limit batch_size offset v_offset) as p;
    v_n := coalesce(cardinality(v_ids), 0);
    exit when v_n = 0;
    perform chat_migration.copy_messages(v_ids);
    v_offset := v_offset + v_n;
    batch_number := batch_number + 1;
    records_migrated := v_n;
    total_migrated := total_migrated + v_n;
    batch_ms := extract(epoch from clock_timestamp() - v_t0) * 1000;
    return next;
    if sleep_seconds > 0 then
      perform pg_sleep(sleep_seconds);
    end if;
  end loop;
end
$$;

/**
 * One page of the seed's loop at a given offset, converted and then rolled back by the caller. At 1M rows the
 * full OFFSET run is hours of O(rows²) work; the harness times pages at a few offsets instead and integrates
 * (batch cost is linear in the offset, so the trapezoid rule over ≥ 5 points is exact up to noise).
 */
create or replace function bench.seed_page_at(p_offset bigint, batch_size integer default 1000)
returns double precision
language plpgsql
set search_path = ''
as $$
declare
  v_ids bigint[];
  v_t0 timestamptz := clock_timestamp();
begin
  select array_agg((p.m).id order by (p.m).id) into v_ids
    from (select m from public.chat_messages m order by m.id limit batch_size offset p_offset) as p;
  perform chat_migration.copy_messages(v_ids);
  return extract(epoch from clock_timestamp() - v_t0) * 1000;
end
$$;

/** The in-database limit: the same transform over every legacy row in one statement, no batches, no ledger. */
create or replace function bench.set_based_copy()
returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_migrated integer;
begin
  select c.migrated into v_migrated
    from chat_migration.copy_messages(array(select m.id from public.chat_messages m order by m.id)) c;
  return v_migrated;
end
$$;

/**
 * The physical limit the issue measures against: `create table … as select` of every legacy row with the same
 * content mapping (role, content object, metadata with tokens, ids and timestamps) — no indexes, no FKs, no
 * triggers, no child tables, no ledger. Returns the rows written.
 */
create or replace function bench.ctas_copy()
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  v_n bigint;
begin
  drop table if exists bench.ctas;
  create table bench.ctas as
  select gen_random_uuid() as id, m.conversation_id, m.user_id, m.agent_id, chat_migration.map_role(m.role) as role,
         jsonb_build_object('type', 'text', 'text', coalesce(m.content, '')) as content,
         chat_migration.v2_metadata(m.metadata, coalesce(m.content, '')) as metadata,
         m.id as legacy_id, m.created_at, coalesce(m.updated_at, m.created_at) as updated_at
    from public.chat_messages m;
  get diagnostics v_n = row_count;
  drop table bench.ctas;
  return v_n;
end
$$;
