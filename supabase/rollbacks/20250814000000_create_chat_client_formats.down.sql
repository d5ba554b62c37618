-- Rollback of 20250814000000_create_chat_client_formats: drops the chat-client API (save_chat, append_chat_message,
-- record_chat_turn, load_chat, record_policy_event), its helpers (schema chat_formats) and chat_client_messages;
-- takes chat_tool_calls.state and its unique index away; returns policy_events to its earlier columns, privileges and
-- policies. The messages the API saved stay in chat_messages_v2 (their parts in content, ids in client_message_id),
-- with their derived tool-call and attachment rows: they read as ordinary messages afterwards. What is lost is
-- only what chat_client_messages held — the order of a chat (created_at order remains) and the fields outside the
-- parts (UIMessage.metadata, OpenAI name / tool_call_id …); copy the table first if you need them:
--   create table chat_client_messages_backup as select * from public.chat_client_messages;
-- Refuses (55000) while policy_events holds an event without a decision: the earlier schema requires one.

do $$
begin
  if exists (select 1 from public.policy_events where decision is null) then
    raise exception 'cannot roll back 20250814000000: % policy event(s) have no decision, which the earlier schema requires',
      (select count(*) from public.policy_events where decision is null)
      using errcode = '55000',
            hint = 'Set one (update public.policy_events set decision = ''flag'' where decision is null;) or delete those events, then roll back again.';
  end if;
end
$$;

drop function if exists public.record_policy_event(uuid, text, text, jsonb, jsonb, uuid, text, text);
drop function if exists public.load_chat(uuid);
drop function if exists public.record_chat_turn(uuid, jsonb, jsonb, uuid, text, uuid);
drop function if exists public.append_chat_message(uuid, jsonb, uuid, text, uuid);
drop function if exists public.save_chat(uuid, jsonb, text, uuid, text, uuid);
drop function if exists chat_formats.affected_chat_messages(uuid, uuid[]);
drop function if exists chat_formats.derive_chat_rows(uuid, uuid[]);
drop function if exists chat_formats.store_chat_messages(uuid, uuid, uuid, text, jsonb);
drop function if exists chat_formats.assert_chat_messages(text, jsonb, text);
drop function if exists chat_formats.open_chat(uuid, uuid, text, uuid);
drop function if exists chat_formats.chat_message_original(text, jsonb, jsonb, public.message_role, text, uuid);
drop function if exists chat_formats.split_chat_message(text, jsonb);
drop function if exists chat_formats.check_chat_messages(text, jsonb);
drop function if exists chat_formats.json_or_text(text);
drop function if exists chat_formats.try_json(text);
drop schema if exists chat_formats;

drop table if exists public.chat_client_messages;

drop index if exists public.chat_tool_calls_message_id_tool_call_id_key;
alter table public.chat_tool_calls drop column if exists state;

drop policy if exists "Users can record policy events on their messages" on public.policy_events;
revoke insert (user_id, conversation_id, policy_name, decision, original_message_id, modified_message_id, reason,
               metadata, event_type, policy_config)
  on table public.policy_events from authenticated;
alter table public.policy_events alter column decision set not null;
alter table public.policy_events
  drop column if exists event_type,
  drop column if exists policy_config,
  drop column if exists recorded_by;
comment on column public.policy_events.policy_name is null;

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250814000000';
  end if;
end
$$;
