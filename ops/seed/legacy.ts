/**
 * Realistic, deterministic legacy (v1) chat data — the dirty kind production really holds.
 *
 * Used by `npm run seed:legacy`, by the data-migration tests and by the benchmarks. Every value comes
 * from one seeded PRNG, so the same options give byte-identical tables (same ids on a fresh database).
 *
 * Speed: rows are generated in JavaScript in chunks and written with one statement per chunk — on PGlite a
 * COPY from an in-memory blob, elsewhere (postgres.js) ONE json parameter expanded by `json_to_recordset`
 * (cast `$1::text::json`: postgres.js would JSON-encode again a value it sees typed as json). Per-row FK
 * checks are skipped where safe (see `skipTriggers`). 50 kB texts travel as a short text plus a repeat count.
 *
 * Dirt: with probability `dirtyRate` a message gets exactly one dirt kind (see `messageDirtKinds`), so
 * the result can say exactly how many rows the migration must quarantine and why.
 */
import {
  assistantLines,
  epoch,
  Gen,
  makeMessage,
  messageDirtKinds,
  models,
  prng,
  quarantineDirtKinds,
  stateDirtKinds,
  toolNames,
  userLines,
  type Conversation,
  type MessageDirtKind,
  type MsgRow,
  type QuarantineDirtKind,
  type StateDirtKind,
} from './rows.ts';
import { assertLegacySchema, makeWriter, type SeedTarget } from './writer.ts';

export { messageDirtKinds, prng, quarantineDirtKinds, repairableDirtKinds, stateDirtKinds } from './rows.ts';
export type { MessageDirtKind, QuarantineDirtKind, StateDirtKind } from './rows.ts';
export { LegacySchemaMissingError } from './writer.ts';

export interface SeedOptions {
  /** Conversations that have chat_messages rows. */
  conversations: number;
  /** Messages in total, spread unevenly over the conversations (at least one each). */
  messages: number;
  /** Probability that a message (or a chat_states blob) carries one kind of dirt; default 0.05. */
  dirtyRate?: number;
  /** PRNG seed; default 1. */
  seed?: number;
  /** Users; default ceil(conversations / 8). */
  users?: number;
  /** Share of conversations that also have a chat_states blob; default 0.5. */
  stateRate?: number;
  /** Extra conversations that exist only in chat_states (their history becomes v2 messages); default ceil(5% of conversations). */
  stateOnlyConversations?: number;
  /** Rows per INSERT; default 5000. */
  chunkSize?: number;
  /**
   * Skip per-row foreign-key and trigger work while inserting (`session_replication_role = replica`, set
   * local to each chunk's transaction). The seeder's rows are referentially consistent by construction.
   * Default: on when allowed (superuser) and the data migration is absent or in `legacy` mode — never while
   * dual-write triggers must see the rows.
   */
  skipTriggers?: boolean;
  /** Called after every chunk with messages inserted so far. */
  onProgress?: (done: number, total: number) => void;
}

export interface SeedResult {
  users: number;
  agents: number;
  conversations: number;
  stateOnlyConversations: number;
  messages: number;
  chatStates: number;
  /** History entries in valid chat_states blobs of state-only conversations (they become v2 messages). */
  stateOnlyHistoryMessages: number;
  /** Memory-context items in valid blobs (they become `working` memories). */
  memoryContextItems: number;
  firstMessageId: number | null;
  lastMessageId: number | null;
  /** Messages per dirt kind (each dirty message has exactly one). */
  dirt: Record<MessageDirtKind, number>;
  stateDirt: Record<StateDirtKind, number>;
  expectedQuarantine: {
    messages: number;
    states: number;
    byReason: Partial<Record<QuarantineDirtKind | 'invalid_json', number>>;
  };
  /** messages that must migrate = messages - expectedQuarantine.messages */
  expectedMigrated: number;
  ms: number;
  rowsPerSecond: number;
  /** How rows were written: COPY (PGlite) or json_to_recordset; with or without replica mode. */
  method: string;
}

export async function seedLegacy(db: SeedTarget, opts: SeedOptions): Promise<SeedResult> {
  const started = performance.now();
  const nConv = Math.max(0, Math.floor(opts.conversations));
  const nMsg = Math.max(nConv, Math.floor(opts.messages));
  const p = opts.dirtyRate ?? 0.05;
  if (!(p >= 0 && p <= 1)) throw new RangeError(`dirtyRate must be between 0 and 1 (got ${p})`);
  const g = new Gen(prng(opts.seed ?? 1));
  const chunkSize = opts.chunkSize ?? 5000;
  const nUsers = Math.max(1, opts.users ?? Math.ceil(nConv / 8));
  const stateRate = opts.stateRate ?? 0.5;
  const nStateOnly = opts.stateOnlyConversations ?? Math.ceil(nConv * 0.05);

  await assertLegacySchema(db);
  const writer = await makeWriter(db, opts.skipTriggers);

  // --- users and agents -------------------------------------------------------------------------
  const users: string[] = [];
  const agentsByUser: string[][] = [];
  const userRows: { id: string; email: string; created_at: string }[] = [];
  const agentRows: { id: string; owner_id: string; name: string; config: unknown; created_at: string }[] = [];
  for (let u = 0; u < nUsers; u++) {
    const id = g.uuid();
    users.push(id);
    userRows.push({ id, email: `seed-${id.slice(0, 8)}-${u}@example.test`, created_at: new Date(epoch - g.int(1, 400) * 86_400_000).toISOString() });
    const ags: string[] = [];
    for (let k = g.int(1, 3); k > 0; k--) {
      const aid = g.uuid();
      ags.push(aid);
      agentRows.push({
        id: aid,
        owner_id: id,
        name: g.pick(['Research assistant', 'Support bot', 'SQL helper', 'Travel planner', 'Écrivain ✍️']),
        config: { model: g.pick(models), temperature: Math.round(g.r() * 100) / 100, tools: toolNames.slice(0, g.int(0, 4)) },
        created_at: new Date(epoch - g.int(0, 30) * 86_400_000).toISOString(),
      });
    }
    agentsByUser.push(ags);
  }
  for (let i = 0; i < userRows.length; i += chunkSize) {
    await writer.query(
      `insert into auth.users (id, email, aud, role, created_at, updated_at)
       select r.id, r.email, 'authenticated', 'authenticated', r.created_at, r.created_at
       from json_to_recordset($1::text::json) as r(id uuid, email text, created_at timestamptz)`,
      [JSON.stringify(userRows.slice(i, i + chunkSize))],
    );
  }
  for (let i = 0; i < agentRows.length; i += chunkSize) {
    await writer.query(
      `insert into public.agents (id, owner_id, name, config, created_at)
       select r.id, r.owner_id, r.name, r.config, r.created_at
       from json_to_recordset($1::text::json) as r(id uuid, owner_id uuid, name text, config jsonb, created_at timestamptz)`,
      [JSON.stringify(agentRows.slice(i, i + chunkSize))],
    );
  }

  // --- conversations: sizes skewed like real chats (a few long ones, many short) ----------------
  const convs: Conversation[] = [];
  const weights: number[] = [];
  let wsum = 0;
  for (let c = 0; c < nConv; c++) {
    const user = g.int(0, nUsers - 1);
    const ags = agentsByUser[user]!;
    convs.push({ id: g.uuid(), user, agent: g.chance(0.05) ? null : g.pick(ags), left: 1, step: 0, lastToolCallId: null });
    const w = -Math.log(1 - g.r() * 0.999); // exponential
    weights.push(w);
    wsum += w;
  }
  let assigned = nConv;
  for (let c = 0; c < nConv && assigned < nMsg; c++) {
    const extra = Math.min(nMsg - assigned, Math.floor(((nMsg - nConv) * weights[c]!) / wsum));
    convs[c]!.left += extra;
    assigned += extra;
  }
  for (let c = 0; assigned < nMsg; c = (c + 1) % nConv) {
    convs[c]!.left++;
    assigned++;
  }

  const dirt = Object.fromEntries(messageDirtKinds.map((k) => [k, 0])) as Record<MessageDirtKind, number>;
  const quarantineSet = new Set<string>(quarantineDirtKinds);

  // --- messages: conversations interleaved in windows, ids follow time like production -----------
  const window = 16;
  let done = 0;
  let firstId: number | null = null;
  let lastId: number | null = null;
  let clock = epoch;
  let batch: MsgRow[] = [];
  const before = await db.query<{ hi: string | number | null }>(`select max(id) as hi from public.chat_messages`);
  const baseId = Number(before[0]?.hi ?? 0);
  const flush = async () => {
    if (!batch.length) return;
    await writer.messages(batch);
    done += batch.length;
    batch = [];
    opts.onProgress?.(done, nMsg);
  };

  for (let w0 = 0; w0 < nConv; w0 += window) {
    const active = convs.slice(w0, w0 + window);
    let open = active.length;
    while (open > 0) {
      for (const conv of active) {
        if (conv.left <= 0) continue;
        batch.push(makeMessage(g, conv, users[conv.user]!, (clock += g.int(500, 90_000)), p, dirt));
        conv.left--;
        conv.step++;
        if (conv.left === 0) open--;
        if (batch.length >= chunkSize) await flush();
      }
    }
  }
  await flush();
  if (done) {
    const ids = await db.query<{ lo: string | number; hi: string | number }>(
      `select min(id) as lo, max(id) as hi from public.chat_messages where id > $1`,
      [baseId],
    );
    firstId = Number(ids[0]!.lo);
    lastId = Number(ids[0]!.hi);
  }

  // --- chat_states blobs -------------------------------------------------------------------------
  const stateDirt = Object.fromEntries(stateDirtKinds.map((k) => [k, 0])) as Record<StateDirtKind, number>;
  const stateRows: { conversation_id: string; user_id: string; agent_id: string; content: string; updated_at: string }[] = [];
  let stateOnlyHistory = 0;
  let memoryItems = 0;
  const addState = (convId: string, user: number, agent: string, stateOnly: boolean) => {
    const dirty = g.chance(p) ? g.pick(stateDirtKinds) : null;
    const historyLen = g.int(stateOnly ? 1 : 0, 6);
    const history = [];
    for (let h = 0; h < historyLen; h++) {
      const role = h % 2 === 0 ? 'user' : 'assistant';
      history.push({
        role,
        content: role === 'user' ? g.pick(userLines) : g.pick(assistantLines),
        timestamp: new Date(epoch - g.int(1, 1000) * 60_000).toISOString(),
        metadata: g.chance(0.5) ? { tokens: g.int(3, 60) } : {},
      });
    }
    const memories = [];
    for (let m = g.int(0, 4); m > 0; m--) {
      const item: Record<string, unknown> = {
        source: g.pick(['conversation', 'tool', 'document']),
        content: g.pick([...userLines, ...assistantLines]),
        relevance_score: Math.round(g.r() * 1000) / 1000,
        type: g.pick(['fact', 'preference', 'task']),
        timestamp: new Date(epoch - g.int(1, 1000) * 60_000).toISOString(),
      };
      memories.push(item);
    }
    if (dirty === 'relevance_out_of_range' && memories.length) memories[0]!.relevance_score = g.pick([1.7, -0.3, 42]);
    if (dirty === 'missing_relevance' && memories.length) delete memories[0]!.relevance_score;
    const blob = {
      user_input: g.pick(userLines),
      focus: [g.pick(['billing', 'travel', 'sql', 'email'])],
      step_count: g.int(0, 40),
      last_tool_result: g.chance(0.5) ? { tool: g.pick(toolNames), ok: true } : null,
      conversation_history: history,
      memory_context: memories,
    };
    let content = JSON.stringify(blob);
    if (dirty === 'invalid_json') content = g.pick([content.slice(0, Math.floor(content.length / 2)), "{'user_input': 'single quotes'}", 'AgentState(user_input=...)', '']);
    else {
      memoryItems += memories.length;
      if (stateOnly) stateOnlyHistory += history.length;
    }
    if (dirty) stateDirt[dirty]++;
    stateRows.push({ conversation_id: convId, user_id: users[user]!, agent_id: agent, content, updated_at: new Date(epoch + g.int(0, 1e6) * 1000).toISOString() });
  };
  for (const conv of convs) if (conv.agent && g.chance(stateRate)) addState(conv.id, conv.user, conv.agent, false);
  for (let s = 0; s < nStateOnly; s++) {
    const user = g.int(0, nUsers - 1);
    addState(g.uuid(), user, g.pick(agentsByUser[user]!), true);
  }
  for (let i = 0; i < stateRows.length; i += chunkSize) {
    await writer.query(
      `insert into public.chat_states (conversation_id, user_id, agent_id, content, updated_at)
       select r.conversation_id, r.user_id, r.agent_id, r.content, r.updated_at
       from json_to_recordset($1::text::json) as r(conversation_id uuid, user_id uuid, agent_id uuid, content text, updated_at timestamptz)`,
      [JSON.stringify(stateRows.slice(i, i + chunkSize))],
    );
  }

  const byReason: SeedResult['expectedQuarantine']['byReason'] = {};
  let qMessages = 0;
  for (const k of messageDirtKinds) {
    if (quarantineSet.has(k) && dirt[k] > 0) {
      byReason[k as QuarantineDirtKind] = dirt[k];
      qMessages += dirt[k];
    }
  }
  if (stateDirt.invalid_json) byReason.invalid_json = stateDirt.invalid_json;
  const ms = performance.now() - started;
  return {
    users: nUsers,
    agents: agentRows.length,
    conversations: nConv,
    stateOnlyConversations: nStateOnly,
    messages: done,
    chatStates: stateRows.length,
    stateOnlyHistoryMessages: stateOnlyHistory,
    memoryContextItems: memoryItems,
    firstMessageId: firstId,
    lastMessageId: lastId,
    dirt,
    stateDirt,
    expectedQuarantine: { messages: qMessages, states: stateDirt.invalid_json, byReason },
    expectedMigrated: done - qMessages,
    ms,
    method: writer.method,
    rowsPerSecond: done / Math.max(ms / 1000, 1e-9),
  };
}
