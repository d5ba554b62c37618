-- Rollback of 20250814000002_create_chat_client_api: drops save_chat, append_chat_message, record_chat_turn and
-- load_chat. The messages they saved stay (chat_messages_v2, chat_client_messages and the derived rows).

drop function if exists public.load_chat(uuid);
drop function if exists public.record_chat_turn(uuid, jsonb, jsonb, uuid, text, uuid);
drop function if exists public.append_chat_message(uuid, jsonb, uuid, text, uuid);
drop function if exists public.save_chat(uuid, jsonb, text, uuid, text, uuid);

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250814000002';
  end if;
end
$$;
