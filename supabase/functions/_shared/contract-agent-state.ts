/** The HTTP contract of /functions/v1/agent-state (see endpoint.ts). */
import { z } from 'zod';
import { component, endpoint, READ_ERRORS, WRITE_ERRORS } from './endpoint.ts';
import { cursorParam, int32, jsonObject, jsonObjectOut, limitParam, nextCursor, timestamp, timestampOut, uuid } from './schemas.ts';
import { checkpointType, stateType } from './vocab.ts';

export const AgentState = component(
  'AgentState',
  z
    .object({
      id: uuid,
      agent_id: uuid,
      user_id: uuid.nullable(),
      session_id: uuid.nullable(),
      state_type: stateType,
      state: jsonObjectOut,
      state_hash: z.string().regex(/^[0-9a-f]{64}$/),
      version: z.number().int().min(1),
      is_current: z.boolean(),
      parent_state_id: uuid.nullable(),
      metadata: jsonObjectOut,
      created_at: timestampOut,
    })
    .strict(),
  'One version of a state stream (agent, user, state_type, session).',
);

export const Checkpoint = component(
  'Checkpoint',
  z
    .object({
      id: uuid,
      agent_id: uuid,
      user_id: uuid.nullable(),
      session_id: uuid.nullable(),
      state_id: uuid,
      snapshot_id: uuid.nullable(),
      parent_checkpoint_id: uuid.nullable(),
      checkpoint_type: checkpointType,
      label: z.string().nullable(),
      metadata: jsonObjectOut,
      retain_until: timestampOut.nullable(),
      created_at: timestampOut,
    })
    .strict(),
);

const stream = { agent_id: uuid, state_type: stateType, session_id: uuid.optional() };
/** GET without state_type: the most recently saved current state of the agent (in that session, if given). */
export const StateQuery = z.object({ ...stream, state_type: stateType.optional() }).strict();
export const StateHistoryQuery = z.object({ ...stream, limit: limitParam.optional(), before: cursorParam.optional() }).strict();
export const CheckpointsQuery = z.object({ agent_id: uuid, session_id: uuid.optional(), limit: limitParam.optional() }).strict();

export const SaveStateRequest = component(
  'SaveStateRequest',
  z
    .object({
      agent_id: uuid,
      state_type: stateType,
      session_id: uuid.nullish(),
      state: jsonObject,
      expected_version: int32.nullish(),
    })
    .strict(),
);

export const CheckpointRequest = component(
  'CheckpointRequest',
  z
    .object({
      agent_id: uuid,
      state_type: stateType,
      session_id: uuid.nullish(),
      snapshot_id: uuid.nullish(),
      checkpoint_type: checkpointType.optional(),
      label: z.string().max(200).optional(),
      metadata: jsonObject.optional(),
      retain_until: timestamp.nullish(),
      parent_checkpoint_id: uuid.nullish(),
    })
    .strict(),
);

export const RestoreRequest = component('RestoreRequest', z.object({ expected_version: int32.nullish() }).strict());

const stateBody = component('StateResponse', z.object({ state: AgentState }).strict());

export const agentState = {
  getState: endpoint({
    method: 'GET', path: '/agent-state', operationId: 'getState', summary: 'The current version of a state stream',
    description: '`state` is null for an agent (and session) you own with nothing saved yet: a stream at version 0.',
    query: StateQuery, responses: { 200: component('CurrentState', z.object({ state: AgentState.nullable() }).strict()) },
    errors: READ_ERRORS, replicaRead: true,
  }),
  saveState: endpoint({
    method: 'PUT', path: '/agent-state', operationId: 'saveState', summary: 'Save a new version (compare-and-set with expected_version)',
    body: SaveStateRequest, responses: { 200: stateBody }, errors: WRITE_ERRORS,
  }),
  stateHistory: endpoint({
    method: 'GET', path: '/agent-state/history', operationId: 'stateHistory', summary: 'Versions of a stream, newest first',
    query: StateHistoryQuery, responses: { 200: component('StatePage', z.object({ states: z.array(AgentState), next_cursor: nextCursor }).strict()) },
    errors: READ_ERRORS, replicaRead: true,
  }),
  listCheckpoints: endpoint({
    method: 'GET', path: '/agent-state/checkpoints', operationId: 'listCheckpoints', summary: "An agent's checkpoints, newest first",
    query: CheckpointsQuery, responses: { 200: component('CheckpointList', z.object({ checkpoints: z.array(Checkpoint) }).strict()) },
    errors: READ_ERRORS, replicaRead: true,
  }),
  checkpoint: endpoint({
    method: 'POST', path: '/agent-state/checkpoints', operationId: 'checkpoint', summary: 'Checkpoint the current version of a stream',
    body: CheckpointRequest, responses: { 201: component('CheckpointResponse', z.object({ checkpoint: Checkpoint }).strict()) }, errors: WRITE_ERRORS,
  }),
  restore: endpoint({
    method: 'POST', path: '/agent-state/checkpoints/{id}/restore', operationId: 'restore', summary: 'Make a checkpointed state current again (as a new version)',
    body: RestoreRequest, bodyRequired: false,
    responses: {
      200: component(
        'RestoreResult',
        z.object({ state: AgentState, restored_from: z.object({ checkpoint_id: uuid, version: z.number().int().min(1) }).strict() }).strict(),
      ),
    },
    errors: WRITE_ERRORS,
  }),
};
