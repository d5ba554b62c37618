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
import type * as T from './types.ts';

export * from './types.ts';

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

export interface ChatClient {
  /** The latest `X-Commit-LSN` this client has seen (sent as `X-Read-After-LSN`), or null before any write. */
  readonly readAfterLsn: string | null;
  sendMessage(req: T.SendMessageRequest): Promise<{ message: T.Message }>;
  listMessages(req: T.ListMessagesRequest): Promise<T.MessagePage>;
  editMessage(id: string, req: { content: string | T.MessageContent; metadata?: T.JsonObject }): Promise<{ message: T.Message }>;
  deleteMessage(id: string): Promise<void>;
  storeMemory(req: T.StoreMemoryRequest): Promise<{ memory: T.Memory }>;
  searchMemories(req: T.SearchMemoriesRequest): Promise<{ matches: T.MemoryMatch[] }>;
  createAgent(req: T.CreateAgentRequest): Promise<{ agent: T.Agent }>;
  /** Newest first; `owner_id` filters for the service role (a user always sees only their own agents). */
  listAgents(req?: { limit?: number; before?: string; owner_id?: string }): Promise<{ agents: T.Agent[]; next_cursor: string | null }>;
  getAgent(id: string): Promise<{ agent: T.Agent }>;
  updateAgent(id: string, req: T.UpdateAgentRequest): Promise<{ agent: T.Agent }>;
  deleteAgent(id: string): Promise<void>;
  /** `state` is null for an agent (and session) you own that has no saved state yet. */
  getState(req: T.StateQuery): Promise<{ state: T.AgentState | null }>;
  saveState(req: T.SaveStateRequest): Promise<{ state: T.AgentState }>;
  stateHistory(req: T.StateHistoryRequest): Promise<T.StatePage>;
  checkpoint(req: T.CheckpointRequest): Promise<{ checkpoint: T.Checkpoint }>;
  listCheckpoints(req: { agent_id: string; session_id?: string; limit?: number }): Promise<{ checkpoints: T.Checkpoint[] }>;
  restore(checkpointId: string, req?: { expected_version?: number | null }): Promise<T.RestoreResult>;
  createSession(req?: T.CreateSessionRequest): Promise<{ session: T.Session }>;
  getSession(id: string): Promise<{ session: T.Session }>;
  listSessions(req?: { limit?: number; before?: string; status?: T.SessionStatus }): Promise<{ sessions: T.Session[]; next_cursor: string | null }>;
  updateSession(id: string, req: T.UpdateSessionRequest): Promise<{ session: T.Session }>;
  snapshot(sessionId: string, req?: T.SnapshotRequest): Promise<{ snapshot: T.Snapshot }>;
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
      let parsed: Partial<T.ApiErrorBody> | null = null;
      try {
        parsed = (await res.json()) as Partial<T.ApiErrorBody>;
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
