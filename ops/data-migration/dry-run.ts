/**
 * Dry run of the data migration: what the next run would migrate and quarantine, and one real batch timed inside
 * a transaction that is rolled back — nothing is written. Part of the driver (./driver.ts re-exports it).
 */
import type { Db } from '../db.ts';
import { estimateLegacyRows, explain, getStatus, isPaused, requireApi } from './driver.ts';

export interface DryRunResult {
  /** Legacy rows not yet migrated or quarantined (from the status), or the planner estimate. */
  remaining: number | null;
  /** Rows in the remaining keyset range that the migration's rules send to quarantine, by reason. */
  wouldQuarantine: Record<string, number>;
  wouldMigrate: number;
  /** One real batch run inside a transaction that was rolled back. */
  sample: { rows: number; ms: number; migrated: number | null; quarantined: number | null } | null;
  chatStates: { total: number; invalidJson: number };
}

class Rollback extends Error {}

/**
 * Classifies the legacy rows that are neither migrated nor in open quarantine with the SQL's own rules — tenancy
 * first (chat_migration.conversation_owner, once per conversation; agent owner), then the row's shape
 * (chat_migration.message_problem) — read-only; array positions are folded so reasons group.
 */
const classifySql = `
with todo as materialized (
  select m.* from public.chat_messages m
   where not exists (select 1 from public.chat_messages_v2 v where v.legacy_id = m.id)
     and not exists (select 1 from chat_migration.quarantine q
                      where q.source_table = 'chat_messages' and q.source_id = m.id::text and q.resolved_at is null)
),
owners as materialized (
  select c.conversation_id, chat_migration.conversation_owner(c.conversation_id) as owner_id
    from (select distinct t.conversation_id from todo t) as c
)
select coalesce(
         case when m.user_id is distinct from o.owner_id then 'conversation_owned_by_other_user'
              when m.agent_id is not null and a.owner_id is distinct from m.user_id then 'agent_owned_by_other_user' end,
         regexp_replace(chat_migration.message_problem(m.role, m.metadata, m.attachments, m.tool_calls,
                          m.partial_tool_calls), '\\[[0-9]+\\]', '[i]', 'g'),
         'ok') as outcome,
       count(*)::bigint as n
  from todo m
  join owners o on o.conversation_id = m.conversation_id
  left join public.agents a on a.id = m.agent_id
 group by 1 order by 2 desc`;

export async function dryRun(db: Db, opts: { batchSize?: number } = {}): Promise<DryRunResult> {
  await requireApi(db);
  const before = await getStatus(db);
  const classified = await db.query<{ outcome: string; n: number | string }>(classifySql);
  const wouldQuarantine: Record<string, number> = {};
  let wouldMigrate = 0;
  for (const c of classified) {
    if (c.outcome === 'ok') wouldMigrate = Number(c.n);
    else wouldQuarantine[c.outcome] = Number(c.n);
  }
  const st = await db.query<{ total: number | string; invalid: number | string }>(
    `select count(*)::bigint as total,
            count(*) filter (where chat_migration.try_jsonb(content) is null)::bigint as invalid
     from public.chat_states`,
  );
  let sample: DryRunResult['sample'] = null;
  if (!isPaused(before)) {
    try {
      await db.transaction(async (tx) => {
        const t0 = performance.now();
        const r = await tx.query<{ n: number | string }>(`select public.migrate_chat_messages_batch($1) as n`, [opts.batchSize ?? null]);
        const ms = performance.now() - t0;
        const after = await getStatus(tx);
        sample = {
          rows: Number(r[0]?.n ?? 0),
          ms,
          migrated: after.migrated !== null && before.migrated !== null ? after.migrated - before.migrated : null,
          quarantined: after.quarantined !== null && before.quarantined !== null ? after.quarantined - before.quarantined : null,
        };
        throw new Rollback();
      });
    } catch (err) {
      if (!(err instanceof Rollback)) throw explain(err);
    }
  }
  return {
    remaining: before.remaining ?? (await estimateLegacyRows(db)),
    wouldQuarantine,
    wouldMigrate,
    sample,
    chatStates: { total: Number(st[0]?.total ?? 0), invalidJson: Number(st[0]?.invalid ?? 0) },
  };
}
