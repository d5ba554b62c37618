-- Rollback of 20250805074448_create_chat_write_api: drops the write API for messages, sessions and context
-- snapshots (post_chat_message, create_/update_conversation_session, create_context_snapshot) and the view
-- chat_messages_expanded. Tables and data are untouched; the edge functions need these functions, so roll them
-- back (or redeploy the previous ones) with it. To undo the whole of schema v2 at once use
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
    where m.version > '20250805074448';
  end if;
  if v_newer is not null then
    raise exception 'migrations newer than 20250805074448 are still applied: %', array_to_string(v_newer, ', ')
      using errcode = 'AJC10',
            hint = 'Roll those back first, newest first: npm run db:rollback (repeat), or --version <version>.';
  end if;
end
$$;

drop function public.create_context_snapshot(uuid, uuid, uuid[], integer, uuid[], jsonb, integer, integer, jsonb);
drop function public.update_conversation_session(uuid, jsonb);
drop function public.create_conversation_session(uuid, uuid, text, public.session_status, jsonb, jsonb, uuid);
drop function public.post_chat_message(public.message_role, jsonb, uuid, text, uuid, uuid, jsonb, jsonb, jsonb, text, uuid);
drop view public.chat_messages_expanded;

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250805074448';
  end if;
end
$$;
