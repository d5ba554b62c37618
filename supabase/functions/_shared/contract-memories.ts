/** The HTTP contract of /functions/v1/memories (see endpoint.ts). */
import { z } from 'zod';
import { component, endpoint, READ_ERRORS, WRITE_ERRORS } from './endpoint.ts';
import { jsonObject, jsonObjectOut, timestamp, timestampOut, uuid } from './schemas.ts';
import { memoryType } from './vocab.ts';

export const EMBEDDING_DIMENSIONS = 1536;
/**
 * The smallest norm a stored or query embedding may have: 2^-63, i.e. its squared norm is at least the
 * smallest normal float4 (2^-126). pgvector keeps float4 and sums squares in float4 for cosine distance;
 * below this the sum underflows to 0 or to a denormal, and a zero vector scores NaN (`"similarity": null`)
 * while 1536 × 1e-40 scores any memory 1.0. The same bound is the CHECK on agent_memories.embedding and
 * the AJC13 test in match_agent_memories.
 */
const MIN_EMBEDDING_NORM = 2 ** -63;

/** The norm pgvector's vector_norm computes: float4 elements, summed in double. */
function float4Norm(v: number[]): number {
  let sum = 0;
  for (const x of v) {
    const f = Math.fround(x);
    sum += f * f;
  }
  return Math.sqrt(sum);
}

const embedding = z
  .array(z.number().finite().min(-1e6).max(1e6))
  .length(EMBEDDING_DIMENSIONS)
  .refine((v) => float4Norm(v) >= MIN_EMBEDDING_NORM, {
    message: `cannot be normalised: its length (norm) is zero or below 2^-63 once stored as float4, so cosine similarity is undefined; send the model's embedding, not a zero or near-zero vector`,
  });

export const Memory = component(
  'Memory',
  z
    .object({
      id: uuid,
      agent_id: uuid,
      user_id: uuid.nullable(),
      memory_type: memoryType,
      content: z.string(),
      has_embedding: z.boolean(),
      embedding_model: z.string().nullable(),
      importance: z.number(),
      decay_rate: z.number(),
      access_count: z.number().int(),
      last_accessed_at: timestampOut.nullable(),
      related_memory_ids: z.array(uuid),
      source_message_id: uuid.nullable(),
      metadata: jsonObjectOut,
      expires_at: timestampOut.nullable(),
      created_at: timestampOut,
      updated_at: timestampOut,
    })
    .strict(),
  'A memory as returned: the embedding stays in the database, has_embedding says whether there is one.',
);

export const MemoryMatch = component(
  'MemoryMatch',
  z.object({ id: uuid, content: z.string(), memory_type: memoryType, importance: z.number(), similarity: z.number() }).strict(),
);

export const StoreMemoryRequest = component(
  'StoreMemoryRequest',
  z
    .object({
      agent_id: uuid,
      memory_type: memoryType,
      content: z.string().min(1).max(100_000),
      embedding: embedding.optional(),
      embedding_model: z.string().max(200).optional(),
      importance: z.number().min(0).max(1).optional(),
      decay_rate: z.number().min(0).max(1).optional(),
      related_memory_ids: z.array(uuid).max(100).optional(),
      source_message_id: uuid.optional(),
      metadata: jsonObject.optional(),
      expires_at: timestamp.nullish(),
    })
    .strict(),
);

export const SearchMemoriesRequest = component(
  'SearchMemoriesRequest',
  z
    .object({
      agent_id: uuid,
      embedding,
      match_count: z.number().int().min(1).max(200).optional(),
      memory_types: z.array(memoryType).min(1).max(4).optional(),
      min_importance: z.number().min(0).max(1).optional(),
    })
    .strict(),
);

export const memories = {
  storeMemory: endpoint({
    method: 'POST', path: '/memories', operationId: 'storeMemory', summary: 'Store a memory',
    body: StoreMemoryRequest, responses: { 201: component('MemoryResponse', z.object({ memory: Memory }).strict()) }, errors: WRITE_ERRORS,
  }),
  searchMemories: endpoint({
    method: 'POST', path: '/memories/search', operationId: 'searchMemories', summary: 'Most similar memories first',
    body: SearchMemoriesRequest, responses: { 200: component('MemoryMatches', z.object({ matches: z.array(MemoryMatch) }).strict()) },
    errors: [...READ_ERRORS, 408, 413], replicaRead: true,
  }),
};
