/**
 * Request and response types of the edge-function API (docs/api.md). Response rows are the generated
 * `Tables<'…'>` row types (types/database.types.ts, from the live schema) as the functions return them,
 * narrowed where the schema has a CHECK the generator cannot see (roles, types, statuses, jsonb objects),
 * so a schema change shows up here as a type error.
 */
import type { Json, Tables } from '../types/database.types.ts';

export type { Json };
export type JsonObject = { [key: string]: Json | undefined };

export type Role = 'user' | 'assistant' | 'system' | 'tool';

/** An agent you own: memories, state, checkpoints and sessions hang on it. */
export type Agent = Omit<Tables<'agents'>, 'config'> & { config: JsonObject };
export interface CreateAgentRequest {
  name: string;
  config?: JsonObject;
  /** service_role callers only: whose agent this is. */
  owner_id?: string;
}
export type UpdateAgentRequest = Partial<Pick<Agent, 'name' | 'config'>>;
export type MessageContent =
  | { type: 'text'; text: string }
  | { type: 'parts'; parts: Array<{ type: string; [key: string]: Json | undefined }> };

export type Attachment = Omit<Tables<'chat_message_attachments'>, 'message_id' | 'created_at' | 'metadata'> & {
  metadata: JsonObject;
};

export type ToolCall = Omit<Tables<'chat_tool_calls'>, 'message_id' | 'created_at'>;

export type Message = Omit<Tables<'chat_messages_v2'>, 'legacy_id' | 'role' | 'content' | 'metadata'> & {
  role: Role;
  content: MessageContent;
  metadata: JsonObject;
  attachments: Attachment[];
  tool_calls: ToolCall[];
};

export interface SendMessageRequest {
  conversation_id?: string;
  role: Role;
  content: string | MessageContent;
  client_message_id?: string;
  parent_message_id?: string | null;
  agent_id?: string | null;
  metadata?: JsonObject;
  attachments?: Array<Omit<Attachment, 'id' | 'position' | 'type' | 'mime_type' | 'size_bytes' | 'metadata'> & Partial<Pick<Attachment, 'type' | 'mime_type' | 'size_bytes' | 'metadata'>>>;
  tool_calls?: Array<Pick<ToolCall, 'tool_call_id' | 'tool_name'> & Partial<Pick<ToolCall, 'args' | 'result' | 'text_position' | 'is_partial'>>>;
  /** Title of the conversation this message starts. */
  title?: string;
  /** service_role callers only. */
  user_id?: string;
}

export interface ListMessagesRequest {
  conversation_id: string;
  limit?: number;
  before?: string;
}
export interface MessagePage {
  messages: Message[];
  next_cursor: string | null;
}

export type MemoryType = 'episodic' | 'semantic' | 'procedural' | 'working';

/** A memory as returned: the embedding stays in the database, `has_embedding` says whether there is one. */
export type Memory = Omit<Tables<'agent_memories'>, 'embedding' | 'memory_type' | 'metadata'> & {
  memory_type: MemoryType;
  metadata: JsonObject;
  has_embedding: boolean;
};

export interface StoreMemoryRequest {
  agent_id: string;
  memory_type: MemoryType;
  content: string;
  embedding?: number[];
  embedding_model?: string;
  importance?: number;
  decay_rate?: number;
  related_memory_ids?: string[];
  source_message_id?: string;
  metadata?: JsonObject;
  expires_at?: string | null;
}

export interface SearchMemoriesRequest {
  agent_id: string;
  embedding: number[];
  match_count?: number;
  memory_types?: MemoryType[];
  min_importance?: number;
}
export interface MemoryMatch {
  id: string;
  content: string;
  memory_type: MemoryType;
  importance: number;
  similarity: number;
}

export type StateType = 'local' | 'shared' | 'session' | 'persistent';

export type AgentState = Omit<Tables<'agent_states'>, 'state_type' | 'state' | 'metadata'> & {
  state_type: StateType;
  state: JsonObject;
  metadata: JsonObject;
};

export interface StateStream {
  agent_id: string;
  state_type: StateType;
  session_id?: string;
}
/** getState may leave out state_type: then the agent's most recently saved current state. */
export type StateQuery = Omit<StateStream, 'state_type'> & { state_type?: StateType };
export interface SaveStateRequest extends StateStream {
  state: JsonObject;
  expected_version?: number | null;
}
export interface StateHistoryRequest extends StateStream {
  limit?: number;
  before?: string;
}
export interface StatePage {
  states: AgentState[];
  next_cursor: string | null;
}

export type CheckpointType = 'auto' | 'manual' | 'pre_migration' | 'recovery';
export type Checkpoint = Omit<Tables<'state_checkpoints'>, 'checkpoint_type' | 'metadata'> & {
  checkpoint_type: CheckpointType;
  metadata: JsonObject;
};
export interface CheckpointRequest {
  agent_id: string;
  state_type?: StateType;
  session_id?: string | null;
  state_id?: string;
  snapshot_id?: string | null;
  checkpoint_type?: CheckpointType;
  label?: string;
  metadata?: JsonObject;
  retain_until?: string | null;
}
export interface RestoreResult {
  state: AgentState;
  restored_from: { checkpoint_id: string; version: number };
}

export type SessionStatus = 'active' | 'idle' | 'closed';
export type Session = Omit<Tables<'conversation_sessions'>, 'status' | 'session_state' | 'metadata'> & {
  status: SessionStatus;
  session_state: JsonObject;
  metadata: JsonObject;
};
export interface CreateSessionRequest {
  id?: string;
  agent_id?: string | null;
  title?: string | null;
  status?: SessionStatus;
  session_state?: JsonObject;
  metadata?: JsonObject;
  user_id?: string;
}
export type UpdateSessionRequest = Partial<Pick<Session, 'agent_id' | 'title' | 'status' | 'session_state' | 'metadata'>>;

export type Snapshot = Omit<Tables<'context_snapshots'>, 'context' | 'build_metrics'> & {
  context: JsonObject;
  build_metrics: JsonObject;
};
export interface SnapshotRequest {
  agent_id?: string;
  message_ids?: string[];
  window?: number;
  memory_ids?: string[];
  context?: JsonObject;
  token_count?: number;
  token_budget?: number | null;
  build_metrics?: JsonObject;
}

/** The error body every endpoint answers with. */
export interface ApiErrorBody {
  error: { code: string; message: string };
}
