/**
 * The DBA CLI of the legacy → v2 data migration (docs/runbook.md):
 *
 *   npm run data:migrate    -- [--batch-size N] [--rate rows/s] [--dry-run] [--max-batches N] [--log-every N]
 *   npm run data:status
 *   npm run data:verify     (exit 1 when any check is not ok)
 *   npm run data:pause | data:resume
 *   npm run data:quarantine -- [--limit N] [--retry]
 *
 * Every command takes [--database-url URL] (or DATABASE_URL); otherwise it works on the embedded database
 * in .data/db (or --data-dir) — through the running `npm start` when it holds that directory.
 * Unknown flags exit 2 with the usage and do nothing.
 */
import type { Db } from '../ops/db.ts';
import { defaultDataDir, openTarget } from '../devstack/target.ts';
import { intOpt, parseCli, runMain, stringOpt, UsageError, type OptionSpec, type Values } from '../ops/cli/args.ts';
import { createProgress, formatDuration } from '../ops/cli/progress.ts';
import { formatRecord, formatTable } from '../ops/cli/table.ts';
import { npmRun, targetArgs } from '../ops/cli/target.ts';
import {
  defaultBatchSize,
  dryRun,
  explain,
  getStatus,
  listQuarantine,
  pause,
  recentBatches,
  requireApi,
  resume,
  retryQuarantine,
  runMigration,
  verify,
} from '../ops/data-migration/driver.ts';

const usage = `usage: npm run data:<command> -- [options]      (or: tsx scripts/data.ts <command> [options])
  migrate     [--batch-size N] [--rate rows/s] [--dry-run] [--max-batches N] [--log-every N]
  status
  verify
  pause | resume
  quarantine  [--limit N] [--retry]
common: [--database-url URL] [--data-dir DIR]`;

const common: OptionSpec = { 'database-url': { type: 'string' }, 'data-dir': { type: 'string' } };
const perCommand: Record<string, OptionSpec> = {
  migrate: {
    'batch-size': { type: 'string' },
    rate: { type: 'string' },
    'dry-run': { type: 'boolean' },
    'max-batches': { type: 'string' },
    'log-every': { type: 'string' },
  },
  status: {},
  verify: {},
  pause: {},
  resume: {},
  quarantine: { limit: { type: 'string' }, retry: { type: 'boolean' } },
};

runMain(async () => {
  const argv = process.argv.slice(2);
  // The command decides which flags exist: `status --batch-size 5` is as wrong as `migrate --bogus`.
  const command = argv[0] && !argv[0].startsWith('-') ? argv[0] : undefined;
  if (command && !perCommand[command]) throw new UsageError(`unknown command ${JSON.stringify(command)}`, usage);
  const { values } = parseCli(
    { usage, entry: 'scripts/data.ts', positionals: 1, options: { ...common, ...(command ? perCommand[command] : {}) } },
    argv,
  );
  if (!command) throw new UsageError('which command?', usage);
  const url = stringOpt(values, 'database-url') ?? process.env.DATABASE_URL;
  // Validate every number before touching a database.
  const opts = command === 'migrate' ? migrateOptions(values) : undefined;
  const limit = command === 'quarantine' ? intOpt(values, 'limit', 100) : 100;
  // One connection: batches and status reads run in order on the same session.
  const { db, where } = await openTarget({ url, dataDir: stringOpt(values, 'data-dir') ?? defaultDataDir, max: 1 });
  const next = (script: string) => npmRun(script, targetArgs(values));
  try {
    await requireApi(db, Boolean(url)).catch((e: unknown) => {
      throw explain(e, Boolean(url));
    });
    switch (command) {
      case 'migrate':
        return values['dry-run'] ? await cmdDryRun(db, opts!, where) : await cmdMigrate(db, opts!, where, values, next);
      case 'status':
        return await cmdStatus(db);
      case 'verify':
        return await cmdVerify(db, next);
      case 'pause':
        await pause(db);
        console.log('paused: a running data:migrate stops after its current batch; nothing is lost.');
        console.log(`resume with: ${next('data:resume')}   (or in psql: select resume_chat_migration();)`);
        return await cmdStatus(db);
      case 'resume':
        await resume(db);
        console.log(`resumed: run ${next('data:migrate')} to continue from the last committed batch.`);
        return await cmdStatus(db);
      case 'quarantine':
        return await cmdQuarantine(db, values, limit, next);
    }
    return 2;
  } finally {
    await db.close();
  }
});

interface MigrateOpts {
  /** undefined: the database's default (chat_migration.settings.default_batch_size). */
  batchSize: number | undefined;
  rate: number | undefined;
  maxBatches: number | undefined;
  logEvery: number;
}

function migrateOptions(values: Values): MigrateOpts {
  return {
    batchSize: values['batch-size'] === undefined ? undefined : intOpt(values, 'batch-size', 1),
    rate: values.rate === undefined ? undefined : intOpt(values, 'rate', 1),
    maxBatches: values['max-batches'] === undefined ? undefined : intOpt(values, 'max-batches', 1),
    logEvery: intOpt(values, 'log-every', 10),
  };
}

async function cmdMigrate(db: Db, o: MigrateOpts, where: string, values: Values, next: (script: string) => string): Promise<number> {
  const { batchSize, rate, maxBatches, logEvery } = o;
  const tty = Boolean(process.stderr.isTTY) && values['log-every'] === undefined;

  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) {
      process.stderr.write('\nCtrl-C: stopping after the current batch (press again to abort it; it will be rolled back)\n');
    } else {
      process.stderr.write('aborting: the batch in flight is rolled back; every committed batch stays.\n');
      process.exit(130);
    }
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);

  const size = batchSize ?? `${await defaultBatchSize(db)} (the default: chat_migration.settings)`;
  console.log(
    `migrating chat_messages → chat_messages_v2 on ${where}: first batch size ${size}, then adaptive (chat_migration.settings.target_batch_ms)` +
      (rate ? `, at most ${rate} rows/s` : '') +
      (maxBatches ? `, at most ${maxBatches} batches` : ''),
  );
  let bar: ReturnType<typeof createProgress> | undefined;
  let lastWhy = '';
  try {
    const r = await runMigration(db, {
      batchSize,
      ...(rate ? { rate } : {}),
      ...(maxBatches ? { maxBatches } : {}),
      shouldStop: () => interrupts > 0,
      onStart: (s) => {
        if (s.mode) console.log(`schema mode: ${s.mode}${s.mode === 'legacy' ? ' (writes during the backfill are not mirrored; the final sweep picks them up)' : ''}`);
        const resuming = s.status !== 'pending' && s.status !== 'completed' && (s.processed ?? 0) > 0;
        if (resuming) console.log(`resuming: ${s.processed} of ${s.totalLegacy} legacy rows already processed`);
        const total = s.status === 'completed' ? 0 : (s.totalLegacy ?? 0);
        bar = createProgress({ label: 'backfill', total, tty, everyUpdates: logEvery, everyMs: tty ? 0 : Infinity, start: resuming ? (s.processed ?? 0) : 0 });
        bar.update(resuming ? (s.processed ?? 0) : 0);
      },
      onBatch: (b) => {
        // everything shown comes from the ledger (chat_migration.batch_report): rows/s and ETA included
        const rep = b.report;
        bar?.setTotal(rep.totalRows);
        const speed = { rowsPerSecond: rep.rowsPerSecond, etaSeconds: rep.etaSeconds };
        // the batch size the ledger chose for the next batch, and why it changed or why the loop pauses
        const why = [rep.sizeReason, rep.pauseReason && `pause ${rep.pauseSeconds.toFixed(1)} s: ${rep.pauseReason}`]
          .filter(Boolean).join('; ');
        if (why) lastWhy = why;
        const size = rep.nextBatchSize ?? rep.batchSize ?? '?';
        bar?.update(rep.processed, tty ? { batch: b.batch, size, ...(lastWhy ? { why: lastWhy } : {}) } : { batch: b.batch, rows: b.rows, ms: Math.round(rep.batchMs ?? b.ms), size }, speed);
        if (why && !tty) console.log(`batch ${b.batch}: next batch size ${size} (${why})`);
      },
    });
    bar?.stop();
    const s = r.status;
    const summary = `${r.rows} rows in ${r.batches} batches, ${formatDuration(r.ms / 1000)} (${Math.round(r.rowsPerSecond)} rows/s)`;
    switch (r.reason) {
      case 'done':
        console.log(`backfill complete: ${summary}`);
        if (r.states?.length) console.log(`chat_states: ${formatInline(r.states[0]!)}`);
        console.log(`migrated ${s.migrated ?? '?'}, quarantined ${s.quarantined ?? '?'}, remaining ${s.remaining ?? '?'}`);
        if ((s.quarantined ?? 0) > 0) console.log(`inspect quarantined rows with: ${next('data:quarantine')}`);
        console.log(`next: ${next('data:verify')}`);
        return 0;
      case 'paused':
        console.log(`paused (${summary}); resume with: ${next('data:resume')} && ${next('data:migrate')}`);
        return 3;
      case 'interrupted':
      case 'max-batches':
        console.log(`stopped after batch ${r.batches}: ${summary}; every batch so far is committed.`);
        // The same target and pace as this run: the flags that say where (--database-url, --data-dir) included.
        console.log(`resume with: ${npmRun('data:migrate', [...targetArgs(values), ...(batchSize ? ['--batch-size', String(batchSize)] : []), ...(rate ? ['--rate', String(rate)] : [])])}`);
        return r.reason === 'interrupted' ? 130 : 0;
    }
  } catch (err) {
    bar?.stop();
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}

function formatInline(r: Record<string, unknown>): string {
  return Object.entries(r)
    .map(([k, v]) => `${k}=${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`)
    .join(' ');
}

async function cmdDryRun(db: Db, o: MigrateOpts, where: string): Promise<number> {
  const { batchSize } = o;
  console.log(`DRY RUN on ${where} — nothing will be written.`);
  const r = await dryRun(db, batchSize ? { batchSize } : {});
  console.log(`legacy rows still to process: ${r.remaining ?? '?'}`);
  console.log(`not yet migrated, by the mapping rules: ${r.wouldMigrate} would migrate`);
  for (const [reason, n] of Object.entries(r.wouldQuarantine)) console.log(`  ${n} would be quarantined: ${reason}`);
  console.log(`chat_states: ${r.chatStates.total} blobs${r.chatStates.invalidJson ? `, ${r.chatStates.invalidJson} not valid JSON (would be quarantined)` : ''}`);
  if (r.sample) {
    const rps = r.sample.rows / Math.max(r.sample.ms / 1000, 1e-3);
    console.log(
      `sample batch of ${batchSize ?? await defaultBatchSize(db)}: ${r.sample.rows} rows processed in ${Math.round(r.sample.ms)} ms (${Math.round(rps)} rows/s)` +
        (r.sample.migrated !== null ? `, ${r.sample.migrated} migrated, ${r.sample.quarantined} quarantined` : '') +
        ' — rolled back',
    );
    if (r.remaining && rps > 0) console.log(`estimated backfill time at this speed: ${formatDuration(r.remaining / rps)}`);
  } else {
    console.log('no sample batch: the migration is paused (run data:resume first)');
  }
  console.log('DRY RUN: nothing was written (the sample batch was rolled back).');
  return 0;
}

async function cmdStatus(db: Db): Promise<number> {
  const s = await getStatus(db);
  console.log(formatRecord(s.raw));
  if (s.lastError) console.log(`\nlast error: ${s.lastError}`);
  const batches = await recentBatches(db, 5);
  if (batches.length) console.log(`\nlast batches of this run:\n${formatTable(batches)}`);
  return 0;
}

async function cmdVerify(db: Db, next: (script: string) => string): Promise<number> {
  const r = await verify(db);
  console.log(formatTable(r.rows as unknown as Record<string, unknown>[], ['check_name', 'legacy_count', 'v2_count', 'mismatches', 'ok']));
  if (r.ok) {
    console.log('verification clean: every legacy row is in v2 or accounted for in quarantine.');
    return 0;
  }
  const bad = r.rows.filter((x) => !x.ok).map((x) => x.check_name);
  console.log(`verification FAILED: ${bad.join(', ')}`);
  console.log(`hint: run ${next('data:migrate')} to finish the backfill (it ends with a sweep), check ${next('data:quarantine')}, then verify again`);
  return 1;
}

async function cmdQuarantine(db: Db, values: Values, limit: number, next: (script: string) => string): Promise<number> {
  if (values.retry) {
    const r = await retryQuarantine(db);
    console.log(`retried quarantined rows: ${r.length ? formatInline(r[0]!) : 'done'}`);
  }
  const rows = await listQuarantine(db, limit);
  console.log(formatTable(rows));
  if (rows.length && !values.retry) console.log(`fix the rows in the legacy tables, then: ${npmRun('data:quarantine', [...targetArgs(values), '--retry'])}`);
  return 0;
}
