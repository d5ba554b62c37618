-- Schema v2, part 4: triggers that keep the conversation tables' invariants whoever writes (API, data
-- migration, psql).
--
-- Purpose : updated_at; message edits bump `version` and keep the previous content in chat_message_revisions;
--           a parent message must be in the same conversation; conversation_sessions metrics (message_count,
--           token_count, last_message_at) follow inserts, soft deletes and deletes of messages.
-- Objects : functions public.set_updated_at (generic, also used by 20250805074448), public.message_tokens,
--           public.chat_messages_v2_before_update, public.chat_messages_v2_check_parent,
--           public.chat_messages_v2_after_insert_metrics, public.chat_messages_v2_after_update_metrics,
--           public.chat_messages_v2_after_delete_metrics; their triggers on conversation_sessions and
--           chat_messages_v2.
-- Locks   : CREATE TRIGGER takes SHARE ROW EXCLUSIVE on conversation_sessions and chat_messages_v2 (new,
--           empty when this runs). No rewrite.
-- Rollback: supabase/rollbacks/20250805074447_create_chat_triggers.down.sql (this file only).
--
-- SQLSTATEs raised here (class AJ = advanced-json-chat; catalogue in docs/schema.md):
--   AJC08 a message cannot move to another conversation
--   AJC12 parent message is not in the same conversation

/**
 * Generic BEFORE UPDATE trigger: stamps updated_at with the transaction time.
 * Usage: create trigger <table>_set_updated_at before update on <table>
 *          for each row execute function public.set_updated_at();
 * The table needs an `updated_at timestamptz` column. Writers cannot back-date a row: whatever they set is
 * overwritten.
 */
create function public.set_updated_at()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

revoke execute on function public.set_updated_at() from public, anon, authenticated;

-- WHEN: the session metrics triggers already stamp updated_at = now(); nothing left to do for them.
create trigger conversation_sessions_set_updated_at
  before update on public.conversation_sessions
  for each row when (new.updated_at is distinct from now())
  execute function public.set_updated_at();
create trigger chat_messages_v2_set_updated_at
  before update on public.chat_messages_v2
  for each row execute function public.set_updated_at();

/**
 * The token count a message contributes to its session: metadata.tokens when it is a non-negative number
 * (rounded down), else 0. Never raises: legacy metadata is dirty and a metric must not block a write.
 */
create function public.message_tokens(p_metadata jsonb)
returns bigint
language sql
immutable
parallel safe
security invoker
set search_path = ''
as $$
  select case
    when jsonb_typeof(p_metadata -> 'tokens') = 'number'
      then greatest(least(floor((p_metadata ->> 'tokens')::numeric), 9007199254740991), 0)::bigint
    else 0
  end
$$;

revoke execute on function public.message_tokens(jsonb) from public, anon;
grant execute on function public.message_tokens(jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------------------
-- Message edits: version + revisions
-- ---------------------------------------------------------------------------------------------------------

/**
 * BEFORE UPDATE on chat_messages_v2. When content changes, version goes up by one and the content being
 * replaced is stored in chat_message_revisions under the version it had; otherwise version stays as it was
 * (nobody sets it by hand). security definer because users have no write access to the revisions table —
 * history they could forge would not be history; search_path is empty and every name is qualified.
 */
create function public.chat_messages_v2_before_update()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.conversation_id is distinct from old.conversation_id then
    raise exception 'message % cannot move to another conversation', old.id
      using errcode = 'AJC08',
            hint = 'Insert a copy of the message in the target conversation and delete this one.';
  end if;

  if new.content is distinct from old.content then
    insert into public.chat_message_revisions (message_id, version, content, metadata, edited_by)
    values (old.id, old.version, old.content, old.metadata, auth.uid());
    new.version := old.version + 1;
  else
    new.version := old.version;
  end if;
  return new;
end
$$;

revoke execute on function public.chat_messages_v2_before_update() from public, anon, authenticated;

create trigger chat_messages_v2_before_update
  before update on public.chat_messages_v2
  for each row execute function public.chat_messages_v2_before_update();

/**
 * BEFORE INSERT OR UPDATE OF parent_message_id on chat_messages_v2: a thread / branch stays inside its
 * conversation. security invoker, so a parent the writer cannot see (another user's message) is not found.
 */
create function public.chat_messages_v2_check_parent()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  if new.parent_message_id is not null and not exists (
    select 1 from public.chat_messages_v2 m
    where m.id = new.parent_message_id and m.conversation_id = new.conversation_id
  ) then
    raise exception 'parent message % is not a message of conversation %', new.parent_message_id, new.conversation_id
      using errcode = 'AJC12',
            hint = 'Reply to a message of the same conversation, or leave parent_message_id null.';
  end if;
  return new;
end
$$;

revoke execute on function public.chat_messages_v2_check_parent() from public, anon, authenticated;

-- The WHEN clause keeps the function call off the hot path: most messages (and every backfilled legacy row)
-- have no parent.
create trigger chat_messages_v2_check_parent
  before insert or update of parent_message_id on public.chat_messages_v2
  for each row when (new.parent_message_id is not null)
  execute function public.chat_messages_v2_check_parent();

-- ---------------------------------------------------------------------------------------------------------
-- Session metrics
-- ---------------------------------------------------------------------------------------------------------
-- Statement-level triggers with transition tables: an INSERT … SELECT of 5,000 rows (a backfill batch)
-- updates each affected session once, with the sum of its rows, instead of 5,000 times. Only live
-- (deleted_at is null) messages count. Sessions are locked in id order first so two statements touching
-- the same sessions cannot deadlock. security definer: users cannot write the metric columns themselves
-- (column privileges), only through these triggers.

/**
 * AFTER INSERT … FOR EACH STATEMENT on chat_messages_v2: add the new live rows to their sessions. One
 * statement: the sessions are locked in id order by the `locked` CTE (every row the update touches has to come
 * through it first, so whatever plan runs, locks are taken in increasing id order and two statements touching
 * the same sessions cannot deadlock), then updated with the sum of the statement's rows. updated_at is set here
 * so conversation_sessions_set_updated_at (WHEN updated_at is not yet now()) has nothing to do. The tokens are
 * public.message_tokens's rule spelled inline (a function with SET is called per row, never inlined);
 * test/schema/triggers.test.ts checks the metrics against dirty metadata.
 */
create function public.chat_messages_v2_after_insert_metrics()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  with d as (
    select n.conversation_id, count(*)::integer as messages,
           sum(case
                 when jsonb_typeof(n.metadata -> 'tokens') = 'number'
                   then greatest(least(floor((n.metadata ->> 'tokens')::numeric), 9007199254740991), 0)::bigint
                 else 0
               end)::bigint as tokens,
           max(n.created_at) as last_at
    from new_rows n
    where n.deleted_at is null
    group by n.conversation_id
  ), locked as materialized (
    select s.id
    from public.conversation_sessions s
    where s.id in (select d.conversation_id from d)
    order by s.id
    for no key update
  )
  update public.conversation_sessions s
  set message_count = s.message_count + d.messages,
      token_count = s.token_count + d.tokens,
      last_message_at = greatest(s.last_message_at, d.last_at),
      updated_at = now()
  from d
  where s.id = d.conversation_id
    and s.id in (select l.id from locked l);
  return null;
end
$$;

/**
 * AFTER UPDATE … FOR EACH STATEMENT on chat_messages_v2: soft deletes, undeletes and changed token counts
 * move the metrics by the difference between the old and the new live rows. A plain content edit costs one
 * hash join over the statement's own rows and touches no session.
 */
create function public.chat_messages_v2_after_update_metrics()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not exists (
    select 1
    from new_rows n
    join old_rows o on o.id = n.id
    where (n.deleted_at is null) <> (o.deleted_at is null)
       or n.created_at <> o.created_at
       or public.message_tokens(n.metadata) <> public.message_tokens(o.metadata)
  ) then
    return null;
  end if;

  perform 1
  from public.conversation_sessions s
  where s.id in (select n.conversation_id from new_rows n)
  order by s.id
  for no key update;

  with changes as (
    select n.conversation_id,
           (case when n.deleted_at is null then 1 else 0 end)
             - (case when o.deleted_at is null then 1 else 0 end) as messages,
           (case when n.deleted_at is null then public.message_tokens(n.metadata) else 0 end)
             - (case when o.deleted_at is null then public.message_tokens(o.metadata) else 0 end) as tokens,
           (n.deleted_at is null) <> (o.deleted_at is null) or n.created_at <> o.created_at as moves_last
    from new_rows n
    join old_rows o on o.id = n.id
  ), deltas as (
    select c.conversation_id, sum(c.messages)::integer as messages, sum(c.tokens)::bigint as tokens,
           bool_or(c.moves_last) as moves_last
    from changes c
    group by c.conversation_id
    having sum(c.messages) <> 0 or sum(c.tokens) <> 0 or bool_or(c.moves_last)
  )
  update public.conversation_sessions s
  set message_count = greatest(s.message_count + d.messages, 0),
      token_count = greatest(s.token_count + d.tokens, 0),
      -- recomputed from the live rows: the keyset index makes it one index probe per session
      last_message_at = case
        when d.moves_last then (
          select max(m.created_at) from public.chat_messages_v2 m
          where m.conversation_id = s.id and m.deleted_at is null)
        else s.last_message_at
      end
  from deltas d
  where s.id = d.conversation_id;
  return null;
end
$$;

/** AFTER DELETE … FOR EACH STATEMENT on chat_messages_v2: remove the deleted live rows from their sessions. */
create function public.chat_messages_v2_after_delete_metrics()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform 1
  from public.conversation_sessions s
  where s.id in (select o.conversation_id from old_rows o where o.deleted_at is null)
  order by s.id
  for no key update;

  -- last_message_at is recomputed from what is left: the keyset index makes it one index probe per session.
  update public.conversation_sessions s
  set message_count = greatest(s.message_count - d.messages, 0),
      token_count = greatest(s.token_count - d.tokens, 0),
      last_message_at = (
        select max(m.created_at) from public.chat_messages_v2 m
        where m.conversation_id = s.id and m.deleted_at is null)
  from (
    select o.conversation_id, count(*)::integer as messages, sum(public.message_tokens(o.metadata))::bigint as tokens
    from old_rows o
    where o.deleted_at is null
    group by o.conversation_id
  ) d
  where s.id = d.conversation_id;
  return null;
end
$$;

revoke execute on function public.chat_messages_v2_after_insert_metrics() from public, anon, authenticated;
revoke execute on function public.chat_messages_v2_after_update_metrics() from public, anon, authenticated;
revoke execute on function public.chat_messages_v2_after_delete_metrics() from public, anon, authenticated;

create trigger chat_messages_v2_after_insert_metrics
  after insert on public.chat_messages_v2
  referencing new table as new_rows
  for each statement execute function public.chat_messages_v2_after_insert_metrics();
create trigger chat_messages_v2_after_update_metrics
  after update on public.chat_messages_v2
  referencing old table as old_rows new table as new_rows
  for each statement execute function public.chat_messages_v2_after_update_metrics();
create trigger chat_messages_v2_after_delete_metrics
  after delete on public.chat_messages_v2
  referencing old table as old_rows
  for each statement execute function public.chat_messages_v2_after_delete_metrics();
