/**
 * The replica read path's bookkeeping (supabase/functions/_shared/lsn.ts, plain TypeScript): WAL positions
 * as the functions and the typed client exchange them, the fence a write leaves, and the per-instance map of
 * fences — which must stay bounded and never let a caller read a standby that may lack their write.
 */
import { describe, expect, it } from 'vitest';
import { FenceMap, fenceFromInsertLsn, formatLsn, parseLsn } from '../supabase/functions/_shared/lsn.ts';

describe('WAL positions', () => {
  it('parse and print as Postgres does (X/Y, hex, upper case)', () => {
    expect(parseLsn('0/0')).toBe(0n);
    expect(parseLsn('16/B374D848')).toBe((0x16n << 32n) | 0xb374d848n);
    expect(parseLsn(' 16/b374d848 ')).toBe((0x16n << 32n) | 0xb374d848n);
    expect(parseLsn('FFFFFFFF/FFFFFFFF')).toBe(0xffffffffffffffffn);
    for (const bad of ['', '16B3748', '0/', '/0', 'x/1', '1/2/3', '123456789/0', '0/123456789', '-1/0', '1.5/0']) expect(parseLsn(bad), bad).toBeNull();
    expect(formatLsn((0x16n << 32n) | 0xb374d848n)).toBe('16/B374D848');
    expect(formatLsn(0x3000148n)).toBe('0/3000148');
    for (const t of ['0/0', '1/0', 'AB/CDEF0123']) expect(formatLsn(parseLsn(t)!)).toBe(t);
  });

  it('a fence taken at a page boundary is the boundary itself, which a caught-up standby reports', () => {
    const page = 8192n;
    const segment = 16n * 1024n * 1024n;
    expect(fenceFromInsertLsn(5n * page + 24n)).toBe(5n * page); // after a short page header
    expect(fenceFromInsertLsn(3n * segment + 40n)).toBe(3n * segment); // after a segment's long header
    expect(fenceFromInsertLsn(5n * page + 25n)).toBe(5n * page + 25n); // inside a page: unchanged
    expect(fenceFromInsertLsn(3n * segment + 24n)).toBe(3n * segment + 24n); // a segment start has the long header
    expect(fenceFromInsertLsn(5n * page)).toBe(5n * page);
  });
});

describe('FenceMap (the last write of each caller, in one function instance)', () => {
  it('keeps the latest fence per caller and forgets it once a standby has replayed past it', () => {
    const m = new FenceMap();
    expect(m.get('authenticated:a')).toBe(0n);
    m.record('authenticated:a', 100n);
    m.record('authenticated:a', 90n); // a slower commit finishing late never moves a fence back
    m.record('authenticated:b', 200n);
    expect(m.get('authenticated:a')).toBe(100n);
    expect(m.get('authenticated:b')).toBe(200n);
    expect(m.get('authenticated:c')).toBe(0n);
    m.replayedUpTo(150n);
    expect(m.get('authenticated:a')).toBe(0n);
    expect(m.get('authenticated:b')).toBe(200n);
    expect(m.size).toBe(1);
    m.replayedUpTo(200n);
    expect(m.size).toBe(0);
  });

  it('stays bounded, and what it drops becomes a floor for everyone until a standby passes it', () => {
    const m = new FenceMap(3);
    for (let i = 1; i <= 5; i++) m.record(`authenticated:${i}`, BigInt(i) * 10n);
    expect(m.size).toBe(3);
    // Callers 1 and 2 were dropped; nobody may now read a standby that has not replayed 20.
    expect(m.get('authenticated:1')).toBe(20n);
    expect(m.get('authenticated:unknown')).toBe(20n);
    expect(m.get('authenticated:5')).toBe(50n);
    m.replayedUpTo(20n);
    expect(m.get('authenticated:unknown')).toBe(0n);
    expect(m.get('authenticated:4')).toBe(40n);
  });

  it('a caller who writes again moves to the back of the eviction order', () => {
    const m = new FenceMap(2);
    m.record('a', 10n);
    m.record('b', 20n);
    m.record('a', 30n);
    m.record('c', 40n); // drops b, the oldest record
    expect(m.get('a')).toBe(30n);
    expect(m.get('c')).toBe(40n);
    expect(m.get('b')).toBe(20n); // via the floor
  });
});
