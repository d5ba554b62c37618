-- Rollback of 20250805074448_create_chat_write_api: drops the write API for messages, sessions and context
-- snapshots (post_chat_message, create_/update_conversation_session, create_context_snapshot) and the view
-- chat_messages_expanded. Tables and data are untouched; the edge functions need these functions, so roll them
-- back (or redeploy the previous ones) with it. Everything newer that builds on it is rolled back first
-- (npm run db:rollback -- --to <this version>).
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
