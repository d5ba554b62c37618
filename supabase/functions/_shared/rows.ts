/**
 * How rows leave the database: built as jsonb in SQL, so timestamps keep Postgres' full microsecond text
 * (keyset cursors round-trip exactly) and columns nobody outside needs (legacy_id, raw embeddings) stay in.
 */

/** A chat_messages_v2 row `m` with its attachments and tool calls, in order. */
export const messageJson = `
  (to_jsonb(m) - 'legacy_id') || jsonb_build_object(
    'attachments', coalesce((
      select jsonb_agg(to_jsonb(a) - 'message_id' - 'created_at' order by a.position)
      from public.chat_message_attachments a where a.message_id = m.id), '[]'::jsonb),
    'tool_calls', coalesce((
      select jsonb_agg(to_jsonb(t) - 'message_id' - 'created_at' order by t.position)
      from public.chat_tool_calls t where t.message_id = m.id), '[]'::jsonb))`;

/** An agent_memories row `am` without the 1536 floats (clients sent them; they do not need them back). */
export const memoryJson = `(to_jsonb(am) - 'embedding') || jsonb_build_object('has_embedding', am.embedding is not null)`;
