-- pgTAP: agent state versioning, the stale-version error, immutability, checkpoint restore and pruning.
begin;
\ir pgtap_setup.psql
set local search_path = public, extensions;

select plan(15);

insert into auth.users (id, email) values ('33333333-3333-4333-8333-333333333333', 'carol@example.test');
insert into public.agents (id, owner_id, name)
values ('cccccccc-3333-4333-8333-333333333333', '33333333-3333-4333-8333-333333333333', 'carol agent');

select set_config('request.jwt.claims', '{"sub":"33333333-3333-4333-8333-333333333333","role":"authenticated"}', true);
set local role authenticated;

select is(
  (public.save_agent_state('cccccccc-3333-4333-8333-333333333333', 'persistent', '{"n": 1}', null, 0)).version,
  1,
  'first save with expected version 0 creates version 1'
);
select is(
  (public.save_agent_state('cccccccc-3333-4333-8333-333333333333', 'persistent', '{"n": 2}', null, 1)).version,
  2,
  'save with the current version appends version 2'
);
select throws_ok(
  $$select public.save_agent_state('cccccccc-3333-4333-8333-333333333333', 'persistent', '{"n": 3}', null, 1)$$,
  'AJC01',
  'stale state version: expected 1, current is 2',
  'a stale expected version raises AJC01'
);
select results_eq(
  $$select version, is_current from public.agent_states
    where agent_id = 'cccccccc-3333-4333-8333-333333333333' order by version$$,
  $$values (1, false), (2, true)$$,
  'exactly one current version per stream'
);
select is(
  (select state_hash from public.agent_states where is_current and agent_id = 'cccccccc-3333-4333-8333-333333333333'),
  encode(sha256(convert_to('{"n": 2}'::jsonb::text, 'UTF8')), 'hex'),
  'state_hash is the sha256 of the canonical jsonb text'
);
select lives_ok(
  $$insert into public.agent_states (agent_id, user_id, state_type, state)
    values ('cccccccc-3333-4333-8333-333333333333', '33333333-3333-4333-8333-333333333333', 'persistent', '{"n": 3}')$$,
  'a plain insert leaving out version and is_current ...'
);
select results_eq(
  $$select version from public.agent_states where is_current and agent_id = 'cccccccc-3333-4333-8333-333333333333'$$,
  array[3],
  '... becomes the new current version'
);
select throws_ok(
  $$select public.save_agent_state('cccccccc-3333-4333-8333-333333333333', 'forever', '{}')$$,
  'AJC04',
  'unknown state type forever',
  'an unknown state type raises AJC04'
);

-- checkpoint version 3, move on, restore
create temporary table cp on commit drop as
select * from public.create_state_checkpoint('cccccccc-3333-4333-8333-333333333333', 'persistent', null, 'manual', 'good');
select is((select checkpoint_type from cp), 'manual', 'checkpoint created');
select is(
  (public.save_agent_state('cccccccc-3333-4333-8333-333333333333', 'persistent', '{"n": "broken"}')).version,
  4,
  'a later save moves on to version 4'
);
create temporary table restored on commit drop as
select * from public.restore_state_checkpoint((select id from cp));
select results_eq('select version, state from restored', $$values (5, '{"n": 3}'::jsonb)$$,
  'restore makes the checkpointed state current again as version 5');
select throws_ok(
  $$select public.restore_state_checkpoint('00000000-0000-4000-8000-000000000000')$$,
  'AJC05',
  'checkpoint 00000000-0000-4000-8000-000000000000 not found',
  'restoring an unknown checkpoint raises AJC05'
);
-- the restore kept a 'recovery' checkpoint of version 4 whose parent is the manual one; both survive pruning
-- far in the future only as long as the chain needs them
select results_eq(
  $$select public.prune_state_checkpoints('cccccccc-3333-4333-8333-333333333333', now() + interval '1 day')$$,
  array[0],
  'nothing expires in a day'
);
select results_eq(
  $$select public.prune_state_checkpoints('cccccccc-3333-4333-8333-333333333333', now() + interval '31 days')$$,
  array[1],
  'the 30-day recovery checkpoint expires; the manual one stays'
);
reset role;

select throws_ok(
  $$update public.agent_states set state = '{}' where agent_id = 'cccccccc-3333-4333-8333-333333333333' and version = 1$$,
  'AJC02',
  null,
  'even the table owner cannot rewrite a state version'
);

select * from finish();
rollback;
