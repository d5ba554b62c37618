/**
 * Progress output shared by the data scripts: a cli-progress bar on a TTY, one plain line every
 * `everyMs` otherwise (CI logs, `| tee`, cron), so a log file never fills with carriage returns.
 */
import cliProgress from 'cli-progress';

/** Speed as someone else computed it (the data migration: SQL's chat_migration.run_progress). */
export interface Speed {
  rowsPerSecond: number | null;
  etaSeconds: number | null;
}

export interface Progress {
  /** `speed` given: shown as it is; otherwise rows/s and ETA are this bar's own (rows since start / elapsed). */
  update(done: number, extra?: Record<string, string | number>, speed?: Speed): void;
  setTotal(total: number): void;
  stop(): void;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > 365 * 86400) return '?';
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

export function createProgress(opts: {
  label: string;
  total: number;
  tty?: boolean;
  /** Non-TTY: print a line at most this often (default 2 s). */
  everyMs?: number;
  /** Non-TTY: or every this many updates, whichever comes first. */
  everyUpdates?: number;
  log?: (line: string) => void;
  /** Where this run started (a resumed run): rows/s and ETA count only what this run did. */
  start?: number;
}): Progress {
  const tty = opts.tty ?? Boolean(process.stderr.isTTY);
  const started = Date.now();
  let total = opts.total;
  const rate = (done: number) => (done - (opts.start ?? 0)) / Math.max((Date.now() - started) / 1000, 1e-3);
  const speedOf = (done: number, speed?: Speed) => {
    if (speed) return { rps: speed.rowsPerSecond, eta: speed.etaSeconds };
    const r = rate(done);
    return { rps: r, eta: (total - done) / Math.max(r, 1e-9) };
  };
  const rpsText = (rps: number | null) => (rps === null ? '?' : Math.round(rps).toLocaleString('en-US'));
  const etaText = (eta: number | null) => (eta === null ? '?' : formatDuration(eta));
  if (tty) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${opts.label} [{bar}] {percentage}% | {value}/{total} rows | {rps} rows/s | ETA {eta_h}{info}`,
        hideCursor: true,
        stream: process.stderr,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(Math.max(total, 1), 0, { rps: '0', eta_h: '?', info: '' });
    return {
      update(done, extra = {}, speed) {
        if (done > total) {
          total = done;
          bar.setTotal(total);
        }
        const sp = speedOf(done, speed);
        const info = Object.entries(extra).map(([k, v]) => ` | ${k} ${v}`).join('');
        bar.update(done, { rps: rpsText(sp.rps), eta_h: etaText(sp.eta), info });
      },
      setTotal(t) {
        total = Math.max(t, 1);
        bar.setTotal(total);
      },
      stop: () => bar.stop(),
    };
  }
  const log = opts.log ?? ((l: string) => console.log(l));
  let lastAt = 0;
  let updates = 0;
  let last = 0;
  let lastExtra: Record<string, string | number> = {};
  let lastSpeed: Speed | undefined;
  const line = (done: number, extra: Record<string, string | number>, speed?: Speed) => {
    const sp = speedOf(done, speed);
    const pct = total > 0 ? ((100 * done) / total).toFixed(1) : '100.0';
    const info = Object.entries(extra).map(([k, v]) => ` ${k}=${v}`).join('');
    log(`${opts.label}: ${done}/${total} (${pct}%) ${rpsText(sp.rps)} rows/s ETA ${etaText(sp.eta)}${info}`);
  };
  return {
    update(done, extra = {}, speed) {
      last = done;
      lastExtra = extra;
      lastSpeed = speed;
      if (done > total) total = done;
      updates++;
      const now = Date.now();
      if (now - lastAt >= (opts.everyMs ?? 2000) || updates >= (opts.everyUpdates ?? Infinity)) {
        lastAt = now;
        updates = 0;
        line(done, extra, speed);
      }
    },
    setTotal(t) {
      total = t;
    },
    stop() {
      if (updates > 0) line(last, lastExtra, lastSpeed);
    },
  };
}
