-- Rollback of 20250814000003_create_policy_event_api: drops record_policy_event and returns policy_events to its
-- earlier columns, privileges and policies (users may no longer record events; event_type, policy_config and
-- recorded_by are dropped with what they held). Refuses (55000) while policy_events holds an event without a
-- decision: the earlier schema requires one.

do $$
begin
  if exists (select 1 from public.policy_events where decision is null) then
    raise exception 'cannot roll back 20250814000003: % policy event(s) have no decision, which the earlier schema requires',
      (select count(*) from public.policy_events where decision is null)
      using errcode = '55000',
            hint = 'Set one (update public.policy_events set decision = ''flag'' where decision is null;) or delete those events, then roll back again.';
  end if;
end
$$;

drop function if exists public.record_policy_event(uuid, text, text, jsonb, jsonb, uuid, text, text);

drop index if exists public.policy_events_conversation_id_created_at_idx;
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
    delete from supabase_migrations.schema_migrations where version = '20250814000003';
  end if;
end
$$;
