-- Local demo data (applied by `npm start` on a new database, and by `supabase db reset`).
-- Two users with one agent each and a short legacy conversation, so the data migration has
-- something to move: `select * from migrate_with_progress(1000);` in psql.
insert into auth.users (id, email, aud, role)
values
  ('00000000-0000-4000-8000-00000000a11c', 'alice@example.test', 'authenticated', 'authenticated'),
  ('00000000-0000-4000-8000-000000000b0b', 'bob@example.test', 'authenticated', 'authenticated')
on conflict (id) do nothing;

insert into public.agents (id, owner_id, name, config)
values
  ('00000000-0000-4000-8000-0000000a9e01', '00000000-0000-4000-8000-00000000a11c', 'Research helper', '{"model":"gpt-4o-mini"}'),
  ('00000000-0000-4000-8000-0000000a9e02', '00000000-0000-4000-8000-000000000b0b', 'Travel planner', '{}')
on conflict (id) do nothing;

insert into public.chat_messages (conversation_id, user_id, agent_id, role, content, attachments, tool_calls, metadata, created_at)
select v.conversation_id::uuid, v.user_id::uuid, v.agent_id::uuid, v.role, v.content, v.attachments::jsonb, v.tool_calls::jsonb, v.metadata::jsonb, v.created_at::timestamptz
from (values
  ('00000000-0000-4000-8000-00000000c001', '00000000-0000-4000-8000-00000000a11c', '00000000-0000-4000-8000-0000000a9e01',
   'human', 'Summarise the attached paper, please.',
   '[{"name":"paper.pdf","type":"file","storageId":"uploads/alice/paper.pdf","mimeType":"application/pdf","size":482133}]',
   null, '{"client":"web"}', '2025-08-01 09:00:00+00'),
  ('00000000-0000-4000-8000-00000000c001', '00000000-0000-4000-8000-00000000a11c', '00000000-0000-4000-8000-0000000a9e01',
   'ai', null, null,
   '[{"toolCallId":"call_1","toolName":"read_pdf","args":"{\"path\":\"uploads/alice/paper.pdf\"}","result":{"pages":12}}]',
   '{"tokens":3}', '2025-08-01 09:00:02+00'),
  ('00000000-0000-4000-8000-00000000c001', '00000000-0000-4000-8000-00000000a11c', '00000000-0000-4000-8000-0000000a9e01',
   'assistant', 'The paper argues that keyset pagination beats OFFSET on large tables.', null, null, null, '2025-08-01 09:00:05+00'),
  ('00000000-0000-4000-8000-00000000c002', '00000000-0000-4000-8000-000000000b0b', '00000000-0000-4000-8000-0000000a9e02',
   'user', 'Find me a train from Lyon to Turin on Friday.', null, null, null, '2025-08-02 18:30:00+00')
) as v (conversation_id, user_id, agent_id, role, content, attachments, tool_calls, metadata, created_at)
where not exists (select 1 from public.chat_messages);

insert into public.chat_states (conversation_id, user_id, agent_id, content)
values (
  '00000000-0000-4000-8000-00000000c002', '00000000-0000-4000-8000-000000000b0b', '00000000-0000-4000-8000-0000000a9e02',
  '{"user_input":"Find me a train from Lyon to Turin on Friday.","focus":["trains"],"step_count":2,"last_tool_result":null,"conversation_history":[{"role":"user","content":"Find me a train from Lyon to Turin on Friday.","timestamp":"2025-08-02T18:30:00Z","metadata":{}}],"memory_context":[{"source":"profile","content":"Prefers morning departures","relevance_score":0.8,"type":"preference","timestamp":"2025-08-01T10:00:00Z"}]}'
)
on conflict (conversation_id) do nothing;
