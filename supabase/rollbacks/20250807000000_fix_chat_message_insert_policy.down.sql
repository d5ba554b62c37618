-- Rollback of 20250807000000_fix_chat_message_insert_policy: puts back the insert policy as
-- 20250805074444 wrote it (self-referencing parent check) and drops the helper.
do $$
begin
  if exists (select 1 from supabase_migrations.schema_migrations where version > '20250807000000') then
    raise exception 'newer migrations are still applied'
      using errcode = 'P0001',
            hint = 'Roll back the newer migrations first (npm run db:rollback).';
  end if;
end
$$;
drop policy if exists "Users can create messages in their conversations" on public.chat_messages_v2;
create policy "Users can create messages in their conversations" on public.chat_messages_v2
  for insert to authenticated
  with check (
    user_id = (select auth.uid())
    and conversation_id in (select s.id from public.conversation_sessions s where s.user_id = (select auth.uid()))
    and (agent_id is null or agent_id in (select a.id from public.agents a where a.owner_id = (select auth.uid())))
    and (parent_message_id is null
         or parent_message_id in (select m.id from public.chat_messages_v2 m where m.user_id = (select auth.uid())))
  );
drop function if exists public.is_own_chat_message(uuid);
delete from supabase_migrations.schema_migrations where version = '20250807000000';
