/**
 * How rows leave the database: built as jsonb in SQL, so timestamps keep Postgres' full microsecond text
 * (keyset cursors round-trip exactly) and columns nobody outside needs (raw embeddings) stay in. Messages
 * have their own view for it, public.chat_messages_expanded (20250805074448).
 */

/** An agent_memories row `am` without the 1536 floats (clients sent them; they do not need them back). */
export const memoryJson = `(to_jsonb(am) - 'embedding') || jsonb_build_object('has_embedding', am.embedding is not null)`;
