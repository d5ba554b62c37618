-- Rollback of 20250805074446_create_agent_memory_and_state_api: drops the memory search, state and
-- checkpoint functions only. Tables and data are untouched. To undo the whole of schema v2 at once use
-- 20250805074444_create_advanced_json_chat_schema.down.sql (it undoes 20250805074444..49).
-- Refuse while anything newer is applied: those files may build on what this one drops.
do $$
declare
  v_newer text[];
begin
  -- The history table exists only where the Supabase CLI or our runner applied the migrations.
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    select array_agg(m.version order by m.version) into v_newer
    from supabase_migrations.schema_migrations m
    where m.version > '20250805074446';
  end if;
  if v_newer is not null then
    raise exception 'migrations newer than 20250805074446 are still applied: %', array_to_string(v_newer, ', ')
      using errcode = 'AJC10',
            hint = 'Roll those back first, newest first: npm run db:rollback (repeat), or --version <version>.';
  end if;
end
$$;

drop function public.prune_state_checkpoints(uuid, timestamptz);
drop function public.restore_state_checkpoint(uuid);
drop function public.create_state_checkpoint(uuid, text, uuid, text, text, uuid, jsonb, timestamptz, uuid);
drop function public.save_agent_state(uuid, text, jsonb, uuid, integer);
drop function public.record_agent_memory_access(uuid[]);
drop function public.match_agent_memories(uuid, extensions.vector, integer, text[], real);

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250805074446';
  end if;
end
$$;
