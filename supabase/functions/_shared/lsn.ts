/**
 * WAL positions (LSNs, `16/B374D848`) and the per-caller read fence of the replica read path (db.ts).
 * Plain TypeScript without Deno APIs, so Node tests import it as it is.
 *
 * A fence is the primary's WAL insert position right after a caller's write committed: a standby that has
 * replayed up to it has that write, and every earlier one. Reads of the caller go to the standby only once
 * its replay position has reached the caller's fence.
 */

const LSN_RE = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** `X/Y` (Postgres' pg_lsn text) as a number of bytes; null when it is not one. */
export function parseLsn(text: string): bigint | null {
  const m = LSN_RE.exec(text.trim());
  if (!m) return null;
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

const PAGE = 8192n;
const SEGMENT = 16n * 1024n * 1024n;
const SHORT_PAGE_HEADER = 24n;
const LONG_PAGE_HEADER = 40n;

/**
 * A WAL position taken right after a commit, as a fence a standby can reach. The flush position
 * (`pg_current_wal_flush_lsn()`) always is one. The insert position (`pg_current_wal_insert_lsn()`, the
 * fence under synchronous_commit = off) is not always: when insertion sits exactly at a page boundary it
 * reports the position after the next page's header (24 bytes, 40 at a segment start), while a standby that
 * replayed everything reports the boundary itself — the fence would stay out of reach until the primary
 * writes again (seen: a 12.6 s wait on an idle primary, until the next standby snapshot record). No record
 * ends inside a page header, so the boundary is the same fence. (Default page and segment sizes, which Supabase uses; with others the fence
 * is only later than needed, never earlier.)
 */
export function fenceFromInsertLsn(lsn: bigint): bigint {
  if (lsn % SEGMENT === LONG_PAGE_HEADER) return lsn - LONG_PAGE_HEADER;
  if (lsn % PAGE === SHORT_PAGE_HEADER && lsn % SEGMENT !== SHORT_PAGE_HEADER) return lsn - SHORT_PAGE_HEADER;
  return lsn;
}

/**
 * The last write fence of each caller this function instance served — what a caller that does not send
 * `X-Read-After-LSN` is held to. It is an optimisation of one instance, never the guarantee across
 * instances (another instance does not see it; that is what the header is for).
 *
 * Entries leave once a standby is known to have replayed past them: nothing older can be missing there,
 * and standby replay only moves forward. So the map holds only callers who wrote within the standby's
 * lag. If it ever reaches `max` callers (a standby far behind), the oldest entries are dropped and their
 * fence becomes a floor for every caller, so no one is sent to a standby that may lack a write this
 * instance made: the map is bounded and stays safe, at the price of sending more reads to the primary.
 */
export class FenceMap {
  private readonly fences = new Map<string, bigint>();
  private floor = 0n;

  constructor(private readonly max = 10_000) {}

  get size(): number {
    return this.fences.size;
  }

  record(key: string, lsn: bigint): void {
    const old = this.fences.get(key);
    this.fences.delete(key); // re-inserted last: Map order is record order, close to LSN order
    this.fences.set(key, old !== undefined && old > lsn ? old : lsn);
    while (this.fences.size > this.max) {
      const [k, f] = this.fences.entries().next().value!;
      this.fences.delete(k);
      if (f > this.floor) this.floor = f;
    }
  }

  /** The fence a read by `key` must wait for (0 when none). */
  get(key: string): bigint {
    const f = this.fences.get(key) ?? 0n;
    return f > this.floor ? f : this.floor;
  }

  /** A standby has replayed up to `lsn`: fences at or below it are met for good. */
  replayedUpTo(lsn: bigint): void {
    if (this.floor <= lsn) this.floor = 0n;
    // Oldest first; stop at the first fence not yet met (records arrive in nearly ascending LSN order, so
    // this is amortised constant work; an entry behind a later one just leaves a little later).
    for (const [k, f] of this.fences) {
      if (f > lsn) break;
      this.fences.delete(k);
    }
  }
}
