/**
 * How the legacy seeder (./legacy.ts) writes its rows: a COPY where the engine offers one (`Db.copyIn`,
 * embedded PGlite), otherwise ONE json parameter per chunk expanded by `json_to_recordset`; in replica mode
 * (triggers and FK checks skipped) only when nobody needs the triggers.
 */
import type { Db, Queryable } from '../db.ts';
import type { MsgRow } from './rows.ts';

const messageColumns = [
  'conversation_id', 'user_id', 'agent_id', 'role', 'content', 'attachments', 'tool_calls',
  'partial_tool_calls', 'metadata', 'created_at', 'updated_at',
] as const;

const needsEscape = /[\\\n\r\t]/;

/** COPY text format: tab-separated, \\N for null, backslash escapes. */
function copyField(v: unknown): string {
  if (v === null || v === undefined) return '\\N';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  if (!needsEscape.test(s)) return s;
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
}

export interface Writer {
  method: string;
  messages(rows: MsgRow[]): Promise<void>;
  /** One statement, in replica mode when allowed. */
  query(sql: string, params: unknown[]): Promise<void>;
}

export type SeedTarget = Queryable & { transaction?: Db['transaction']; copyIn?: Db['copyIn'] };

export async function makeWriter(db: SeedTarget, skipTriggers: boolean | undefined): Promise<Writer> {
  const replica = skipTriggers ?? (await replicaAllowed(db));
  const query = async (sql: string, params: unknown[]) => {
    if (replica && db.transaction) {
      await db.transaction(async (tx) => {
        await tx.query(`set local session_replication_role = replica`);
        await tx.query(sql, params);
      });
    } else await db.query(sql, params);
  };
  if (db.copyIn) {
    const copyIn = db.copyIn.bind(db);
    return {
      query,
      method: `copy${replica ? ' (replica)' : ''}`,
      async messages(rows) {
        let text = '';
        for (const r of rows) {
          const content = r.rep && r.rep > 1 && r.content !== null ? r.content.repeat(r.rep) : r.content;
          text += messageColumns.map((c) => copyField(c === 'content' ? content : r[c])).join('\t') + '\n';
        }
        await copyIn(`public.chat_messages (${messageColumns.join(', ')})`, text, replica ? [`set local session_replication_role = replica`] : []);
      },
    };
  }
  const insert = async (q: Queryable, rows: MsgRow[]) =>
    q.query(
      `insert into public.chat_messages (${messageColumns.join(', ')})
       select r.conversation_id, r.user_id, r.agent_id, r.role,
              case when r.rep > 1 then repeat(r.content, r.rep) else r.content end,
              r.attachments, r.tool_calls, r.partial_tool_calls, r.metadata, r.created_at, r.updated_at
       from json_to_recordset($1::text::json) as r(conversation_id uuid, user_id uuid, agent_id uuid, role text, content text,
            rep int, attachments jsonb, tool_calls jsonb, partial_tool_calls jsonb, metadata jsonb,
            created_at timestamptz, updated_at timestamptz)`,
      [JSON.stringify(rows)],
    );
  return {
    method: `json_to_recordset${replica && db.transaction ? ' (replica)' : ''}`,
    query,
    async messages(rows) {
      if (replica && db.transaction) {
        await db.transaction(async (tx) => {
          await tx.query(`set local session_replication_role = replica`);
          await insert(tx, rows);
        });
      } else await insert(db, rows);
    },
  };
}

/** Replica mode skips triggers too, so only when nobody needs them: superuser, and no dual-write in force. */
async function replicaAllowed(db: Queryable): Promise<boolean> {
  const su = await db.query<{ su: string }>(`select current_setting('is_superuser') as su`);
  if (su[0]?.su !== 'on') return false;
  const trig = await db.query<{ n: number }>(
    `select count(*)::int as n from pg_trigger
     where tgrelid in ('public.chat_messages'::regclass, 'public.chat_states'::regclass) and not tgisinternal`,
  );
  if (!trig[0]?.n) return true;
  const fn = await db.query<{ ok: boolean }>(`select to_regprocedure('public.chat_migration_status()') is not null as ok`);
  if (!fn[0]?.ok) return false;
  try {
    const st = await db.query<{ mode: string | null }>(`select mode from public.chat_migration_status()`);
    return (st[0]?.mode ?? 'legacy') === 'legacy';
  } catch {
    return false;
  }
}

export class LegacySchemaMissingError extends Error {
  override name = 'LegacySchemaMissingError';
  hint = 'run npm run db:migrate (or point --database-url at a migrated database)';
}

export async function assertLegacySchema(db: Queryable): Promise<void> {
  const rows = await db.query<{ ok: boolean }>(
    `select to_regclass('public.chat_messages') is not null and to_regclass('public.chat_states') is not null
        and to_regclass('auth.users') is not null as ok`,
  );
  if (!rows[0]?.ok) throw new LegacySchemaMissingError('the legacy tables (public.chat_messages, public.chat_states, auth.users) do not exist');
}
