-- Rollback of 20250805074445_create_conversation_tables: drops conversation_sessions, chat_messages_v2 and
-- their revisions, attachments, tool calls and policy events AND THEIR DATA (opt-in archive below), and the
-- RLS helper chat_private.owns_message. Legacy tables (agents, chat_messages, chat_states) and their data are
-- never touched: nothing here reads or writes them. Everything newer that builds on it is rolled back
-- first (npm run db:rollback -- --to <this version>).
-- Archive : when the setting advanced_json_chat.archive is 'on' (npm run db:rollback -- --archive, or
--           `set local advanced_json_chat.archive = on` in psql), each table is first copied into schema
--           advanced_json_chat_archive by chat_private.archive_v2_tables (20250805074444; an earlier archive of
--           the same table is renamed aside, never overwritten; enum columns are archived as text).
-- Drops   : children before parents, never CASCADE — an object someone else built on these tables (a view, a
--           function returning their row type) makes this fail loudly instead of vanishing silently. Their
--           indexes, policies and privileges go with them.
select chat_private.archive_v2_tables(array[
  'conversation_sessions', 'chat_messages_v2', 'chat_message_revisions', 'chat_message_attachments', 'chat_tool_calls',
  'policy_events'
]);

drop table public.policy_events;
drop table public.chat_tool_calls;
drop table public.chat_message_attachments;
drop table public.chat_message_revisions;
drop table public.chat_messages_v2;
drop table public.conversation_sessions;

drop function chat_private.owns_message(uuid);

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250805074445';
  end if;
end
$$;
