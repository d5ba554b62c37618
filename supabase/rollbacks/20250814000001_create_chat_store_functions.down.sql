-- Rollback of 20250814000001_create_chat_store_functions: drops the internal write path of chat-client messages
-- (chat_formats.open_chat, assert_chat_messages, store_chat_messages, derive_chat_rows, affected_chat_messages).
-- No data is touched.

drop function if exists chat_formats.affected_chat_messages(uuid, uuid[]);
drop function if exists chat_formats.derive_chat_rows(uuid, uuid[]);
drop function if exists chat_formats.store_chat_messages(uuid, uuid, uuid, text, jsonb);
drop function if exists chat_formats.assert_chat_messages(text, jsonb, text);
drop function if exists chat_formats.open_chat(uuid, uuid, text, uuid);

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250814000001';
  end if;
end
$$;
