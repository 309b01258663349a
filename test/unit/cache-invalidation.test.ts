import { describe, expect, it } from 'vitest';
import { parseInvalidation } from '../../src/cache/invalidation-message.ts';
import { RecentInvalidations } from '../../src/cache/recent-invalidations.ts';
import { jittered } from '../../src/cache/typed-cache.ts';

describe('NOTIFY payloads (migrations/0004)', () => {
  it('parses key lists and flushes as the triggers send them', () => {
    expect(parseInvalidation('{"v" : 1, "cache" : "profile", "keys" : ["a","b"]}')).toEqual({ cache: 'profile', kind: 'keys', keys: ['a', 'b'] });
    expect(parseInvalidation('{"v":1,"cache":"session","flush":true}')).toEqual({ cache: 'session', kind: 'flush' });
  });
  it('ignores anything else instead of throwing', () => {
    for (const bad of ['', 'nope', '{}', '{"v":2,"cache":"profile","keys":["a"]}', '{"v":1,"cache":"other","keys":["a"]}', '{"v":1,"cache":"profile","keys":[]}', '{"v":1,"cache":"profile","keys":[1]}']) {
      expect(parseInvalidation(bad), bad).toBeUndefined();
    }
  });
});

describe('RecentInvalidations (stale-set fencing, fresh reads)', () => {
  it('changes the stamp of an invalidated key and of every key on a flush', () => {
    const r = new RecentInvalidations(1_000);
    const a0 = r.stamp('a');
    const b0 = r.stamp('b');
    r.note('a');
    expect(r.stamp('a')).not.toBe(a0);
    expect(r.stamp('b')).toBe(b0);
    const a1 = r.stamp('a');
    r.noteAll();
    expect(r.stamp('a')).not.toBe(a1);
    expect(r.stamp('b')).not.toBe(b0);
  });
  it('asks for fresh reads only within its window', () => {
    let now = Date.parse('2026-12-31T23:59:30Z');
    const r = new RecentInvalidations(30, () => now);
    expect(r.recent('a')).toBe(false);
    r.note('a');
    expect(r.recent('a')).toBe(true);
    expect(r.recent('b')).toBe(false);
    now += 29;
    expect(r.recent('a')).toBe(true);
    now += 1;
    expect(r.recent('a')).toBe(false);
    r.noteAll();
    expect(r.recent('b')).toBe(true);
    now += 30;
    expect(r.recent('b')).toBe(false);
  });
});

describe('RecentInvalidations past its size bound', () => {
  it('a burst of more keys than it keeps still changes the stamp of every key and keeps them fresh-read', () => {
    const now = Date.parse('2026-12-31T23:59:59Z');
    const r = new RecentInvalidations(2_500, () => now);
    r.note('first');
    const before = r.stamp('first');
    // 100,001 more keys at the same moment: the oldest entry ('first') is pruned inside its window.
    for (let i = 0; i <= 100_000; i++) r.note(`k${i}`);
    expect(r.size).toBeLessThanOrEqual(100_000);
    expect(r.stamp('first'), 'a load that started before the burst must not match its old stamp').not.toBe(before);
    expect(r.recent('first')).toBe(true);
  });
});

describe('TTL jitter', () => {
  it('spreads TTLs over ±10% so keys written together do not expire together', () => {
    const values = Array.from({ length: 2_000 }, () => jittered(600_000));
    expect(Math.min(...values)).toBeGreaterThanOrEqual(540_000);
    expect(Math.max(...values)).toBeLessThanOrEqual(660_000);
    expect(new Set(values).size).toBeGreaterThan(1_900);
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    expect(Math.abs(mean - 600_000)).toBeLessThan(6_000);
  });
});
