-- Edge API support: make the chat_messages_v2 insert policy evaluable.
--
-- Purpose : the insert policy "Users can create messages in their conversations" checks parent_message_id with
--           a subquery on chat_messages_v2 itself, which Postgres rejects at run time ("infinite recursion
--           detected in policy for relation chat_messages_v2", 42P17) for every authenticated insert. The
--           parent check moves into a security definer helper that reads the table without RLS.
-- Objects : function public.is_own_chat_message(uuid); policy "Users can create messages in their
--           conversations" on public.chat_messages_v2 (replaced, same name and meaning).
-- Locks   : DROP/CREATE POLICY take ACCESS EXCLUSIVE on chat_messages_v2 for milliseconds; no rewrite.
-- Rollback: supabase/rollbacks/20250807000000_fix_chat_message_insert_policy.down.sql

/**
 * true when the message exists and belongs to the calling user. security definer so a policy on
 * chat_messages_v2 can ask it without re-entering that table's own policies.
 */
create function public.is_own_chat_message(p_message_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.chat_messages_v2 m
    where m.id = p_message_id and m.user_id = (select auth.uid())
  )
$$;

revoke execute on function public.is_own_chat_message(uuid) from public, anon;
grant execute on function public.is_own_chat_message(uuid) to authenticated, service_role;

drop policy if exists "Users can create messages in their conversations" on public.chat_messages_v2;
create policy "Users can create messages in their conversations" on public.chat_messages_v2
  for insert to authenticated
  with check (
    user_id = (select auth.uid())
    and conversation_id in (select s.id from public.conversation_sessions s where s.user_id = (select auth.uid()))
    and (agent_id is null or agent_id in (select a.id from public.agents a where a.owner_id = (select auth.uid())))
    and (parent_message_id is null or public.is_own_chat_message(parent_message_id))
  );
