/**
 * The DBA CLI of the legacy → v2 data migration (docs/runbook.md):
 *
 *   npm run data:migrate    -- [--batch-size N] [--rate rows/s] [--dry-run] [--max-batches N] [--log-every N]
 *   npm run data:status
 *   npm run data:verify     (exit 1 when any check is not ok)
 *   npm run data:pause | data:resume
 *   npm run data:quarantine -- [--limit N] [--retry]
 *
 * Every command takes [--database-url URL] (or DATABASE_URL); otherwise it opens the embedded database
 * in .data/db (stop `npm start` first, or point --database-url at its socket on 127.0.0.1:54322).
 */
import { openDb, type Db } from '../src/db/engine.ts';
import { defaultDataDir, intFlag, parseFlags, runMain, UsageError, type Flags } from '../src/cli/args.ts';
import { createProgress, formatDuration } from '../src/cli/progress.ts';
import { formatRecord, formatTable } from '../src/cli/table.ts';
import {
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
} from '../src/migration/driver.ts';

const usage = `usage: tsx scripts/data.ts <command> [options]
  migrate     [--batch-size N] [--rate rows/s] [--dry-run] [--max-batches N] [--log-every N]
  status
  verify
  pause | resume
  quarantine  [--limit N] [--retry]
common: [--database-url URL] [--data-dir DIR]`;

runMain(async () => {
  const { flags, positional } = parseFlags(process.argv.slice(2));
  const command = positional[0];
  if (!command || flags.help) {
    console.log(usage);
    return command ? 0 : 2;
  }
  const url = typeof flags['database-url'] === 'string' ? flags['database-url'] : process.env.DATABASE_URL;
  const dataDir = typeof flags['data-dir'] === 'string' ? flags['data-dir'] : defaultDataDir;
  const where = url ? redact(url) : `embedded database ${dataDir}`;
  // One connection: batches and status reads run in order on the same session.
  const db = await openDb({ url, dataDir, max: 1 });
  try {
    await requireApi(db, Boolean(url)).catch((e: unknown) => {
      throw explain(e, Boolean(url));
    });
    switch (command) {
      case 'migrate':
        return flags['dry-run'] ? await cmdDryRun(db, flags, where) : await cmdMigrate(db, flags, where);
      case 'status':
        return await cmdStatus(db);
      case 'verify':
        return await cmdVerify(db);
      case 'pause':
        await pause(db);
        console.log('paused: a running data:migrate stops after its current batch; nothing is lost.');
        console.log('resume with: npm run data:resume   (or in psql: select resume_chat_migration();)');
        return await cmdStatus(db);
      case 'resume':
        await resume(db);
        console.log('resumed: run npm run data:migrate to continue from the last committed batch.');
        return await cmdStatus(db);
      case 'quarantine':
        return await cmdQuarantine(db, flags);
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}\n${usage}`);
    }
  } finally {
    await db.close();
  }
});

function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

async function cmdMigrate(db: Db, flags: Flags, where: string): Promise<number> {
  const batchSize = intFlag(flags, 'batch-size', 5000);
  const rate = flags.rate === undefined ? undefined : intFlag(flags, 'rate', 1);
  const maxBatches = flags['max-batches'] === undefined ? undefined : intFlag(flags, 'max-batches', 1);
  const tty = Boolean(process.stderr.isTTY) && !flags['log-every'];
  const logEvery = intFlag(flags, 'log-every', 10);

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

  console.log(
    `migrating chat_messages → chat_messages_v2 on ${where}: batch size ${batchSize}` +
      (rate ? `, at most ${rate} rows/s` : '') +
      (maxBatches ? `, at most ${maxBatches} batches` : ''),
  );
  let bar: ReturnType<typeof createProgress> | undefined;
  try {
    const r = await runMigration(db, {
      batchSize,
      ...(rate ? { rate } : {}),
      ...(maxBatches ? { maxBatches } : {}),
      shouldStop: () => interrupts > 0,
      onStart: (s, total, processed) => {
        if (s.mode) console.log(`schema mode: ${s.mode}${s.mode === 'legacy' ? ' (writes during the backfill are not mirrored; the final sweep picks them up)' : ''}`);
        if (processed > 0) console.log(`resuming: ${processed} of ${total} legacy rows already processed`);
        bar = createProgress({ label: 'backfill', total, tty, everyUpdates: logEvery, everyMs: tty ? 0 : Infinity, start: processed });
        bar.update(processed);
      },
      onBatch: (b) => {
        bar?.setTotal(b.total);
        bar?.update(b.processed, tty ? { batch: b.batch } : { batch: b.batch, rows: b.rows, ms: Math.round(b.ms) });
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
        if ((s.quarantined ?? 0) > 0) console.log('inspect quarantined rows with: npm run data:quarantine');
        console.log('next: npm run data:verify');
        return 0;
      case 'paused':
        console.log(`paused (${summary}); resume with: npm run data:resume && npm run data:migrate`);
        return 3;
      case 'interrupted':
      case 'max-batches':
        console.log(`stopped after batch ${r.batches}: ${summary}; every batch so far is committed.`);
        console.log(`resume with: npm run data:migrate -- --batch-size ${batchSize}${rate ? ` --rate ${rate}` : ''}`);
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

async function cmdDryRun(db: Db, flags: Flags, where: string): Promise<number> {
  const batchSize = intFlag(flags, 'batch-size', 5000);
  console.log(`DRY RUN on ${where} — nothing will be written.`);
  const r = await dryRun(db, { batchSize });
  console.log(`legacy rows still to process: ${r.remaining ?? '?'}`);
  console.log(`not yet migrated, by the SPEC §6 rules: ${r.wouldMigrate} would migrate`);
  for (const [reason, n] of Object.entries(r.wouldQuarantine)) console.log(`  ${n} would be quarantined: ${reason}`);
  console.log(`chat_states: ${r.chatStates.total} blobs${r.chatStates.invalidJson ? `, ${r.chatStates.invalidJson} not valid JSON (would be quarantined)` : ''}`);
  if (r.sample) {
    const rps = r.sample.rows / Math.max(r.sample.ms / 1000, 1e-3);
    console.log(
      `sample batch of ${batchSize}: ${r.sample.rows} rows processed in ${Math.round(r.sample.ms)} ms (${Math.round(rps)} rows/s)` +
        (r.sample.migrated !== null ? `, ${r.sample.migrated} migrated, ${r.sample.quarantined} quarantined` : '') +
        ' — rolled back',
    );
    if (r.remaining && rps > 0) console.log(`estimated backfill time at this speed: ${formatDuration(r.remaining / rps)}`);
  } else {
    console.log('no sample batch: the migration is paused (npm run data:resume first)');
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

async function cmdVerify(db: Db): Promise<number> {
  const r = await verify(db);
  console.log(formatTable(r.rows as unknown as Record<string, unknown>[], ['check_name', 'legacy_count', 'v2_count', 'mismatches', 'ok']));
  if (r.ok) {
    console.log('verification clean: every legacy row is in v2 or accounted for in quarantine.');
    return 0;
  }
  const bad = r.rows.filter((x) => !x.ok).map((x) => x.check_name);
  console.log(`verification FAILED: ${bad.join(', ')}`);
  console.log('hint: run npm run data:migrate to finish the backfill (it ends with a sweep), check npm run data:quarantine, then verify again');
  return 1;
}

async function cmdQuarantine(db: Db, flags: Flags): Promise<number> {
  if (flags.retry) {
    const r = await retryQuarantine(db);
    console.log(`retried quarantined rows: ${r.length ? formatInline(r[0]!) : 'done'}`);
  }
  const limit = intFlag(flags, 'limit', 100);
  const rows = await listQuarantine(db, limit);
  console.log(formatTable(rows));
  if (rows.length && !flags.retry) console.log('fix the rows in the legacy tables, then: npm run data:quarantine -- --retry');
  return 0;
}
