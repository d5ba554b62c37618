/** The HTTP contract of /functions/v1/sessions (see endpoint.ts). */
import { z } from 'zod';
import { component, endpoint, READ_ERRORS, WRITE_ERRORS } from './endpoint.ts';
import { cursorParam, int32, jsonObject, jsonObjectOut, limitParam, nextCursor, timestampOut, uuid } from './schemas.ts';
import { sessionStatus } from './vocab.ts';

export const Session = component(
  'Session',
  z
    .object({
      id: uuid,
      user_id: uuid,
      agent_id: uuid.nullable(),
      title: z.string().nullable(),
      status: sessionStatus,
      session_state: jsonObjectOut,
      metadata: jsonObjectOut,
      message_count: z.number().int().min(0),
      token_count: z.number().int().min(0),
      last_message_at: timestampOut.nullable(),
      created_at: timestampOut,
      updated_at: timestampOut,
    })
    .strict(),
  'A conversation (id = the conversation id); message_count, token_count and last_message_at are kept by triggers.',
);

export const Snapshot = component(
  'Snapshot',
  z
    .object({
      id: uuid,
      session_id: uuid,
      agent_id: uuid,
      user_id: uuid.nullable(),
      message_ids: z.array(uuid),
      first_message_at: timestampOut.nullable(),
      last_message_at: timestampOut.nullable(),
      memory_ids: z.array(uuid),
      context: jsonObjectOut,
      token_count: z.number().int().min(0),
      token_budget: z.number().int().min(1).nullable(),
      build_metrics: jsonObjectOut,
      created_at: timestampOut,
    })
    .strict(),
  'The context an agent was given at one point of a session.',
);

export const CreateSessionRequest = component(
  'CreateSessionRequest',
  z
    .object({
      id: uuid.optional(),
      agent_id: uuid.nullish(),
      title: z.string().max(500).nullish(),
      status: sessionStatus.optional(),
      session_state: jsonObject.optional(),
      metadata: jsonObject.optional(),
      /** service_role only: whose session this is. */
      user_id: uuid.optional(),
    })
    .strict(),
);

export const UpdateSessionRequest = component(
  'UpdateSessionRequest',
  z
    .object({
      agent_id: uuid.nullish(),
      title: z.string().max(500).nullish(),
      status: sessionStatus.optional(),
      session_state: jsonObject.optional(),
      metadata: jsonObject.optional(),
    })
    .strict()
    .refine((b) => Object.keys(b).length > 0, 'give at least one of agent_id, title, status, session_state, metadata'),
);

export const SnapshotRequest = component(
  'SnapshotRequest',
  z
    .object({
      agent_id: uuid.optional(),
      /** The message window; default: the newest `window` live messages of the session. */
      message_ids: z.array(uuid).max(1000).optional(),
      window: z.number().int().min(1).max(1000).optional(),
      memory_ids: z.array(uuid).max(1000).optional(),
      context: jsonObject.optional(),
      token_count: int32.optional(),
      token_budget: z.number().int().min(1).max(2_147_483_647).nullish(),
      build_metrics: jsonObject.optional(),
    })
    .strict(),
);

const sessionBody = component('SessionResponse', z.object({ session: Session }).strict());

export const sessions = {
  createSession: endpoint({
    method: 'POST', path: '/sessions', operationId: 'createSession', summary: 'Create a session (a conversation)',
    body: CreateSessionRequest, responses: { 201: sessionBody }, errors: WRITE_ERRORS,
  }),
  listSessions: endpoint({
    method: 'GET', path: '/sessions', operationId: 'listSessions', summary: 'Your sessions, newest first',
    query: z.object({ limit: limitParam.optional(), before: cursorParam.optional(), status: sessionStatus.optional() }).strict(),
    responses: { 200: component('SessionPage', z.object({ sessions: z.array(Session), next_cursor: nextCursor }).strict()) },
    errors: READ_ERRORS, replicaRead: true,
  }),
  getSession: endpoint({
    method: 'GET', path: '/sessions/{id}', operationId: 'getSession', summary: 'One session',
    responses: { 200: sessionBody }, errors: READ_ERRORS, replicaRead: true,
  }),
  updateSession: endpoint({
    method: 'PATCH', path: '/sessions/{id}', operationId: 'updateSession', summary: 'Change the descriptive fields of a session',
    body: UpdateSessionRequest, responses: { 200: sessionBody }, errors: WRITE_ERRORS,
  }),
  snapshot: endpoint({
    method: 'POST', path: '/sessions/{id}/snapshots', operationId: 'snapshot', summary: 'Record the context an agent was given',
    body: SnapshotRequest, responses: { 201: component('SnapshotResponse', z.object({ snapshot: Snapshot }).strict()) }, errors: WRITE_ERRORS,
  }),
  listSnapshots: endpoint({
    method: 'GET', path: '/sessions/{id}/snapshots', operationId: 'listSnapshots', summary: "A session's snapshots, newest first",
    query: z.object({ limit: limitParam.optional() }).strict(),
    responses: { 200: component('SnapshotList', z.object({ snapshots: z.array(Snapshot) }).strict()) }, errors: READ_ERRORS, replicaRead: true,
  }),
};
