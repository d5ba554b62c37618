/**
 * Typed client for the edge-function API over `@supabase/supabase-js` `functions.invoke`.
 *
 *   const supabase = createClient(SUPABASE_URL, SUPABASE_ANON_KEY)   // signed-in session → user JWT
 *   const chat = createChatClient(supabase)
 *   const { message } = await chat.sendMessage({ role: 'user', content: 'hi' })
 *
 * Every method resolves with the documented body or throws `ChatApiError` (status, code, message).
 *
 * Read your own writes: where the API reads from a replica, every write answers with `X-Commit-LSN`, and
 * this client sends the latest one back as `X-Read-After-LSN` on every later call, so its reads wait for
 * (or skip) a replica that has not replayed its writes yet — whichever function instance serves them.
 */
import { createClient, FunctionsFetchError, FunctionsHttpError, FunctionsRelayError, type SupabaseClient } from '@supabase/supabase-js';
import type { z } from 'zod';
import type * as C from '../supabase/functions/_shared/contract.ts';
import type { Api, RequestBody, RequestQuery, ResponseBody } from '../supabase/functions/_shared/contract.ts';
import type { Enums, Json } from '../types/database.types.ts';
import { chatFormatMethods, type ChatFormatMethods } from './chats.ts';

export * from './chats.ts';

// ---------------------------------------------------------------------------------------------------------
// Types. Nothing here is written by hand: requests are what the contract's zod schemas accept (z.input),
// responses what they describe (z.output) — the same schemas the functions validate with and the e2e suite
// checks every answer against (supabase/functions/_shared/contract.ts) — and the fixed vocabularies are the
// Postgres enums of the generated database types.
// ---------------------------------------------------------------------------------------------------------

export type { Api, Json };
/** A JSON object as the API returns it. */
export type JsonObject = z.output<typeof C.Agent>['config'];

export type Role = Enums<'message_role'>;
export type SessionStatus = Enums<'session_status'>;
export type MemoryType = Enums<'memory_type'>;
export type StateType = Enums<'state_type'>;
export type CheckpointType = Enums<'checkpoint_type'>;

export type Agent = z.output<typeof C.Agent>;
export type CreateAgentRequest = RequestBody<Api['createAgent']>;
export type UpdateAgentRequest = RequestBody<Api['updateAgent']>;
export type ListAgentsRequest = RequestQuery<Api['listAgents']>;
export type AgentPage = ResponseBody<Api['listAgents']>;

export type MessageContent = z.output<typeof C.MessageContent>;
export type Attachment = z.output<typeof C.Attachment>;
export type ToolCall = z.output<typeof C.ToolCall>;
export type Message = z.output<typeof C.Message>;
export type SendMessageRequest = RequestBody<Api['sendMessage']>;
export type EditMessageRequest = RequestBody<Api['editMessage']>;
export type ListMessagesRequest = RequestQuery<Api['listMessages']>;
export type MessagePage = ResponseBody<Api['listMessages']>;

/** A memory as returned: the embedding stays in the database, `has_embedding` says whether there is one. */
export type Memory = z.output<typeof C.Memory>;
export type MemoryMatch = z.output<typeof C.MemoryMatch>;
export type StoreMemoryRequest = RequestBody<Api['storeMemory']>;
export type SearchMemoriesRequest = RequestBody<Api['searchMemories']>;

export type AgentState = z.output<typeof C.AgentState>;
/** getState may leave out state_type: then the agent's most recently saved current state. */
export type StateQuery = RequestQuery<Api['getState']>;
export type StateStream = StateQuery & { state_type: StateType };
export type SaveStateRequest = RequestBody<Api['saveState']>;
export type StateHistoryRequest = RequestQuery<Api['stateHistory']>;
export type StatePage = ResponseBody<Api['stateHistory']>;
export type Checkpoint = z.output<typeof C.Checkpoint>;
export type CheckpointRequest = RequestBody<Api['checkpoint']>;
export type ListCheckpointsRequest = RequestQuery<Api['listCheckpoints']>;
export type RestoreRequest = RequestBody<Api['restore']>;
export type RestoreResult = ResponseBody<Api['restore']>;

export type Session = z.output<typeof C.Session>;
export type CreateSessionRequest = RequestBody<Api['createSession']>;
export type UpdateSessionRequest = RequestBody<Api['updateSession']>;
export type ListSessionsRequest = RequestQuery<Api['listSessions']>;
export type SessionPage = ResponseBody<Api['listSessions']>;
export type Snapshot = z.output<typeof C.Snapshot>;
export type SnapshotRequest = RequestBody<Api['snapshot']>;
export type ListSnapshotsRequest = RequestQuery<Api['listSnapshots']>;

/** The error body every endpoint answers with. */
export type ApiErrorBody = z.output<typeof C.ApiError>;

export class ChatApiError extends Error {
  override name = 'ChatApiError';
  constructor(
    /** HTTP status; 0 when the request never got an answer. */
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

function query(params: object): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** `X/Y` WAL positions as numbers, to keep the latest; null for anything else. */
function lsnValue(text: string): bigint | null {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  return m ? (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`) : null;
}

export interface ChatClientOptions {
  /**
   * A write position to start from (an `X-Commit-LSN` this user's session got elsewhere, e.g. from the
   * server that rendered the page, or `readAfterLsn` of another client): reads wait for it too.
   */
  readAfterLsn?: string | null;
}

/** Every method resolves with the documented body or throws ChatApiError; the chat-format methods are in chats.ts. */
export interface ChatClient extends ChatFormatMethods {
  /** The latest `X-Commit-LSN` this client has seen (sent as `X-Read-After-LSN`), or null before any write. */
  readonly readAfterLsn: string | null;
  sendMessage(req: SendMessageRequest): Promise<ResponseBody<Api['sendMessage']>>;
  listMessages(req: ListMessagesRequest): Promise<MessagePage>;
  editMessage(id: string, req: EditMessageRequest): Promise<ResponseBody<Api['editMessage']>>;
  deleteMessage(id: string): Promise<void>;
  storeMemory(req: StoreMemoryRequest): Promise<ResponseBody<Api['storeMemory']>>;
  searchMemories(req: SearchMemoriesRequest): Promise<ResponseBody<Api['searchMemories']>>;
  createAgent(req: CreateAgentRequest): Promise<ResponseBody<Api['createAgent']>>;
  /** Newest first; `owner_id` filters for the service role (a user always sees only their own agents). */
  listAgents(req?: ListAgentsRequest): Promise<AgentPage>;
  getAgent(id: string): Promise<ResponseBody<Api['getAgent']>>;
  updateAgent(id: string, req: UpdateAgentRequest): Promise<ResponseBody<Api['updateAgent']>>;
  deleteAgent(id: string): Promise<void>;
  /** `state` is null for an agent (and session) you own that has no saved state yet. */
  getState(req: StateQuery): Promise<ResponseBody<Api['getState']>>;
  saveState(req: SaveStateRequest): Promise<ResponseBody<Api['saveState']>>;
  stateHistory(req: StateHistoryRequest): Promise<StatePage>;
  checkpoint(req: CheckpointRequest): Promise<ResponseBody<Api['checkpoint']>>;
  listCheckpoints(req: ListCheckpointsRequest): Promise<ResponseBody<Api['listCheckpoints']>>;
  restore(checkpointId: string, req?: RestoreRequest): Promise<RestoreResult>;
  createSession(req?: CreateSessionRequest): Promise<ResponseBody<Api['createSession']>>;
  getSession(id: string): Promise<ResponseBody<Api['getSession']>>;
  listSessions(req?: ListSessionsRequest): Promise<SessionPage>;
  updateSession(id: string, req: UpdateSessionRequest): Promise<ResponseBody<Api['updateSession']>>;
  snapshot(sessionId: string, req?: SnapshotRequest): Promise<ResponseBody<Api['snapshot']>>;
  listSnapshots(sessionId: string, req?: ListSnapshotsRequest): Promise<ResponseBody<Api['listSnapshots']>>;
  /** This API's OpenAPI 3.1 document (GET /functions/v1/openapi; docs/openapi.json). */
  openApi(): Promise<ResponseBody<Api['openApi']>>;
  /** Escape hatch: any path under /functions/v1 with the same error handling. */
  call<R>(method: Method, path: string, body?: unknown): Promise<R>;
}

export function createChatClient(supabase: SupabaseClient, opts: ChatClientOptions = {}): ChatClient {
  let readAfter: string | null = null;
  const observe = (lsn: string | null | undefined) => {
    const v = lsn ? lsnValue(lsn.trim()) : null;
    if (v !== null && (readAfter === null || v > lsnValue(readAfter)!)) readAfter = lsn!.trim();
  };
  observe(opts.readAfterLsn);
  async function call<R>(method: Method, path: string, body?: unknown): Promise<R> {
    const { data, error, response } = await supabase.functions.invoke(path, {
      method,
      ...(body !== undefined ? { body: body as Record<string, unknown> } : {}),
      ...(readAfter ? { headers: { 'X-Read-After-LSN': readAfter } } : {}),
    });
    if (!error) {
      observe(response?.headers.get('x-commit-lsn'));
      return (data === '' ? undefined : data) as R;
    }
    if (error instanceof FunctionsHttpError) {
      const res = error.context as Response;
      let parsed: Partial<ApiErrorBody> | null = null;
      try {
        parsed = (await res.json()) as Partial<ApiErrorBody>;
      } catch {
        /* not JSON: keep the status */
      }
      throw new ChatApiError(res.status, parsed?.error?.code ?? 'http_error', parsed?.error?.message ?? `HTTP ${res.status}`);
    }
    if (error instanceof FunctionsRelayError) throw new ChatApiError(502, 'relay_error', error.message);
    if (error instanceof FunctionsFetchError) throw new ChatApiError(0, 'network_error', String((error.context as Error)?.message ?? error.message));
    throw new ChatApiError(0, 'unknown_error', String((error as Error).message ?? error));
  }
  const id = (s: string) => encodeURIComponent(s);
  return {
    get readAfterLsn() {
      return readAfter;
    },
    call,
    sendMessage: (req) => call('POST', 'messages', req),
    listMessages: (req) => call('GET', `messages${query(req)}`),
    editMessage: (mid, req) => call('PATCH', `messages/${id(mid)}`, req),
    deleteMessage: async (mid) => {
      await call<void>('DELETE', `messages/${id(mid)}`);
    },
    storeMemory: (req) => call('POST', 'memories', req),
    searchMemories: (req) => call('POST', 'memories/search', req),
    createAgent: (req) => call('POST', 'agents', req),
    listAgents: (req) => call('GET', `agents${query(req ?? {})}`),
    getAgent: (aid) => call('GET', `agents/${id(aid)}`),
    updateAgent: (aid, req) => call('PATCH', `agents/${id(aid)}`, req),
    deleteAgent: async (aid) => {
      await call<void>('DELETE', `agents/${id(aid)}`);
    },
    getState: (req) => call('GET', `agent-state${query(req)}`),
    saveState: (req) => call('PUT', 'agent-state', req),
    stateHistory: (req) => call('GET', `agent-state/history${query(req)}`),
    checkpoint: (req) => call('POST', 'agent-state/checkpoints', req),
    listCheckpoints: (req) => call('GET', `agent-state/checkpoints${query(req)}`),
    restore: (cid, req) => call('POST', `agent-state/checkpoints/${id(cid)}/restore`, req ?? {}),
    createSession: (req) => call('POST', 'sessions', req ?? {}),
    getSession: (sid) => call('GET', `sessions/${id(sid)}`),
    listSessions: (req) => call('GET', `sessions${query(req ?? {})}`),
    updateSession: (sid, req) => call('PATCH', `sessions/${id(sid)}`, req),
    snapshot: (sid, req) => call('POST', `sessions/${id(sid)}/snapshots`, req ?? {}),
    listSnapshots: (sid, req) => call('GET', `sessions/${id(sid)}/snapshots${query(req ?? {})}`),
    openApi: () => call('GET', 'openapi'),
    ...chatFormatMethods(call, query),
  };
}

class NoWebSocket {
  constructor() {
    throw new Error('Realtime needs a WebSocket implementation (Node 22+, or pass one to createClient).');
  }
}

export interface ConnectOptions {
  /** The project URL (`http://127.0.0.1:54321` locally). */
  url: string;
  /** The anon key (sent as `apikey`). */
  anonKey: string;
  /** The caller's access token; omit to use the supabase-js session (or the anon key). */
  accessToken?: string | (() => Promise<string>);
}

/** A supabase-js client plus the typed API on top, for scripts and tests that hold a token already. */
export function connectChat(opts: ConnectOptions): { supabase: SupabaseClient; chat: ChatClient } {
  const token = opts.accessToken;
  const supabase = createClient(opts.url, opts.anonKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    // supabase-js builds its realtime client eagerly and refuses Node 20 (no global WebSocket). This API
    // never opens a channel, so where WebSocket is missing a transport that fails on use is enough.
    ...(typeof (globalThis as { WebSocket?: unknown }).WebSocket === 'undefined' ? { realtime: { transport: NoWebSocket as never } } : {}),
    ...(token !== undefined ? { accessToken: typeof token === 'string' ? async () => token : token } : {}),
  });
  return { supabase, chat: createChatClient(supabase) };
}

// Compile-time checks (the build fails when they break): every endpoint of the contract is a method of
// ChatClient, and the contract's vocabularies are exactly the database's enums.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const everyEndpointIsAMethod: [Exclude<keyof Api, keyof ChatClient>] extends [never] ? true : false = true;
const vocabulariesAreTheEnums: [
  Same<Role, Message['role']>,
  Same<SessionStatus, Session['status']>,
  Same<MemoryType, Memory['memory_type']>,
  Same<StateType, AgentState['state_type']>,
  Same<CheckpointType, Checkpoint['checkpoint_type']>,
] = [true, true, true, true, true];
void everyEndpointIsAMethod;
void vocabulariesAreTheEnums;
