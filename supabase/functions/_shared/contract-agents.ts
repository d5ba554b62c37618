/** The HTTP contract of /functions/v1/agents (see endpoint.ts). */
import { z } from 'zod';
import { component, endpoint, READ_ERRORS, WRITE_ERRORS } from './endpoint.ts';
import { cursorParam, jsonObject, jsonObjectOut, limitParam, nextCursor, timestampOut, uuid } from './schemas.ts';

const name = z
  .string()
  .max(200)
  .refine((s) => s.trim().length > 0, 'must not be empty or blank');

export const Agent = component(
  'Agent',
  z.object({ id: uuid, owner_id: uuid, name: z.string(), config: jsonObjectOut, created_at: timestampOut }).strict(),
  'An agent you own: memories, state, checkpoints and sessions hang on it.',
);

export const CreateAgentRequest = component(
  'CreateAgentRequest',
  z
    .object({
      name,
      config: jsonObject.optional(),
      /** service_role only: whose agent this is. */
      owner_id: uuid.optional(),
    })
    .strict(),
);

export const UpdateAgentRequest = component(
  'UpdateAgentRequest',
  z
    .object({ name: name.optional(), config: jsonObject.optional() })
    .strict()
    .refine((b) => b.name !== undefined || b.config !== undefined, 'give at least one of name, config'),
);

const agentBody = component('AgentResponse', z.object({ agent: Agent }).strict());
export const AgentPage = component('AgentPage', z.object({ agents: z.array(Agent), next_cursor: nextCursor }).strict());

export const agents = {
  createAgent: endpoint({
    method: 'POST', path: '/agents', operationId: 'createAgent', summary: 'Create an agent',
    body: CreateAgentRequest, responses: { 201: agentBody }, errors: WRITE_ERRORS,
  }),
  listAgents: endpoint({
    method: 'GET', path: '/agents', operationId: 'listAgents', summary: 'Your agents, newest first',
    query: z.object({ limit: limitParam.optional(), before: cursorParam.optional(), owner_id: uuid.optional() }).strict(),
    responses: { 200: AgentPage }, errors: READ_ERRORS, replicaRead: true,
  }),
  getAgent: endpoint({
    method: 'GET', path: '/agents/{id}', operationId: 'getAgent', summary: 'One agent',
    responses: { 200: agentBody }, errors: READ_ERRORS, replicaRead: true,
  }),
  updateAgent: endpoint({
    method: 'PATCH', path: '/agents/{id}', operationId: 'updateAgent', summary: 'Rename or reconfigure an agent',
    body: UpdateAgentRequest, responses: { 200: agentBody }, errors: WRITE_ERRORS,
  }),
  deleteAgent: endpoint({
    method: 'DELETE', path: '/agents/{id}', operationId: 'deleteAgent', summary: 'Delete an agent (its memories, states, checkpoints and snapshots with it)',
    responses: { 204: null }, errors: WRITE_ERRORS,
  }),
};
