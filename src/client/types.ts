/**
 * Request and response types of the edge-function API (docs/api.md). Row shapes follow the v2 tables
 * (SPEC §5) as the functions return them: timestamps are ISO strings with microseconds, jsonb is `Json`.
 * Hand-written until types/database.types.ts carries the v2 tables; then the row types become
 * `Tables<'…'>` aliases and stay in step with the schema.
 */
export type Json = string | number | boolean | null | { [key: string]: Json | undefined } | Json[];
export type JsonObject = { [key: string]: Json | undefined };

export type Role = 'user' | 'assistant' | 'system' | 'tool';
export type MessageContent =
  | { type: 'text'; text: string }
  | { type: 'parts'; parts: Array<{ type: string; [key: string]: Json | undefined }> };

export interface Attachment {
  id: string;
  position: number;
  type: string | null;
  name: string;
  storage_path: string;
  mime_type: string | null;
  size_bytes: number | null;
  metadata: JsonObject;
}

export interface ToolCall {
  id: string;
  position: number;
  tool_call_id: string;
  tool_name: string;
  args: Json | null;
  result: Json | null;
  text_position: number | null;
  is_partial: boolean;
}

export interface Message {
  id: string;
  conversation_id: string;
  user_id: string;
  agent_id: string | null;
  role: Role;
  content: MessageContent;
  version: number;
  parent_message_id: string | null;
  metadata: JsonObject;
  client_message_id: string | null;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
  attachments: Attachment[];
  tool_calls: ToolCall[];
}

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

export interface Memory {
  id: string;
  agent_id: string;
  user_id: string | null;
  memory_type: MemoryType;
  content: string;
  has_embedding: boolean;
  embedding_model: string | null;
  importance: number;
  decay_rate: number;
  access_count: number;
  last_accessed_at: string | null;
  related_memory_ids: string[];
  source_message_id: string | null;
  metadata: JsonObject;
  expires_at: string | null;
  created_at: string;
  updated_at: string;
}

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

export interface AgentState {
  id: string;
  agent_id: string;
  user_id: string | null;
  session_id: string | null;
  state_type: StateType;
  state: JsonObject;
  state_hash: string;
  version: number;
  is_current: boolean;
  parent_state_id: string | null;
  metadata: JsonObject;
  created_at: string;
}

export interface StateStream {
  agent_id: string;
  state_type: StateType;
  session_id?: string;
}
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
export interface Checkpoint {
  id: string;
  agent_id: string;
  user_id: string | null;
  session_id: string | null;
  state_id: string;
  snapshot_id: string | null;
  parent_checkpoint_id: string | null;
  checkpoint_type: CheckpointType;
  label: string | null;
  metadata: JsonObject;
  retain_until: string | null;
  created_at: string;
}
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
export interface Session {
  id: string;
  user_id: string;
  agent_id: string | null;
  title: string | null;
  status: SessionStatus;
  session_state: JsonObject;
  metadata: JsonObject;
  message_count: number;
  token_count: number;
  last_message_at: string | null;
  created_at: string;
  updated_at: string;
}
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

export interface Snapshot {
  id: string;
  session_id: string;
  agent_id: string;
  user_id: string | null;
  message_ids: string[];
  first_message_at: string | null;
  last_message_at: string | null;
  memory_ids: string[];
  context: JsonObject;
  token_count: number;
  token_budget: number | null;
  build_metrics: JsonObject;
  created_at: string;
}
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
