-- pgTAP: schema v2 structure — tables, key columns and indexes, RLS on every public table, the exact policy
-- set of each v2 table, and the EXECUTE fence on functions (run with `supabase test db` or npm run db:test).
begin;
\ir pgtap_setup.psql
set local search_path = public, extensions;

select plan(52);

-- tables
select has_table('public', 'conversation_sessions', 'conversation_sessions exists');
select has_table('public', 'chat_messages_v2', 'chat_messages_v2 exists');
select has_table('public', 'chat_message_revisions', 'chat_message_revisions exists');
select has_table('public', 'chat_message_attachments', 'chat_message_attachments exists');
select has_table('public', 'chat_tool_calls', 'chat_tool_calls exists');
select has_table('public', 'agent_memories', 'agent_memories exists');
select has_table('public', 'agent_states', 'agent_states exists');
select has_table('public', 'context_snapshots', 'context_snapshots exists');
select has_table('public', 'state_checkpoints', 'state_checkpoints exists');
select has_table('public', 'policy_events', 'policy_events exists');

-- columns the API and the data migration rely on
select col_type_is('public', 'chat_messages_v2', 'content', 'jsonb', 'message content is jsonb');
select col_not_null('public', 'chat_messages_v2', 'content', 'message content is required');
select col_type_is('public', 'chat_messages_v2', 'legacy_id', 'bigint', 'legacy_id is bigint');
select col_is_unique('public', 'chat_messages_v2', array['legacy_id'], 'legacy_id is unique');
select col_is_unique('public', 'chat_messages_v2', array['conversation_id', 'client_message_id'],
  'client_message_id is unique per conversation');
select col_type_is('public', 'agent_memories', 'embedding', 'extensions', 'vector(1536)', 'embedding is vector(1536)');
select col_type_is('public', 'agent_states', 'state_hash', 'text', 'state_hash is text');
select col_hasnt_default('public', 'agent_states', 'version', 'version has no default: the trigger fills it');
select col_hasnt_default('public', 'agent_states', 'is_current', 'is_current has no default: the trigger fills it');
select col_is_fk('public', 'chat_messages_v2', 'conversation_id', 'messages belong to a session');
select col_is_fk('public', 'state_checkpoints', 'parent_checkpoint_id', 'checkpoints chain to a parent');

-- indexes for the access patterns
select has_index('public', 'chat_messages_v2', 'chat_messages_v2_conversation_id_created_at_id_idx',
  array['conversation_id', 'created_at', 'id'], 'keyset index on messages');
select has_index('public', 'agent_memories', 'agent_memories_agent_id_memory_type_idx',
  array['agent_id', 'memory_type'], 'memories by agent and type');
select has_index('public', 'agent_memories', 'agent_memories_embedding_idx', 'IVFFlat index on embeddings');
select index_is_type('public', 'agent_memories', 'agent_memories_embedding_idx', 'hnsw', 'embedding index is HNSW (20250813000000)');
select ok(
  pg_get_indexdef('public.agent_memories_embedding_idx'::regclass) like '%vector_cosine_ops%',
  'embedding index uses cosine distance'
);
select has_index('public', 'agent_states', 'agent_states_current_stream_key', 'one current state per stream');
select index_is_unique('public', 'agent_states', 'agent_states_current_stream_key', 'current-state index is unique');
select ok(
  pg_get_indexdef('public.agent_states_current_stream_key'::regclass) like '%WHERE is_current%',
  'current-state index is partial on is_current'
);

-- row level security everywhere
select is(
  (select array_agg(c.relname::text order by c.relname) from pg_class c
   where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relrowsecurity),
  null,
  'every table in public has row level security enabled'
);

-- exact policy sets: one per operation, sentence names
select policies_are('public', 'conversation_sessions', array[
  'Users can read their sessions', 'Users can create their sessions', 'Users can update their sessions',
  'Users can delete their sessions'
]);
select policies_are('public', 'chat_messages_v2', array[
  'Users can read their messages', 'Users can create messages in their conversations',
  'Users can update their messages', 'Users can delete their messages'
]);
select policies_are('public', 'chat_message_revisions', array['Users can read revisions of their messages']);
select policies_are('public', 'chat_message_attachments', array[
  'Users can read attachments of their messages', 'Users can add attachments to their messages',
  'Users can update attachments of their messages', 'Users can delete attachments of their messages'
]);
select policies_are('public', 'chat_tool_calls', array[
  'Users can read tool calls of their messages', 'Users can add tool calls to their messages',
  'Users can update tool calls of their messages', 'Users can delete tool calls of their messages'
]);
select policies_are('public', 'agent_memories', array[
  'Agent owners can read their agents'' memories', 'Agent owners can add memories to their agents',
  'Agent owners can update their agents'' memories', 'Agent owners can delete their agents'' memories'
]);
select policies_are('public', 'agent_states', array[
  'Agent owners can read their agents'' states', 'Agent owners can add state versions to their agents',
  'Agent owners can delete their agents'' states'
]);
select policies_are('public', 'context_snapshots', array[
  'Agent owners can read their agents'' snapshots', 'Agent owners can add snapshots to their agents',
  'Agent owners can update their agents'' snapshots', 'Agent owners can delete their agents'' snapshots'
]);
select policies_are('public', 'state_checkpoints', array[
  'Agent owners can read their agents'' checkpoints', 'Agent owners can create checkpoints for their agents',
  'Agent owners can update their agents'' checkpoints', 'Agent owners can delete their agents'' checkpoints'
]);
-- users record events on their own messages (20250814000003), never edit or delete one
select policies_are('public', 'policy_events', array['Users can read policy events about them', 'Users can record policy events on their messages']);
select policy_roles_are('public', 'chat_messages_v2', 'Users can read their messages', array['authenticated'],
  'message policies are for authenticated only');
select policy_cmd_is('public', 'agent_states', 'Agent owners can add state versions to their agents', 'insert',
  'state versions are added by insert');

-- functions: the user API is there and fenced
select has_function('public', 'match_agent_memories',
  array['uuid', 'extensions.vector', 'integer', 'text[]', 'real'], 'match_agent_memories exists');
select has_function('public', 'save_agent_state', array['uuid', 'text', 'jsonb', 'uuid', 'integer'], 'save_agent_state exists');
select has_function('public', 'restore_state_checkpoint', array['uuid'], 'restore_state_checkpoint exists');
select is_definer('public', 'rebuild_agent_memory_index', array[]::text[], 'index rebuild runs as the table owner');
select isnt_definer('public', 'save_agent_state', array['uuid', 'text', 'jsonb', 'uuid', 'integer'],
  'save_agent_state runs as the caller (RLS applies)');
select is(
  (select array_agg(p.proname::text order by p.proname) from pg_proc p
   where p.pronamespace = 'public'::regnamespace and has_function_privilege('anon', p.oid, 'execute')),
  null,
  'anon can execute no function in public'
);
select is(
  (select array_agg(p.proname::text order by p.proname) from pg_proc p
   where p.pronamespace = 'public'::regnamespace and p.prosecdef
     and not coalesce(array_to_string(p.proconfig, ',') like '%search_path=""%', false)),
  null,
  'every security definer function pins search_path to empty'
);
select function_privs_are('public', 'save_agent_state', array['uuid', 'text', 'jsonb', 'uuid', 'integer'],
  'authenticated', array['EXECUTE'], 'authenticated may save agent state');
select function_privs_are('public', 'decay_agent_memories', array['uuid'], 'authenticated', array[]::text[],
  'authenticated may not run maintenance');
select function_privs_are('public', 'decay_agent_memories', array['uuid'], 'service_role', array['EXECUTE'],
  'service_role runs maintenance');

select * from finish();
rollback;
