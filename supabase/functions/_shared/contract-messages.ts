/** The HTTP contract of /functions/v1/messages (see endpoint.ts). */
import { z } from 'zod';
import { component, endpoint, READ_ERRORS, WRITE_ERRORS } from './endpoint.ts';
import { cursorParam, jsonObject, jsonObjectOut, jsonValue, limitParam, nextCursor, timestampOut, uuid } from './schemas.ts';
import { messageRole } from './vocab.ts';

/** A part: an object with a string `type`, kept by reference (every other key, `__proto__` too, is stored as sent). */
const part = z
  .custom<{ type: string; [key: string]: z.core.util.JSONType }>(
    (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as { type?: unknown }).type === 'string',
    'must be an object with a string `type`',
  )
  .meta({ type: 'object', required: ['type'], properties: { type: { type: 'string' } }, additionalProperties: true });

export const TextContent = z.object({ type: z.literal('text'), text: z.string() }).strict();
export const PartsContent = z.object({ type: z.literal('parts'), parts: z.array(part).min(1).max(1000) }).strict();
/** v2 content: `{"type":"text","text":…}` or `{"type":"parts","parts":[{"type":…},…]}`. */
export const MessageContent = component('MessageContent', z.union([TextContent, PartsContent]));
/** What a client may send: a string is stored as text content. */
const contentIn = z.union([z.string(), TextContent, PartsContent]);

export const Attachment = component(
  'Attachment',
  z
    .object({
      id: uuid,
      position: z.number().int().min(0),
      type: z.string().nullable(),
      name: z.string(),
      storage_path: z.string(),
      mime_type: z.string().nullable(),
      size_bytes: z.number().int().min(0).nullable(),
      metadata: jsonObjectOut,
    })
    .strict(),
);

export const ToolCall = component(
  'ToolCall',
  z
    .object({
      id: uuid,
      position: z.number().int().min(0),
      tool_call_id: z.string(),
      tool_name: z.string(),
      args: jsonValue,
      result: jsonValue,
      text_position: z.number().int().nullable(),
      is_partial: z.boolean(),
      /** The call's state as a chat client saved it (AI SDK tool part state); null for calls sent to POST /messages. */
      state: z.string().nullable(),
    })
    .strict(),
);

export const Message = component(
  'Message',
  z
    .object({
      id: uuid,
      conversation_id: uuid,
      user_id: uuid,
      agent_id: uuid.nullable(),
      role: messageRole,
      content: MessageContent,
      version: z.number().int().min(1),
      parent_message_id: uuid.nullable(),
      metadata: jsonObjectOut,
      client_message_id: z.string().nullable(),
      created_at: timestampOut,
      updated_at: timestampOut,
      deleted_at: timestampOut.nullable(),
      attachments: z.array(Attachment),
      tool_calls: z.array(ToolCall),
    })
    .strict(),
  'A message (public.chat_messages_expanded): the row with its attachments and tool calls in order.',
);

const attachmentIn = z
  .object({
    name: z.string().min(1).max(1000),
    storage_path: z.string().min(1).max(2000),
    type: z.string().max(200).nullish(),
    mime_type: z.string().max(200).nullish(),
    size_bytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullish(),
    metadata: jsonObject.optional(),
  })
  .strict();

const toolCallIn = z
  .object({
    tool_call_id: z.string().min(1).max(500),
    tool_name: z.string().min(1).max(500),
    args: z.unknown().optional(),
    result: z.unknown().optional(),
    text_position: z.number().int().min(0).max(2_147_483_647).nullish(),
    is_partial: z.boolean().optional(),
  })
  .strict();

export const SendMessageRequest = component(
  'SendMessageRequest',
  z
    .object({
      conversation_id: uuid.optional(),
      role: messageRole,
      content: contentIn,
      client_message_id: z.string().min(1).max(200).optional(),
      parent_message_id: uuid.nullish(),
      agent_id: uuid.nullish(),
      metadata: jsonObject.optional(),
      attachments: z.array(attachmentIn).max(100).optional(),
      tool_calls: z.array(toolCallIn).max(100).optional(),
      /** Title of a conversation this message starts (ignored for an existing one). */
      title: z.string().max(500).optional(),
      /** service_role only: the user the message belongs to (users always write as themselves). */
      user_id: uuid.optional(),
    })
    .strict(),
);

export const EditMessageRequest = component('EditMessageRequest', z.object({ content: contentIn, metadata: jsonObject.optional() }).strict());

const messageBody = component('MessageResponse', z.object({ message: Message }).strict());
export const MessagePage = component('MessagePage', z.object({ messages: z.array(Message), next_cursor: nextCursor }).strict());

export const messages = {
  sendMessage: endpoint({
    method: 'POST', path: '/messages', operationId: 'sendMessage', summary: 'Send a message',
    description: 'Starts the conversation when needed. A retry with the same client_message_id returns the same message with 200.',
    body: SendMessageRequest, responses: { 201: messageBody, 200: messageBody }, errors: WRITE_ERRORS,
  }),
  listMessages: endpoint({
    method: 'GET', path: '/messages', operationId: 'listMessages', summary: 'Messages of a conversation, newest first',
    query: z.object({ conversation_id: uuid, limit: limitParam.optional(), before: cursorParam.optional() }).strict(),
    responses: { 200: MessagePage }, errors: READ_ERRORS, replicaRead: true,
  }),
  editMessage: endpoint({
    method: 'PATCH', path: '/messages/{id}', operationId: 'editMessage', summary: 'Edit a message (version + 1)',
    body: EditMessageRequest, responses: { 200: messageBody }, errors: WRITE_ERRORS,
  }),
  deleteMessage: endpoint({
    method: 'DELETE', path: '/messages/{id}', operationId: 'deleteMessage', summary: 'Soft-delete a message',
    responses: { 204: null }, errors: WRITE_ERRORS,
  }),
};
