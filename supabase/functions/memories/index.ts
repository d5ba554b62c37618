/**
 * /functions/v1/memories — agent memories with 1536-dim embeddings and cosine similarity search.
 * Memories are reached only through an agent the caller owns (RLS); another user's agent answers 404.
 */
import { z } from 'zod';
import { authenticate, requireUserOrService, type Caller } from '../_shared/auth.ts';
import { asCaller, asReader } from '../_shared/db.ts';
import { handler, json, notFound, readJson } from '../_shared/http.ts';
import { visibleAgent } from '../_shared/owner.ts';
import { memoryJson } from '../_shared/rows.ts';
import { jsonObject, timestamp, uuid } from '../_shared/validate.ts';

const EMBEDDING_DIMENSIONS = 1536;
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

const memoryType = z.enum(['episodic', 'semantic', 'procedural', 'working']);
const embedding = z
  .array(z.number().finite().min(-1e6).max(1e6))
  .length(EMBEDDING_DIMENSIONS)
  .refine((v) => float4Norm(v) >= MIN_EMBEDDING_NORM, {
    message: `cannot be normalised: its length (norm) is zero or below 2^-63 once stored as float4, so cosine similarity is undefined; send the model's embedding, not a zero or near-zero vector`,
  });

const storeBody = z
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
  .strict();

const searchBody = z
  .object({
    agent_id: uuid,
    embedding,
    match_count: z.number().int().min(1).max(200).optional(),
    memory_types: z.array(memoryType).min(1).max(4).optional(),
    min_importance: z.number().min(0).max(1).optional(),
  })
  .strict();

const vectorText = (v: number[]) => `[${v.join(',')}]`;

async function store(req: Request, caller: Caller): Promise<Response> {
  const b = storeBody.parse(await readJson(req));
  return await asCaller(caller, async (tx) => {
    const agent = await visibleAgent(tx, caller, b.agent_id);
    // A referenced row the caller cannot see answers 404 like every other one (RLS would say 42501).
    if (b.source_message_id) {
      const [m] = await tx`select id from public.chat_messages_v2 where id = ${b.source_message_id}`;
      if (!m) throw notFound('Source message');
    }
    const [row] = await tx.unsafe(
      `insert into public.agent_memories as am
         (agent_id, user_id, memory_type, content, embedding, embedding_model, importance, decay_rate,
          related_memory_ids, source_message_id, metadata, expires_at)
       values ($1, $2, $3, $4, $5::text::extensions.vector, $6, coalesce($7::real, 0.5), coalesce($8::real, 0.01),
               coalesce($9::uuid[], '{}'), $10, $11::text::jsonb, $12::text::timestamptz)
       returning ${memoryJson} as memory`,
      [
        agent.id,
        agent.owner_id,
        b.memory_type,
        b.content,
        b.embedding ? vectorText(b.embedding) : null,
        b.embedding_model ?? null,
        b.importance ?? null,
        b.decay_rate ?? null,
        b.related_memory_ids ? `{${b.related_memory_ids.join(',')}}` : null,
        b.source_message_id ?? null,
        JSON.stringify(b.metadata ?? {}),
        b.expires_at ?? null,
      ],
    );
    return json(201, { memory: row!.memory });
  });
}

async function search(req: Request, caller: Caller): Promise<Response> {
  const b = searchBody.parse(await readJson(req));
  return await asReader(req, caller, async (tx) => {
    await visibleAgent(tx, caller, b.agent_id);
    // match_agent_memories: cosine distance on the IVFFlat index, probes sized to the index, exact re-sort.
    const rows = await tx.unsafe(
      `select m.id, m.content, m.memory_type, m.importance, m.similarity
         from public.match_agent_memories($1, $2::text::extensions.vector, $3, $4::text[], $5::real) m`,
      [b.agent_id, vectorText(b.embedding), b.match_count ?? 10, b.memory_types ? `{${b.memory_types.join(',')}}` : null, b.min_importance ?? null],
    );
    return json(200, {
      matches: rows.map((r) => ({
        id: r.id,
        content: r.content,
        memory_type: r.memory_type,
        importance: Number(r.importance),
        similarity: Number(r.similarity),
      })),
    });
  });
}

const auth = async (req: Request) => requireUserOrService(await authenticate(req));

Deno.serve(
  handler('memories', auth, [
    { method: 'POST', path: '/', handler: ({ req }, c) => store(req, c) },
    { method: 'POST', path: '/search', handler: ({ req }, c) => search(req, c) },
  ]),
);
