-- Rollback of 20250814000000_create_chat_client_formats (roll back 20250814000003..01 first, newest first): drops
-- the conversions (schema chat_formats) and chat_client_messages, and takes chat_tool_calls.state and its unique
-- index away. The messages the chat API saved stay in chat_messages_v2 (their parts in content, ids in
-- client_message_id), with their derived tool-call and attachment rows: they read as ordinary messages afterwards.
-- What is lost is only what chat_client_messages held — the order of a chat (created_at order remains) and the
-- fields outside the parts (UIMessage.metadata, OpenAI name / tool_call_id …); copy the table first if you need them:
--   create table chat_client_messages_backup as select * from public.chat_client_messages;

drop function if exists chat_formats.chat_message_original(text, jsonb, jsonb, public.message_role, text, uuid);
drop function if exists chat_formats.split_chat_message(text, jsonb);
drop function if exists chat_formats.check_chat_messages(text, jsonb);
drop function if exists chat_formats.json_or_text(text);
drop function if exists chat_formats.try_json(text);
-- restrict: an object someone else put in the schema stops the rollback instead of vanishing with it
drop schema if exists chat_formats;

drop table if exists public.chat_client_messages;

drop index if exists public.chat_tool_calls_message_id_tool_call_id_key;
alter table public.chat_tool_calls drop column if exists state;

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250814000000';
  end if;
end
$$;
