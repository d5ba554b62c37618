/**
 * page: the newest 50 messages of one conversation among N v2 messages — the query GET /messages runs — against
 * a primary-key lookup of one v2 message and against the same page read from the legacy table.
 * Goal: page ≤ 1.5 × PK lookup (p50). Data: N legacy rows converted to v2 by the project's own set-based copy,
 * so both tables hold the same conversations.
 */
import { hasFunction, loadBenchSql, openMigrated, explain } from '../lib/db.ts';
import { seedLegacyMessages } from '../lib/legacy-data.ts';
import { measureLatency } from '../lib/latency.ts';
import { ratio, rng, timed } from '../lib/stats.ts';
import { goal, notMeasured, type ScenarioContext, type ScenarioResult } from '../lib/types.ts';

const V2_PAGE = `select m.id, m.role, m.content, m.metadata, m.version, m.parent_message_id, m.created_at
  from public.chat_messages_v2 m
 where m.conversation_id = $1 and m.deleted_at is null
 order by m.created_at desc, m.id desc
 limit 50`;
const V2_PK = `select m.id, m.role, m.content, m.metadata, m.version, m.parent_message_id, m.created_at
  from public.chat_messages_v2 m where m.id = $1`;
const LEGACY_PAGE = `select m.id, m.role, m.content, m.attachments, m.tool_calls, m.metadata, m.created_at
  from public.chat_messages m
 where m.conversation_id = $1
 order by m.created_at desc
 limit 50`;
/** What GET /messages runs: a page of public.chat_messages_expanded (the API's message shape). */
const API_PAGE = `select e.message
  from public.chat_messages_expanded e
 where e.conversation_id = $1 and e.deleted_at is null
   and ($2::text::timestamptz is null or (e.created_at, e.id) < ($2::text::timestamptz, $3::uuid))
 order by e.created_at desc, e.id desc
 limit $4`;
const API_PK = `select e.message from public.chat_messages_expanded e where e.id = $1`;

export async function run(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { cfg, log } = ctx;
  const db = await openMigrated();
  try {
    if (!(await hasFunction(db, 'chat_migration.copy_messages(bigint[])'))) {
      return notMeasured('the data-migration SQL (chat_migration.copy_messages) is not in this checkout');
    }
    await loadBenchSql(db, 'seed_migrate_with_progress.sql');
    const rows = cfg.page.rows;
    // 200 messages per conversation, so "the newest 50" is a real LIMIT over a longer conversation
    const seeded = await timed(() => seedLegacyMessages(db, { rows, perConversation: 200 }));
    const copied = await timed(() => db.query(`call public.run_chat_migration(20000)`));
    for (const t of ['chat_messages_v2', 'conversation_sessions', 'chat_message_attachments', 'chat_tool_calls']) {
      await db.query(`vacuum analyze public.${t}`);
    }
    log(`page: ${rows} legacy rows seeded in ${Math.round(seeded.ms)} ms, migrated in ${Math.round(copied.ms)} ms`);

    const convs = await db.query<{ id: string; n: number }>(
      `select conversation_id as id, count(*)::int as n from public.chat_messages_v2 group by 1 order by 1`,
    );
    const r = rng(42);
    const targets = Array.from({ length: cfg.page.queries }, () => convs[Math.floor(r() * convs.length)]!.id);
    const ids = await db.query<{ id: string }>(
      `select id from public.chat_messages_v2 tablesample bernoulli (least(100, $1::float8)) repeatable (7) limit $2`,
      [(100 * cfg.page.queries * 4) / rows, cfg.page.queries],
    );
    const pkTargets = targets.map((_, i) => ids[i % ids.length]!.id);
    const pairs = targets.map((c, i) => ({ conv: c, pk: pkTargets[i]! }));

    const lat = await measureLatency(
      [
        { name: 'v2_page', run: (t) => db.query(V2_PAGE, [t.conv]) },
        { name: 'pk_lookup', run: (t) => db.query(V2_PK, [t.pk]) },
        { name: 'legacy_page', run: (t) => db.query(LEGACY_PAGE, [t.conv]) },
        // the same two queries aggregated in the database: the executor's work without shipping rows to JS
        { name: 'v2_page_in_db', run: (t) => db.query(`select count(*), sum(octet_length(s.content::text)) from (${V2_PAGE}) s`, [t.conv]) },
        { name: 'pk_lookup_in_db', run: (t) => db.query(`select count(*), sum(octet_length(s.content::text)) from (${V2_PK}) s`, [t.pk]) },
        { name: 'api_page', run: (t) => db.query(API_PAGE, [t.conv, null, null, 51]) },
        { name: 'api_pk_lookup', run: (t) => db.query(API_PK, [t.pk]) },
      ],
      pairs,
      cfg.reps,
    );
    const plan = await explain(db, V2_PAGE, [targets[0]]);
    const goals = [goal('v2 page / PK lookup (p50)', '≤ 1.5', ratio(lat.v2_page!.p50_ms, lat.pk_lookup!.p50_ms), '<=', 1.5)];
    const notes = rows < 1_000_000 ? [`run among ${rows} v2 messages (issue: 1M)`] : [];
    return {
      status: 'measured',
      notes,
      goals,
      rows,
      conversations: convs.length,
      messages_per_conversation: Math.round(rows / convs.length),
      queries_per_rep: cfg.page.queries,
      reps: cfg.reps,
      latency: lat,
      ratios: {
        v2_page_over_pk: ratio(lat.v2_page!.p50_ms, lat.pk_lookup!.p50_ms),
        v2_page_over_legacy_page: ratio(lat.v2_page!.p50_ms, lat.legacy_page!.p50_ms),
        api_page_over_api_pk: ratio(lat.api_page!.p50_ms, lat.api_pk_lookup!.p50_ms),
        in_db_page_over_pk: ratio(lat.v2_page_in_db!.p50_ms, lat.pk_lookup_in_db!.p50_ms),
      },
      plan_v2_page: plan,
    };
  } finally {
    await db.close();
  }
}
