-- Chat-client formats, 4 of 4: policy events (a judge's verdict, a redaction, a block …) recorded on messages by
-- their owners' clients — POST/GET /policy-events.
--
-- Purpose : policy_events gains policy_config, event_type and recorded_by, and users may record events on their
--           own messages (the table stays append-only for them: no update, no delete); record_policy_event is
--           the API. docs/chat-clients.md.
-- Objects : columns public.policy_events.event_type, policy_config, recorded_by; policy_events.decision nullable;
--           insert privilege + policy on policy_events for authenticated; index
--           policy_events_conversation_id_created_at_idx (GET /policy-events?conversation_id=, newest first);
--           function public.record_policy_event.
-- Depends : 20250814000002 (and so schema v2).
-- Locks   : ALTER TABLE … ADD COLUMN with a constant default on policy_events: a brief ACCESS EXCLUSIVE lock, no
--           rewrite (constant defaults are stored in the catalog); DROP NOT NULL: catalog only. The new CHECKs are
--           added NOT VALID and validated separately (SHARE UPDATE EXCLUSIVE: writes go on). CREATE INDEX blocks
--           writes to policy_events while it builds (an audit log, small next to the messages; on a large one run
--           `create index concurrently` by hand first with the same name: `if not exists` then skips it).
-- Rollback: supabase/rollbacks/20250814000003_create_policy_event_api.down.sql

/**
 * policy_events, as the chat clients' API records them: the policy's class is policy_name, its configuration
 * policy_config, the kind of event event_type (a judge's verdict, a redaction, a block …; rows from before
 * have 'decision'), and recorded_by the database role that wrote the row (authenticated: the user's own
 * client; service_role: the server), so an audit can tell them apart. decision stays allow | flag | modify |
 * block, and may now be null for an event that decides nothing (a judge's score).
 */
alter table public.policy_events
  add column event_type text not null default 'decision',
  add column policy_config jsonb not null default '{}'::jsonb,
  add column recorded_by text;
alter table public.policy_events alter column recorded_by set default current_user;
alter table public.policy_events alter column decision drop not null;
alter table public.policy_events
  add constraint policy_events_event_type_check check (char_length(event_type) between 1 and 100) not valid,
  add constraint policy_events_policy_config_check check (jsonb_typeof(policy_config) = 'object') not valid;
alter table public.policy_events validate constraint policy_events_event_type_check;
alter table public.policy_events validate constraint policy_events_policy_config_check;

comment on column public.policy_events.policy_name is 'The policy''s class (API: policy_class), e.g. toxicity_judge.';
comment on column public.policy_events.event_type is 'What happened: judge, redaction, block, … (''decision'' for rows from before the chat-client API).';
comment on column public.policy_events.recorded_by is 'Database role that recorded the event (authenticated = the user''s client, service_role = the server); null before 20250814000003.';

-- Users record events on their own messages (POST /policy-events); they still never edit or delete one.
-- recorded_by, id and created_at are the defaults' business.
grant insert (user_id, conversation_id, policy_name, decision, original_message_id, modified_message_id, reason,
              metadata, event_type, policy_config)
  on table public.policy_events to authenticated;

-- A conversation's events newest first (keyset on created_at, id), for the policy-events list.
create index if not exists policy_events_conversation_id_created_at_idx
  on public.policy_events (conversation_id, created_at desc, id desc) where conversation_id is not null;

create policy "Users can record policy events on their messages" on public.policy_events
  for insert to authenticated
  with check (
    user_id = (select auth.uid())
    and original_message_id is not null
    and exists (select 1 from public.chat_messages_v2 m
                 where m.id = original_message_id and m.user_id = (select auth.uid())
                   and m.conversation_id is not distinct from policy_events.conversation_id)
    and (modified_message_id is null or chat_private.owns_message(modified_message_id))
  );

/**
 * Records a policy decision on a message (POST /policy-events): p_policy_class (stored as policy_name),
 * p_event_type (judge, redaction, block, …), p_policy_config and p_metadata (objects), p_modified_message_id (the
 * rewrite, a message of the same conversation), p_decision (allow | flag | modify | block, or null) and p_reason.
 * The event belongs to the message's owner and conversation; recorded_by is the caller's role. A message the caller
 * cannot see raises AJC14.
 */
create function public.record_policy_event(
  p_message_id uuid,
  p_policy_class text,
  p_event_type text,
  p_policy_config jsonb default '{}'::jsonb,
  p_metadata jsonb default '{}'::jsonb,
  p_modified_message_id uuid default null,
  p_decision text default null,
  p_reason text default null
)
returns public.policy_events
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_message record;
  v_row public.policy_events;
begin
  if p_policy_class is null or char_length(p_policy_class) not between 1 and 200
     or p_event_type is null or char_length(p_event_type) not between 1 and 100 then
    raise exception 'a policy event needs its policy class (1 to 200 characters) and event type (1 to 100)'
      using errcode = 'AJC04', hint = 'Pass p_policy_class => ''toxicity_judge'', p_event_type => ''judge'' (or redaction, block, …).';
  end if;
  if jsonb_typeof(coalesce(p_policy_config, '{}'::jsonb)) <> 'object' or jsonb_typeof(coalesce(p_metadata, '{}'::jsonb)) <> 'object' then
    raise exception 'policy_config and metadata must be JSON objects'
      using errcode = 'AJC04', hint = 'Pass ''{}'' or an object such as ''{"threshold": 0.8}''.';
  end if;
  if p_decision is not null and p_decision not in ('allow', 'flag', 'modify', 'block') then
    raise exception 'unknown decision %', p_decision
      using errcode = 'AJC04', hint = 'A decision is allow, flag, modify or block (or null for an event that decides nothing).';
  end if;
  select m.id, m.user_id, m.conversation_id into v_message from public.chat_messages_v2 m where m.id = p_message_id;
  if not found then
    raise exception 'message % not found', p_message_id
      using errcode = 'AJC14', hint = 'Pass the id of a message of yours.';
  end if;
  if p_modified_message_id is not null and not exists (
       select 1 from public.chat_messages_v2 m where m.id = p_modified_message_id and m.conversation_id = v_message.conversation_id) then
    raise exception 'modified_message_id: % is not a message of the same conversation', p_modified_message_id
      using errcode = 'AJC18', hint = 'Name the message that replaced the original in its conversation, or leave it out.';
  end if;
  insert into public.policy_events (user_id, conversation_id, policy_name, decision, original_message_id, modified_message_id,
                                    reason, metadata, event_type, policy_config)
  values (v_message.user_id, v_message.conversation_id, p_policy_class, p_decision, p_message_id, p_modified_message_id,
          p_reason, coalesce(p_metadata, '{}'::jsonb), p_event_type, coalesce(p_policy_config, '{}'::jsonb))
  returning * into v_row;
  return v_row;
end
$$;

comment on function public.record_policy_event(uuid, text, text, jsonb, jsonb, uuid, text, text) is
  'Records a policy decision (judge, redaction, block, …) on a message you can see; returns the event.';

revoke execute on function public.record_policy_event(uuid, text, text, jsonb, jsonb, uuid, text, text) from public, anon;
grant execute on function public.record_policy_event(uuid, text, text, jsonb, jsonb, uuid, text, text) to authenticated, service_role;
