-- Rollback of 20250805074445_create_chat_triggers: drops the triggers (updated_at, message versions,
-- parent checks, session metrics, append-only agent_states, checkpoint checks) and their functions.
-- Tables and data are untouched; while it is rolled back nothing keeps metrics or versions, so roll the
-- tables back too (20250805074444) or re-apply soon and run select recompute_session_metrics();
drop trigger conversation_sessions_set_updated_at on public.conversation_sessions;
drop trigger chat_messages_v2_set_updated_at on public.chat_messages_v2;
drop trigger agent_memories_set_updated_at on public.agent_memories;
drop trigger chat_messages_v2_before_update on public.chat_messages_v2;
drop trigger chat_messages_v2_check_parent on public.chat_messages_v2;
drop trigger chat_messages_v2_after_insert_metrics on public.chat_messages_v2;
drop trigger chat_messages_v2_after_update_metrics on public.chat_messages_v2;
drop trigger chat_messages_v2_after_delete_metrics on public.chat_messages_v2;
drop trigger agent_states_before_insert on public.agent_states;
drop trigger agent_states_before_update on public.agent_states;
drop trigger state_checkpoints_before_write on public.state_checkpoints;

drop function public.state_checkpoints_before_write();
drop function public.chat_messages_v2_check_parent();
drop function public.agent_states_before_update();
drop function public.agent_states_before_insert();
drop function public.agent_state_stream_lock_key(uuid, uuid, text, uuid);
drop function public.chat_messages_v2_after_delete_metrics();
drop function public.chat_messages_v2_after_update_metrics();
drop function public.chat_messages_v2_after_insert_metrics();
drop function public.chat_messages_v2_before_update();
drop function public.message_tokens(jsonb);
drop function public.set_updated_at();

-- History row, where there is a history (not after `psql -f` or another migration tool).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version = '20250805074445';
  end if;
end
$$;
