/**
 * /functions/v1/memories — agent memories with 1536-dim embeddings and cosine similarity search.
 * Memories are reached only through an agent the caller owns (RLS); another user's agent answers 404.
 * Requests are validated against the contract (_shared/contract-memories.ts), which also gives the routes.
 */
import { authenticate, requireUserOrService, type Caller } from '../_shared/auth.ts';
import { api } from '../_shared/contract.ts';
import { asCaller, asReader } from '../_shared/db.ts';
import { body, handler, json, notFound, on } from '../_shared/http.ts';
import { visibleAgent } from '../_shared/owner.ts';
import { memoryJson } from '../_shared/rows.ts';

const vectorText = (v: number[]) => `[${v.join(',')}]`;

async function store(req: Request, caller: Caller): Promise<Response> {
  const b = await body(req, api.storeMemory);
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
  const b = await body(req, api.searchMemories);
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
    on(api.storeMemory, ({ req }, c) => store(req, c)),
    on(api.searchMemories, ({ req }, c) => search(req, c)),
  ]),
);
