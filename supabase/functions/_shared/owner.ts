/**
 * Who a row belongs to. Users always act as themselves; the service role (which bypasses RLS) acts for the
 * owner of the agent or session it names, so rows it writes look exactly like the user's own.
 */
import type { Caller } from './auth.ts';
import type { Tx } from './db.ts';
import { notFound } from './http.ts';

/** The agent as the caller sees it (RLS), or 404 — another user's agent is indistinguishable from none. */
export async function visibleAgent(tx: Tx, caller: Caller, agentId: string): Promise<{ id: string; owner_id: string }> {
  const [a] = await tx`select id, owner_id from public.agents where id = ${agentId}`;
  if (!a) throw notFound('Agent');
  return { id: a.id as string, owner_id: caller.userId ?? (a.owner_id as string) };
}

export async function visibleSession(tx: Tx, sessionId: string): Promise<{ id: string; user_id: string; agent_id: string | null }> {
  const [s] = await tx`select id, user_id, agent_id from public.conversation_sessions where id = ${sessionId}`;
  if (!s) throw notFound('Session');
  return s as unknown as { id: string; user_id: string; agent_id: string | null };
}
