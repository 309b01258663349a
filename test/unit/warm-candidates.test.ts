import { describe, expect, it } from 'vitest';
import { mergeWarmCandidates } from '../../src/cache/warm.repository.ts';

const ids = (p: string, n: number) => Array.from({ length: n }, (_, i) => `${p}${i}`);

describe('mergeWarmCandidates', () => {
  it('takes a fifth from the recent list, one in five positions, and the rest from the linked list', () => {
    expect(mergeWarmCandidates(ids('l', 20), ids('r', 20), 10)).toEqual(['r0', 'l0', 'l1', 'l2', 'l3', 'r1', 'l4', 'l5', 'l6', 'l7']);
  });

  it('drops duplicates without counting them and fills from the recent list when the linked one runs out', () => {
    // r0 is also the most linked: it is warmed once, and the recent quota (2) still moves on to r1.
    expect(mergeWarmCandidates(['r0', 'l1', 'l2'], ids('r', 10), 8)).toEqual(['r0', 'l1', 'l2', 'r1', 'r2', 'r3', 'r4', 'r5']);
    expect(mergeWarmCandidates([], ids('r', 3), 5)).toEqual(['r0', 'r1', 'r2']);
    expect(mergeWarmCandidates(ids('l', 3), [], 5)).toEqual(['l0', 'l1', 'l2']);
    expect(mergeWarmCandidates(ids('l', 3), ids('r', 3), 0)).toEqual([]);
  });
});
