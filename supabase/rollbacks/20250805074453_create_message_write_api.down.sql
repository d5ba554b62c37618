-- Rollback of 20250805074453_create_message_write_api: drops post_chat_message and the view
-- chat_messages_expanded. Tables and data are untouched; the edge functions need them, so roll them back (or
-- redeploy the previous ones) with it. Everything newer that builds on it is rolled back
-- first (npm run db:rollback -- --to <this version>).
drop function public.post_chat_message(public.message_role, jsonb, uuid, text, uuid, uuid, jsonb, jsonb, jsonb, text, uuid);
drop view public.chat_messages_expanded;

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250805074453';
  end if;
end
$$;
