/**
 * The chat-client formats of the typed client: AI SDK `UIMessage` chats and OpenAI chat-completions transcripts
 * saved and loaded losslessly (PUT/GET /chats/:id, POST /chats/:id/messages, POST /chats/:id/turns), and policy
 * events on messages (POST/GET /policy-events). `UIMessage` comes from the `ai` package (major 7), a peer
 * dependency of this client only: the functions never import it. docs/chat-clients.md.
 */
import type { UIMessage } from 'ai';
import type { z } from 'zod';
import type * as C from '../supabase/functions/_shared/contract.ts';
import type { Api, RequestBody, RequestQuery, ResponseBody } from '../supabase/functions/_shared/contract.ts';

export type { UIMessage };

/** An OpenAI chat-completions message (ChatCompletionMessageParam, or a response's ChatCompletionMessage). */
export type OpenAIChatMessage = { role: 'system' | 'developer' | 'user' | 'assistant' | 'tool' | 'function'; content?: unknown };

/** Who a chat belongs to when a request starts it: its agent, title, and (service role only) owner. */
export type ChatOwner = Pick<RequestBody<Api['saveChat']>, 'agent_id' | 'title' | 'user_id'>;
export type SaveChatResult = ResponseBody<Api['saveChat']>;
export type RecordTurnRequest = Omit<RequestBody<Api['recordTurn']>, 'request' | 'response'> & {
  request: { model: string; params?: Record<string, unknown>; messages: OpenAIChatMessage[] };
  response: { message: OpenAIChatMessage; usage?: Record<string, unknown>; finish_reason?: string | null; provider?: string };
};
export type TurnResult = ResponseBody<Api['recordTurn']>;
export type PolicyEvent = z.output<typeof C.PolicyEvent>;
export type RecordPolicyEventRequest = RequestBody<Api['recordPolicyEvent']>;
export type ListPolicyEventsRequest = RequestQuery<Api['listPolicyEvents']>;
export type PolicyEventPage = ResponseBody<Api['listPolicyEvents']>;

export interface ChatFormatMethods {
  /** Saves the whole chat (the AI SDK persistence guide's saveChat): upsert by UIMessage.id, order kept, missing messages soft-deleted. */
  saveChat<M extends UIMessage = UIMessage>(chatId: string, messages: M[], owner?: ChatOwner): Promise<SaveChatResult>;
  /** The chat's messages in saved order, deep-equal to what was saved (initial messages for useChat). */
  loadChat<M extends UIMessage = UIMessage>(chatId: string): Promise<M[]>;
  /** Appends one UIMessage, or replaces the one with its id ("send only the last message"). */
  appendMessage<M extends UIMessage = UIMessage>(chatId: string, message: M, owner?: ChatOwner): Promise<{ message: M }>;
  /** Saves an OpenAI chat-completions message list as the chat (PUT with format openai). */
  importOpenAI(chatId: string, messages: OpenAIChatMessage[], owner?: ChatOwner): Promise<SaveChatResult>;
  /** The chat as chat-completions messages (exact for a chat saved with importOpenAI or recordTurn). */
  exportOpenAI<M extends OpenAIChatMessage = OpenAIChatMessage>(chatId: string): Promise<M[]>;
  /** Records one LLM call: the request's new messages and the response, with model / usage / finish_reason. */
  recordTurn(chatId: string, turn: RecordTurnRequest): Promise<TurnResult>;
  /** Records a policy decision on a message (by uuid, or with chat_id by its chat message id). */
  recordPolicyEvent(req: RecordPolicyEventRequest): Promise<{ policy_event: PolicyEvent }>;
  /** A conversation's policy events, newest first. */
  listPolicyEvents(req: ListPolicyEventsRequest): Promise<PolicyEventPage>;
}

type Call = <R>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) => Promise<R>;

export function chatFormatMethods(call: Call, query: (params: object) => string): ChatFormatMethods {
  const chat = (id: string) => `chats/${encodeURIComponent(id)}`;
  return {
    saveChat: (id, messages, owner) => call('PUT', chat(id), { ...owner, messages }),
    loadChat: async <M extends UIMessage>(id: string) => (await call<{ messages: M[] }>('GET', chat(id))).messages,
    appendMessage: (id, message, owner) => call('POST', `${chat(id)}/messages`, { ...owner, message }),
    importOpenAI: (id, messages, owner) => call('PUT', chat(id), { ...owner, format: 'openai', messages }),
    exportOpenAI: async <M extends OpenAIChatMessage>(id: string) => (await call<{ messages: M[] }>('GET', `${chat(id)}?format=openai`)).messages,
    recordTurn: (id, turn) => call('POST', `${chat(id)}/turns`, turn),
    recordPolicyEvent: (req) => call('POST', 'policy-events', req),
    listPolicyEvents: (req) => call('GET', `policy-events${query(req)}`),
  };
}
