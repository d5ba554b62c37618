/**
 * The HTTP contract of /functions/v1/chats and /functions/v1/policy-events (see endpoint.ts): what chat clients
 * send — AI SDK UIMessage chats and OpenAI chat-completions transcripts — stored losslessly through the SQL API
 * (public.save_chat, append_chat_message, record_chat_turn, load_chat, record_policy_event), and policy events on
 * messages. Messages are checked with chat-messages.ts (the first problem, with its path) and passed on by reference,
 * every field kept.
 */
import { z } from 'zod';
import { listProblem, openaiMessageProblem, uiMessageProblem, type Problem } from './chat-messages.ts';
import { component, endpoint, READ_ERRORS, WRITE_ERRORS } from './endpoint.ts';
import { cursorParam, jsonObject, jsonObjectOut, limitParam, nextCursor, timestampOut, uuid } from './schemas.ts';

/** The most messages one save, turn or load carries. */
export const MAX_CHAT_MESSAGES = 5000;

/** Adds the first problem (if any) as one zod issue at `path`, so the 422 names it: `messages.3.parts.1.type: …`. */
function report(ctx: z.core.$RefinementCtx, prefix: Array<string | number>, p: Problem | null): void {
  if (p) ctx.addIssue({ code: 'custom', path: [...prefix, ...p.path], message: p.message });
}

const uiMessageMeta = {
  type: 'object',
  description: 'An AI SDK UIMessage (the `ai` package, major 7), stored as sent: every field and every part, unknown part types included.',
  required: ['id', 'role', 'parts'],
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 200 },
    role: { type: 'string', enum: ['system', 'user', 'assistant'] },
    metadata: {},
    parts: { type: 'array', items: { type: 'object', required: ['type'], properties: { type: { type: 'string' } }, additionalProperties: true } },
  },
  additionalProperties: true,
} as const;

const openaiMessageMeta = {
  type: 'object',
  description: 'An OpenAI chat-completions message (ChatCompletionMessageParam, or the ChatCompletionMessage of a response), stored as sent.',
  required: ['role'],
  properties: {
    role: { type: 'string', enum: ['system', 'developer', 'user', 'assistant', 'tool', 'function'] },
    content: { anyOf: [{ type: 'string' }, { type: 'null' }, { type: 'array', items: { type: 'object', required: ['type'], additionalProperties: true } }] },
    name: { type: 'string' },
    tool_call_id: { type: 'string' },
    tool_calls: { type: 'array', items: { type: 'object', required: ['id'], additionalProperties: true } },
    refusal: { type: ['string', 'null'] },
  },
  additionalProperties: true,
} as const;

type JsonMessage = { [key: string]: z.core.util.JSONType };

/** One UIMessage, kept by reference (the JSON schema is what the OpenAPI document shows). */
export const UIMessageSchema = component(
  'UIMessage',
  z.custom<JsonMessage>((v) => v !== null && typeof v === 'object' && !Array.isArray(v), 'must be a UIMessage object').meta(uiMessageMeta),
);
/** One OpenAI chat-completions message, kept by reference. */
export const OpenAIMessageSchema = component(
  'OpenAIChatMessage',
  z.custom<JsonMessage>((v) => v !== null && typeof v === 'object' && !Array.isArray(v), 'must be a chat-completions message object').meta(openaiMessageMeta),
);

const owner = {
  /** Agent of a chat this request starts (yours). */
  agent_id: uuid.optional(),
  /** Title of a chat this request starts (ignored for an existing one). */
  title: z.string().max(500).optional(),
  /** service_role only: the user a new chat belongs to. */
  user_id: uuid.optional(),
};

export const SaveChatRequest = component(
  'SaveChatRequest',
  z
    .object({
      format: z.enum(['ui', 'openai']).optional().meta({ description: 'ui (default): UIMessage[]; openai: chat-completions messages' }),
      messages: z.array(z.unknown()).max(MAX_CHAT_MESSAGES),
      ...owner,
    })
    .strict()
    .superRefine((b, ctx) => {
      const openai = b.format === 'openai';
      report(ctx, ['messages'], listProblem(b.messages, openai ? openaiMessageProblem : uiMessageProblem, !openai));
    }),
  '{"messages": UIMessage[]} or {"format": "openai", "messages": [chat-completions messages]}.',
);

export const AppendMessageRequest = component(
  'AppendMessageRequest',
  z
    .object({ message: z.unknown(), ...owner })
    .strict()
    .superRefine((b, ctx) => report(ctx, ['message'], uiMessageProblem(b.message))),
);

export const RecordTurnRequest = component(
  'RecordTurnRequest',
  z
    .object({
      request: z
        .object({
          model: z.string().min(1).max(500),
          params: jsonObject.optional().meta({ description: 'temperature, max_tokens, tools … as sent to the model' }),
          messages: z.array(z.unknown()).max(MAX_CHAT_MESSAGES),
        })
        .strict(),
      response: z
        .object({
          message: z.unknown(),
          usage: jsonObject.optional(),
          finish_reason: z.string().max(100).nullable().optional(),
          provider: z.string().max(200).optional(),
        })
        .strict(),
      ...owner,
    })
    .strict()
    .superRefine((b, ctx) => {
      report(ctx, ['request', 'messages'], listProblem(b.request.messages, openaiMessageProblem, false));
      const m = b.response.message as { role?: unknown } | null;
      if (m === null || typeof m !== 'object' || Array.isArray(m) || m.role !== 'assistant') {
        ctx.addIssue({ code: 'custom', path: ['response', 'message', 'role'], message: 'the response message must be the assistant\'s (role assistant)' });
      } else report(ctx, ['response', 'message'], openaiMessageProblem(m));
    }),
);

export const SaveChatResult = component('SaveChatResult', z.object({ chat_id: uuid, saved: z.number().int().min(0) }).strict());
export const ChatMessages = component(
  'ChatMessages',
  z.object({ messages: z.array(jsonObjectOut) }).strict(),
  'The chat\'s live messages in order: UIMessage[] (default) or, with ?format=openai, chat-completions messages.',
);
const AppendResult = component('AppendMessageResult', z.object({ message: jsonObjectOut }).strict());
export const TurnResult = component(
  'TurnResult',
  z.object({ chat_id: uuid, saved: z.number().int().min(1), message_ids: z.array(z.string()) }).strict(),
  'message_ids: the chat message ids (openai:<position>) of the stored messages, the response\'s last; usable with POST /policy-events and chat_id.',
);

export const PolicyEvent = component(
  'PolicyEvent',
  z
    .object({
      id: uuid,
      user_id: uuid,
      conversation_id: uuid.nullable(),
      message_id: uuid.nullable(),
      modified_message_id: uuid.nullable(),
      policy_class: z.string(),
      policy_config: jsonObjectOut,
      event_type: z.string(),
      decision: z.enum(['allow', 'flag', 'modify', 'block']).nullable(),
      reason: z.string().nullable(),
      metadata: jsonObjectOut,
      recorded_by: z.string().nullable(),
      created_at: timestampOut,
    })
    .strict(),
  'A policy decision on a message (public.policy_events; policy_class is its policy_name column).',
);

export const RecordPolicyEventRequest = component(
  'RecordPolicyEventRequest',
  z
    .object({
      /** The message's uuid — or, with chat_id, the chat's own message id (UIMessage.id, openai:<n>). */
      message_id: z.string().min(1).max(200),
      /** The chat the ids belong to: message_id and modified_message_id are then chat message ids. */
      chat_id: uuid.optional(),
      policy_class: z.string().min(1).max(200),
      policy_config: jsonObject.optional(),
      event_type: z.string().min(1).max(100),
      decision: z.enum(['allow', 'flag', 'modify', 'block']).optional(),
      reason: z.string().max(10_000).optional(),
      metadata: jsonObject.optional(),
      modified_message_id: z.string().min(1).max(200).optional(),
    })
    .strict()
    .superRefine((b, ctx) => {
      if (b.chat_id !== undefined) return;
      for (const k of ['message_id', 'modified_message_id'] as const) {
        if (b[k] !== undefined && !uuid.safeParse(b[k]).success) {
          ctx.addIssue({ code: 'custom', path: [k], message: 'must be a message uuid, or pass chat_id and the chat\'s own message id (UIMessage.id)' });
        }
      }
    }),
);

export const PolicyEventPage = component('PolicyEventPage', z.object({ policy_events: z.array(PolicyEvent), next_cursor: nextCursor }).strict());
const policyEventBody = component('PolicyEventResponse', z.object({ policy_event: PolicyEvent }).strict());

export const chats = {
  saveChat: endpoint({
    method: 'PUT', path: '/chats/{id}', operationId: 'saveChat', summary: 'Save a whole chat (UIMessage[] or OpenAI messages)',
    description: 'Upsert by message id (UIMessage.id; an OpenAI message is openai:<index>), order kept, messages missing from the save soft-deleted; tool calls and files normalized. The typed client\'s importOpenAI sends format openai.',
    body: SaveChatRequest, responses: { 200: SaveChatResult }, errors: WRITE_ERRORS,
  }),
  loadChat: endpoint({
    method: 'GET', path: '/chats/{id}', operationId: 'loadChat', summary: 'A chat\'s messages, in order, exactly as saved',
    description: 'UIMessage[] by default; ?format=openai converts to chat-completions messages (exact for chats saved in that format). The typed client\'s exportOpenAI asks for format openai.',
    query: z.object({ format: z.enum(['ui', 'openai']).optional() }).strict(),
    responses: { 200: ChatMessages }, errors: READ_ERRORS, replicaRead: true,
  }),
  appendMessage: endpoint({
    method: 'POST', path: '/chats/{id}/messages', operationId: 'appendMessage', summary: 'Append a UIMessage, or replace the one with its id',
    body: AppendMessageRequest, responses: { 201: AppendResult, 200: AppendResult }, errors: WRITE_ERRORS,
  }),
  recordTurn: endpoint({
    method: 'POST', path: '/chats/{id}/turns', operationId: 'recordTurn', summary: 'Record one LLM call (request and response, OpenAI format)',
    description: 'Stores the request\'s new messages and the response message; model, params, provider, usage and finish_reason go on the response message\'s metadata.',
    body: RecordTurnRequest, responses: { 201: TurnResult }, errors: WRITE_ERRORS,
  }),
};

export const policyEvents = {
  recordPolicyEvent: endpoint({
    method: 'POST', path: '/policy-events', operationId: 'recordPolicyEvent', summary: 'Record a policy decision on a message',
    body: RecordPolicyEventRequest, responses: { 201: policyEventBody }, errors: WRITE_ERRORS,
  }),
  listPolicyEvents: endpoint({
    method: 'GET', path: '/policy-events', operationId: 'listPolicyEvents', summary: 'A conversation\'s policy events, newest first',
    query: z.object({ conversation_id: uuid, limit: limitParam.optional(), before: cursorParam.optional() }).strict(),
    responses: { 200: PolicyEventPage }, errors: READ_ERRORS, replicaRead: true,
  }),
};

