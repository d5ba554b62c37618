-- The legacy seeder's SQL (ops tooling, NOT a migration: `supabase db push` never sees this file).
--
-- ops/seed/legacy.ts sends each `-- @name` section below as ONE statement with $n parameters. Every value is a
-- pure function of (seed, run, row number): pseudo-randomness comes from hashint8extended(row key, seed-derived
-- salt), split into 16/24-bit slices, and only integer arithmetic decides sizes, so the same options give the
-- same bytes on PostgreSQL 15 and on PGlite. The run key ($run, the highest chat_messages.id before the run)
-- names this run's conversations, so seeding twice with one seed appends new conversations; users and agents
-- depend on the seed alone and are skipped when they exist.
--
-- Salts: seed * 1000 + k, one k per decision (users 1–5, conversations 11–15, messages 21–26, states 31–34).
-- Dirt: each message (and chat_states blob) is dirty with probability $dirty_rate and then carries exactly one
-- kind; the statements return how many rows got each kind, from the very rows they inserted.

-- @name users
-- $1 seed, $2 users
insert into auth.users (id, email, aud, role, created_at, updated_at)
select md5('ajc-seed:' || $1::bigint || ':user:' || u)::uuid,
       'seed-' || $1::bigint || '-' || u || '@example.test', 'authenticated', 'authenticated',
       timestamptz '2024-01-01 00:00:00+00' - make_interval(days => 1 + (hashint8extended(u, $1::bigint * 1000 + 1) & 65535)::int % 400),
       timestamptz '2024-01-01 00:00:00+00' - make_interval(days => 1 + (hashint8extended(u, $1::bigint * 1000 + 1) & 65535)::int % 400)
  from generate_series(0, $2::int - 1) as u
on conflict do nothing
returning 1;

-- @name agents
-- $1 seed, $2 users, $3 vocab jsonb. A user has 1–3 agents (the same count formula as in `messages`).
with v as materialized (
  select array(select jsonb_array_elements_text($3::jsonb -> 'agent_names')) as agent_names,
         array(select jsonb_array_elements_text($3::jsonb -> 'models')) as models,
         $3::jsonb -> 'tool_names' as tool_names
)
insert into public.agents (id, owner_id, name, config, created_at)
select md5('ajc-seed:' || $1::bigint || ':user:' || u || ':agent:' || j)::uuid,
       md5('ajc-seed:' || $1::bigint || ':user:' || u)::uuid,
       v.agent_names[1 + (h & 65535)::int % cardinality(v.agent_names)],
       jsonb_build_object('model', v.models[1 + ((h >> 16) & 65535)::int % cardinality(v.models)],
                          'temperature', ((h >> 32) & 65535)::int % 101 / 100.0,
                          'tools', coalesce((select jsonb_agg(t.x order by t.o) from jsonb_array_elements(v.tool_names) with ordinality as t (x, o)
                                              where t.o <= ((h >> 48) & 65535)::int % 5), '[]'::jsonb)),
       timestamptz '2024-01-01 00:00:00+00' - make_interval(days => (h & 31)::int)
  from generate_series(0, $2::int - 1) as u
 cross join lateral generate_series(0, (hashint8extended(u, $1::bigint * 1000 + 2) & 2147483647)::int % 3) as j
 cross join lateral (select hashint8extended(u * 8 + j, $1::bigint * 1000 + 3) as h) as x
 cross join v
on conflict do nothing
returning 1;

-- @name plan
-- $1 seed, $2 run, $3 conversations, $4 messages. Sizes skewed like real chats (a few long ones, many short):
-- weight = product of two uniforms; length = 1 + floor(spare × weight / Σ weights). legacy.ts spreads the
-- remainder one message per conversation from the first.
with w as (
  select c, 1 + ((h & 1023) * ((h >> 10) & 1023) * ((h >> 20) & 1023)) as w
    from generate_series(0, $3::int - 1) as c
   cross join lateral (select hashint8extended(c + $2::bigint * 7919, $1::bigint * 1000 + 11) as h) as x
)
select c, (1 + floor(($4::bigint - $3::bigint) * w / sum(w) over ()))::int as n from w order by c;

-- @name messages
-- $1 seed, $2 run, $3 users, $4 dirty rate, $5 first conversation of the chunk (a multiple of 16),
-- $6 int[] messages of each conversation from $5 on, $7 run position of the chunk's first message, $8 vocab,
-- $9 text[] dirt kinds (ops/seed/rows.ts order). Conversations are interleaved in windows of 16 and ids follow
-- time (created_at = 2024-01-01 + 45 s per message of the run key, plus < 45 s of jitter).
-- A conversation: optional system prompt, a user message, then turns of four — with tools (25 %):
-- assistant calling 1–2 tools, the tool's answer, assistant, user; without: assistant, user, assistant, user.
with v as materialized (
  select array(select jsonb_array_elements_text($8::jsonb -> 'user_lines')) as user_lines,
         array(select jsonb_array_elements_text($8::jsonb -> 'assistant_lines')) as assistant_lines,
         array(select jsonb_array_elements_text($8::jsonb -> 'system_lines')) as system_lines,
         array(select jsonb_array_elements_text($8::jsonb -> 'unicode_lines')) as unicode_lines,
         array(select jsonb_array_elements_text($8::jsonb -> 'tool_names')) as tool_names,
         array(select jsonb_array_elements_text($8::jsonb -> 'models')) as models,
         array(select jsonb_array_elements_text($8::jsonb -> 'cities')) as cities,
         array(select jsonb_array_elements_text($8::jsonb -> 'clients')) as clients,
         array(select jsonb_array_elements_text($8::jsonb -> 'locales')) as locales,
         array(select jsonb_array_elements_text($8::jsonb -> 'role_aliases')) as role_aliases,
         array(select jsonb_array_elements_text($8::jsonb -> 'unknown_roles')) as unknown_roles,
         array(select jsonb_array_elements_text($8::jsonb -> 'plain_args')) as plain_args,
         $8::jsonb -> 'mime_types' as mime_types,
         $8::jsonb -> 'junk_elements' as junk_elements,
         $9::text[] as kinds
),
-- the chunk's conversations: id (named by seed and run), owner, agent (5 % none), system prompt (30 %), and
-- the owner's neighbour (for tenancy dirt) — computed once per conversation, not per message
conv as materialized (
  select cc.c, cc.n, md5('ajc-seed:' || $1::bigint || ':run:' || $2::bigint || ':conv:' || cc.c)::uuid as conversation_id,
         md5('ajc-seed:' || $1::bigint || ':user:' || x.u)::uuid as user_id,
         md5('ajc-seed:' || $1::bigint || ':user:' || ((x.u + 1) % $3::int))::uuid as other_user,
         md5('ajc-seed:' || $1::bigint || ':user:' || ((x.u + 1) % $3::int) || ':agent:0')::uuid as other_agent,
         case when ((x.hc >> 32) & 65535) < 3277 then null
              else md5('ajc-seed:' || $1::bigint || ':user:' || x.u || ':agent:'
                       || ((x.hc >> 48) & 65535) % (1 + (hashint8extended(x.u, $1::bigint * 1000 + 2) & 2147483647) % 3))::uuid
         end as agent_id,
         (hashint8extended(cc.c + $2::bigint * 7919, $1::bigint * 1000 + 12) & 65535) < 19661 as sys
    from (select $5::int + (u.o - 1)::int as c, u.n from unnest($6::int[]) with ordinality as u (n, o)) as cc
   cross join lateral (select h as hc, ((h & 2147483647) % $3::int)::int as u
                         from (select hashint8extended(cc.c + $2::bigint * 7919, $1::bigint * 1000 + 13) as h) as y) as x
),
pos as (
  select cv.*, x.k, $7::bigint + row_number() over (order by cv.c / 16, x.k, cv.c) - 1 as p
    from conv as cv
   cross join lateral generate_series(0, cv.n - 1) as x (k)
),
gen as materialized (
  select r.p, r.conversation_id,
         case when d.kind = 'conversation_owned_by_other_user' then r.other_user else r.user_id end as user_id,
         case when d.kind = 'agent_owned_by_other_user' then r.other_agent else r.agent_id end as agent_id,
         case d.kind
           when 'role_alias' then case r.role when 'user' then 'human' when 'tool' then 'function'
                                              when 'assistant' then (array['ai', 'bot'])[1 + (d.h & 1)]
                                              else v.role_aliases[1 + (d.h & 65535)::int % cardinality(v.role_aliases)] end
           when 'unknown_role' then v.unknown_roles[1 + (d.h & 65535)::int % cardinality(v.unknown_roles)]
           else r.role end as role,
         case d.kind
           when 'null_content' then null
           when 'unicode' then btrim(v.unicode_lines[1 + (d.h & 65535)::int % cardinality(v.unicode_lines)] || ' ' || coalesce(r.content, ''))
           when 'big_text' then repeat(rpad(v.assistant_lines[1 + (d.h & 65535)::int % cardinality(v.assistant_lines)] || ' ', 99, '.') || E'\n', 512)
           else r.content end as content,
         case d.kind
           when 'empty_arrays' then '[]'::jsonb
           when 'attachments_not_array' then d.att
           when 'attachment_missing_key' then jsonb_build_array(d.att2, d.att - (array['name', 'storageId'])[1 + (d.h & 1)])
           when 'attachment_not_object' then jsonb_build_array(d.att2, v.junk_elements -> ((d.h & 65535)::int % 4))
           else r.attachments end as attachments,
         case d.kind
           when 'empty_arrays' then '[]'::jsonb
           when 'args_json_string' then jsonb_build_array(jsonb_set(d.call, '{args}', to_jsonb((d.call -> 'args')::text)))
                                        || coalesce(r.tool_calls, '[]'::jsonb)
           when 'args_plain_string' then jsonb_build_array(jsonb_set(d.call, '{args}', to_jsonb(v.plain_args[1 + (d.h & 65535)::int % cardinality(v.plain_args)])))
           when 'tool_calls_not_array' then d.call
           when 'tool_call_missing_key' then jsonb_build_array(d.call - (array['toolCallId', 'toolName'])[1 + (d.h & 1)])
           when 'tool_call_not_object' then jsonb_build_array(d.call, (array['"web_search"', '7', 'null', 'true'])[1 + (d.h & 65535)::int % 4]::jsonb)
           else r.tool_calls end as tool_calls,
         case d.kind
           when 'empty_arrays' then '[]'::jsonb
           when 'partial_tool_call_malformed' then
             case when d.h & 2 = 0 then jsonb_build_array(d.call - 'toolName')
                  else '{"toolCallId": "call_x", "toolName": "web_search", "args": {}}'::jsonb end
           else r.partial_tool_calls end as partial_tool_calls,
         case d.kind
           when 'unicode' then coalesce(r.metadata, '{}'::jsonb)
                               || jsonb_build_object('note', v.unicode_lines[1 + ((d.h >> 16) & 65535)::int % cardinality(v.unicode_lines)])
           else r.metadata end as metadata,
         r.created_at, r.updated_at, d.kind
    from pos
   cross join v
   -- where in the conversation: e < 0 is the system prompt, e = 0 the first user message, then turns t of four
   cross join lateral (
     select e, case when e >= 1 then (e - 1) / 4 end as t, case when e >= 1 then (e - 1) % 4 end as r,
            e >= 1 and (hashint8extended(((pos.c::bigint + $2::bigint * 7919) << 24) | ((e - 1) / 4), $1::bigint * 1000 + 14) & 65535) < 16384 as tools
       from (select pos.k - case when pos.sys then 1 else 0 end as e) as z
   ) as tr
   -- per-message hashes: h1 content / sizes, h2 dirt, h3 objects
   cross join lateral (
     select hashint8extended(pos.p + $2::bigint * 1000003, $1::bigint * 1000 + 21) as h1,
            hashint8extended(pos.p + $2::bigint * 1000003, $1::bigint * 1000 + 22) as h2,
            hashint8extended(pos.p + $2::bigint * 1000003, $1::bigint * 1000 + 23) as h3,
            -- the turn's tool calls (the assistant message that makes them and the tool message that answers)
            case when tr.tools then 'call_' || left(md5('ajc-seed:' || $1::bigint || ':' || $2::bigint || ':' || pos.c || ':' || tr.t), 16) end as call_id,
            v.tool_names[1 + (hashint8extended(((pos.c::bigint + $2::bigint * 7919) << 24) | coalesce(tr.t, 0), $1::bigint * 1000 + 15) & 65535)::int
                         % cardinality(v.tool_names)] as turn_tool
   ) as h
   cross join lateral (
     select case when tr.e < 0 then 'system' when tr.e = 0 then 'user'
                 when tr.tools then (array['assistant', 'tool', 'assistant', 'user'])[tr.r + 1]
                 else (array['assistant', 'user', 'assistant', 'user'])[tr.r + 1] end as role,
            tr.tools and tr.r = 0 as calls
   ) as ro
   -- a tool call of this message: `tc(name, key)` spelled out where needed (args by tool, as the apps send them)
   cross join lateral (
     select pos.p, pos.conversation_id, pos.user_id, pos.other_user, pos.other_agent, pos.agent_id, ro.role,
            case ro.role
              when 'system' then v.system_lines[1 + (h.h1 & 65535)::int % cardinality(v.system_lines)]
              when 'user' then v.user_lines[1 + (h.h1 & 65535)::int % cardinality(v.user_lines)]
              when 'tool' then jsonb_build_object('ok', true, 'result', v.assistant_lines[1 + (h.h1 & 65535)::int % cardinality(v.assistant_lines)])::text
              else case when ro.calls and (h.h1 >> 16) & 1 = 0 then null
                        else v.assistant_lines[1 + (h.h1 & 65535)::int % cardinality(v.assistant_lines)] end
            end as content,
            case when ro.role = 'user' and ((h.h1 >> 17) & 65535) < 9830 then
              (select jsonb_agg(a.obj order by i)
                 from generate_series(0, ((h.h3 & 65535)::int % 3)) as i
                cross join lateral (select hashint8extended(pos.p * 4 + i, $1::bigint * 1000 + 24) as ha) as hx
                cross join lateral (select v.mime_types -> ((hx.ha & 65535)::int % jsonb_array_length(v.mime_types)) as mt) as m
                cross join lateral (select jsonb_strip_nulls(jsonb_build_object(
                         'name', 'doc_' || left(md5(hx.ha::text), 6) || '.' || (m.mt ->> 2), 'type', m.mt ->> 0,
                         'storageId', 'attachments/' || md5(hx.ha::text || 's')::uuid || '.' || (m.mt ->> 2),
                         'mimeType', m.mt ->> 1, 'size', 200 + ((hx.ha >> 16) & 4194303) % 4999801,
                         'metadata', case when ((hx.ha >> 40) & 65535) < 19661 then jsonb_build_object(
                            'width', 100 + ((hx.ha >> 20) & 4095) % 3901, 'height', 100 + ((hx.ha >> 32) & 4095) % 3901,
                            'alt', 'uploaded by user') end)) as obj) as a)
            end as attachments,
            case when ro.calls then
                   (select jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                            'toolCallId', h.call_id || case when i > 0 then '_' || i else '' end,
                            'toolName', case when i = 0 then h.turn_tool else v.tool_names[1 + (h.h3 >> (16 + 3 * i) & 7)::int % cardinality(v.tool_names)] end,
                            'args', case when i = 0 then h.turn_tool else v.tool_names[1 + (h.h3 >> (16 + 3 * i) & 7)::int % cardinality(v.tool_names)] end,
                            'textPosition', case when (h.h3 >> 30) & 7 < 3 then ((h.h3 >> 33) & 255)::int % 201 end)) order by i)
                      from generate_series(0, ((h.h3 >> 40) & 1)::int) as i)
                 when ro.role = 'tool' then
                   jsonb_build_array(jsonb_build_object('toolCallId', h.call_id, 'toolName', h.turn_tool, 'args', h.turn_tool,
                                                        'result', jsonb_build_object('ok', true)))
            end as tool_calls,
            case when ro.calls and ((h.h3 >> 41) & 15) < 2 then
              jsonb_build_array(jsonb_build_object('toolCallId', h.call_id || '_p', 'toolName', h.turn_tool, 'args', h.turn_tool))
            end as partial_tool_calls,
            case ro.role
              when 'user' then case when ((h.h1 >> 33) & 65535) < 39322 then jsonb_build_object(
                                 'client', v.clients[1 + ((h.h1 >> 49) & 255)::int % cardinality(v.clients)],
                                 'locale', v.locales[1 + ((h.h1 >> 57) & 63)::int % cardinality(v.locales)]) end
              when 'assistant' then case when ((h.h1 >> 33) & 65535) < 45875 then jsonb_strip_nulls(jsonb_build_object(
                                 'model', v.models[1 + ((h.h1 >> 49) & 255)::int % cardinality(v.models)],
                                 'tokens', case when ((h.h1 >> 57) & 63) < 38 then 5 + (h.h3 & 1023)::int % 896 end,
                                 'finish_reason', case when ro.calls then 'tool_calls' else 'stop' end)) end
              when 'tool' then jsonb_build_object('tool', h.turn_tool)
            end as metadata,
            timestamptz '2024-01-01 00:00:00+00' + make_interval(secs => (pos.p + $2::bigint) * 45 + (h.h1 >> 40 & 65535) % 45) as created_at,
            case when ((h.h3 >> 48) & 65535) < 3277 then
              timestamptz '2024-01-01 00:00:00+00' + make_interval(secs => (pos.p + $2::bigint) * 45 + 1 + (h.h3 & 65535) % 86400)
            end as updated_at
   ) as r0
   -- tool-call args by tool name: the shape each tool really takes
   cross join lateral (
     select r0.p, r0.conversation_id, r0.user_id, r0.other_user, r0.other_agent, r0.agent_id, r0.role, r0.content,
            r0.attachments, r0.metadata, r0.created_at, r0.updated_at,
            case when r0.tool_calls is not null then (select jsonb_agg(case when jsonb_typeof(e.x -> 'args') = 'string' then jsonb_set(e.x, '{args}', ajc_args.a) else e.x end order by e.o)
               from jsonb_array_elements(r0.tool_calls) with ordinality as e (x, o)
              cross join lateral (select case e.x ->> 'args'
                   when 'web_search' then jsonb_build_object('query', v.user_lines[1 + (h.h3 & 255)::int % cardinality(v.user_lines)], 'top_k', 1 + (h.h3 >> 8 & 15)::int % 10)
                   when 'get_weather' then jsonb_build_object('city', v.cities[1 + (h.h3 >> 12 & 255)::int % cardinality(v.cities)], 'units', 'metric')
                   when 'run_sql' then jsonb_build_object('sql', 'select count(*) from orders where created_at > now() - interval ''1 day''')
                   when 'send_email' then jsonb_build_object('to', 'someone@example.com', 'subject', 'Re: contract', 'cc', '[]'::jsonb)
                   else jsonb_build_object('path', '/tmp/f' || left(md5(r0.p::text), 6) || '.txt',
                                           'options', jsonb_build_object('encoding', 'utf8', 'lines', jsonb_build_array(1, 50))) end as a) as ajc_args
            ) end as tool_calls,
            case when r0.partial_tool_calls is not null then (select jsonb_agg(jsonb_set(e.x, '{args}', jsonb_build_object('query', v.user_lines[1 + (h.h3 & 255)::int % cardinality(v.user_lines)])) order by e.o)
               from jsonb_array_elements(r0.partial_tool_calls) with ordinality as e (x, o)) end as partial_tool_calls
   ) as r
   -- dirt: at most one kind per message. The tenancy kinds need a neighbour user and may not hit a
   -- conversation's first message (its user owns the conversation); there they become `unicode`.
   cross join lateral (
     select x.kind, h.h2 >> 40 as h,
            jsonb_build_object('name', 'doc_' || left(md5(h.h2::text), 6) || '.png', 'type', 'image',
                               'storageId', 'attachments/' || md5(h.h2::text || 'a')::uuid || '.png',
                               'mimeType', 'image/png', 'size', 200 + (h.h2 >> 24 & 1048575)) as att,
            jsonb_build_object('name', 'doc_' || left(md5(h.h2::text || 'b'), 6) || '.pdf', 'type', 'file',
                               'storageId', 'attachments/' || md5(h.h2::text || 'c')::uuid || '.pdf',
                               'mimeType', 'application/pdf', 'size', 300 + (h.h2 >> 30 & 1048575)) as att2,
            jsonb_strip_nulls(jsonb_build_object('toolCallId', 'call_' || left(md5(h.h2::text || 'd'), 16),
                               'toolName', v.tool_names[1 + (h.h2 >> 44 & 255)::int % cardinality(v.tool_names)],
                               'args', jsonb_build_object('query', v.user_lines[1 + (h.h2 >> 52 & 255)::int % cardinality(v.user_lines)]),
                               'result', case when (h.h2 >> 60) & 1 = 0 then jsonb_build_object('ok', true, 'data', 'done') end)) as call
       from (select case when (h.h2 & 16777215) >= floor($4::float8 * 16777216) then null
                         when v.kinds[1 + ((h.h2 >> 24) & 65535)::int % cardinality(v.kinds)]
                              in ('conversation_owned_by_other_user', 'agent_owned_by_other_user')
                              and (pos.k = 0 or $3::int < 2) then 'unicode'
                         else v.kinds[1 + ((h.h2 >> 24) & 65535)::int % cardinality(v.kinds)] end as kind) as x
   ) as d
),
ins as (
  insert into public.chat_messages (conversation_id, user_id, agent_id, role, content, attachments, tool_calls,
                                    partial_tool_calls, metadata, created_at, updated_at)
  select g.conversation_id, g.user_id, g.agent_id, g.role, g.content, g.attachments, g.tool_calls,
         g.partial_tool_calls, g.metadata, g.created_at, g.updated_at
    from gen g order by g.p
  returning id
)
select (select count(*) from ins)::int as n, (select min(id) from ins)::bigint as lo, (select max(id) from ins)::bigint as hi,
       coalesce((select jsonb_object_agg(k.kind, k.n) from (select g.kind, count(*) as n from gen g where g.kind is not null group by g.kind) as k),
                '{}'::jsonb) as dirt;

-- @name states
-- $1 seed, $2 run, $3 users, $4 dirty rate, $5 conversations, $6 share of conversations with a blob,
-- $7 state-only conversations, $8 vocab. One AgentState blob per conversation that has an agent and draws
-- one (the same conversation ids, owners and agents as `messages`), plus conversations that exist only
-- here (1–6 history entries each: they become v2 messages). Dirt: invalid_json (quarantined),
-- relevance_out_of_range and missing_relevance (repaired: clamped / 0.5).
with v as materialized (
  select array(select jsonb_array_elements_text($8::jsonb -> 'user_lines')) as user_lines,
         array(select jsonb_array_elements_text($8::jsonb -> 'assistant_lines')) as assistant_lines,
         array(select jsonb_array_elements_text($8::jsonb -> 'tool_names')) as tool_names,
         array['invalid_json', 'relevance_out_of_range', 'missing_relevance'] as kinds
),
owners as (
  -- conversations of the messages statement that carry a blob
  select md5('ajc-seed:' || $1::bigint || ':run:' || $2::bigint || ':conv:' || c)::uuid as conversation_id, x.u,
         md5('ajc-seed:' || $1::bigint || ':user:' || x.u || ':agent:'
             || ((x.h >> 48) & 65535) % (1 + (hashint8extended(x.u, $1::bigint * 1000 + 2) & 2147483647) % 3))::uuid as agent_id,
         false as state_only, c::bigint as key
    from generate_series(0, $5::int - 1) as c
   cross join lateral (select h, ((h & 2147483647) % $3::int)::int as u
                         from (select hashint8extended(c + $2::bigint * 7919, $1::bigint * 1000 + 13) as h) as y) as x
   where ((x.h >> 32) & 65535) >= 3277
     and (hashint8extended(c + $2::bigint * 7919, $1::bigint * 1000 + 31) & 65535) < floor($6::float8 * 65536)
  union all
  select md5('ajc-seed:' || $1::bigint || ':run:' || $2::bigint || ':state-only:' || s)::uuid, x.u,
         md5('ajc-seed:' || $1::bigint || ':user:' || x.u || ':agent:'
             || ((x.h >> 32) & 65535) % (1 + (hashint8extended(x.u, $1::bigint * 1000 + 2) & 2147483647) % 3))::uuid,
         true, -1 - s::bigint
    from generate_series(0, $7::int - 1) as s
   cross join lateral (select h, ((h & 2147483647) % $3::int)::int as u
                         from (select hashint8extended(s + $2::bigint * 7919, $1::bigint * 1000 + 32) as h) as y) as x
),
blobs as materialized (
  select o.conversation_id, o.u, o.agent_id, o.state_only, hs.h, d.kind,
         jsonb_build_object(
           'user_input', v.user_lines[1 + (hs.h & 255)::int % cardinality(v.user_lines)],
           'focus', jsonb_build_array((array['billing', 'travel', 'sql', 'email'])[1 + (hs.h >> 8 & 3)::int]),
           'step_count', (hs.h >> 10 & 63)::int % 41,
           'last_tool_result', case when hs.h >> 16 & 1 = 0
                                    then jsonb_build_object('tool', v.tool_names[1 + (hs.h >> 17 & 255)::int % cardinality(v.tool_names)], 'ok', true)
                                    else 'null'::jsonb end,
           'conversation_history', hist.items,
           'memory_context', case
               when d.kind = 'relevance_out_of_range' and jsonb_array_length(mem.items) > 0
                 then jsonb_set(mem.items, '{0,relevance_score}', (array['1.7', '-0.3', '42'])[1 + (hs.h >> 60 & 3)::int % 3]::jsonb)
               when d.kind = 'missing_relevance' and jsonb_array_length(mem.items) > 0
                 then jsonb_set(mem.items, '{0}', (mem.items -> 0) - 'relevance_score')
               else mem.items end) as blob
    from owners o
   cross join v
   cross join lateral (select hashint8extended(o.key + $2::bigint * 1000003, $1::bigint * 1000 + 33) as h,
                              hashint8extended(o.key + $2::bigint * 1000003, $1::bigint * 1000 + 34) as h2) as hs
   cross join lateral (
     select coalesce(jsonb_agg(jsonb_build_object(
              'role', case when i % 2 = 0 then 'user' else 'assistant' end,
              'content', case when i % 2 = 0 then v.user_lines[1 + (hashint8extended(hs.h2 + i, 5) & 255)::int % cardinality(v.user_lines)]
                              else v.assistant_lines[1 + (hashint8extended(hs.h2 + i, 5) & 255)::int % cardinality(v.assistant_lines)] end,
              'timestamp', to_jsonb(timestamptz '2024-01-01 00:00:00+00' - make_interval(mins => 1 + (hashint8extended(hs.h2 + i, 6) & 1023)::int % 1000)),
              'metadata', case when hashint8extended(hs.h2 + i, 7) & 1 = 0
                               then jsonb_build_object('tokens', 3 + (hashint8extended(hs.h2 + i, 8) & 63)::int % 58) else '{}'::jsonb end)
              order by i), '[]'::jsonb) as items
       from generate_series(0, case when o.state_only then (hs.h >> 24 & 255)::int % 6 else (hs.h >> 24 & 255)::int % 7 - 1 end) as i
   ) as hist
   cross join lateral (
     select coalesce(jsonb_agg(jsonb_build_object(
              'source', (array['conversation', 'tool', 'document'])[1 + (hashint8extended(hs.h2 + i, 9) & 255)::int % 3],
              'content', v.user_lines[1 + (hashint8extended(hs.h2 + i, 10) & 255)::int % cardinality(v.user_lines)],
              'relevance_score', (hashint8extended(hs.h2 + i, 11) & 1023)::int % 1001 / 1000.0,
              'type', (array['fact', 'preference', 'task'])[1 + (hashint8extended(hs.h2 + i, 12) & 255)::int % 3],
              'timestamp', to_jsonb(timestamptz '2024-01-01 00:00:00+00' - make_interval(mins => 1 + (hashint8extended(hs.h2 + i, 13) & 1023)::int % 1000)))
              order by i), '[]'::jsonb) as items
       from generate_series(0, (hs.h >> 32 & 255)::int % 5 - 1) as i
   ) as mem
   cross join lateral (
     select case when (hs.h2 & 16777215) < floor($4::float8 * 16777216)
                 then v.kinds[1 + (hs.h2 >> 24 & 255)::int % 3] end as kind
   ) as d
),
ins as (
  insert into public.chat_states (conversation_id, user_id, agent_id, content, updated_at)
  select b.conversation_id, md5('ajc-seed:' || $1::bigint || ':user:' || b.u)::uuid, b.agent_id,
         case when b.kind = 'invalid_json' then
           case (b.h >> 40 & 3)::int
             when 0 then left(b.blob::text, length(b.blob::text) / 2)
             when 1 then '{''user_input'': ''single quotes''}'
             when 2 then 'AgentState(user_input=...)'
             else '' end
           else b.blob::text end,
         timestamptz '2024-01-01 00:00:00+00' + make_interval(secs => (b.h >> 42 & 1048575)::int)
    from blobs b
  returning 1
)
select (select count(*) from ins)::int as n,
       (select count(*) from blobs b where b.state_only)::int as state_only,
       coalesce((select sum(jsonb_array_length(b.blob -> 'conversation_history')) from blobs b
                  where b.state_only and b.kind is distinct from 'invalid_json'), 0)::int as state_only_history,
       coalesce((select sum(jsonb_array_length(b.blob -> 'memory_context')) from blobs b
                  where b.kind is distinct from 'invalid_json'), 0)::int as memory_items,
       coalesce((select jsonb_object_agg(k.kind, k.n) from (select b.kind, count(*) as n from blobs b where b.kind is not null group by b.kind) as k),
                '{}'::jsonb) as dirt;
