import { describe, expect, it } from 'vitest';
import {
  buildNode, buildSiblings, childSuffixes, MAX_DEPTH, rowLimit, SET_ROWS, setKey, siblingRowLimit, suffixOf,
  type SetNode, type SetRow,
} from '../../src/cache/relationship-sets.ts';
import { RelationshipSetLoader, type RelationshipSetSource } from '../../src/cache/relationship-set-loader.ts';
import type { TypedCache } from '../../src/cache/typed-cache.ts';

const OWNER = '0190aaaa-0000-7000-8000-000000000001';

/** `n` rows with other users whose ids end in `suffix` (distinct ids, `from` makes them unique across calls). */
function rowsEndingIn(suffix: string, n: number, from = 0): SetRow[] {
  return Array.from({ length: n }, (_, i) => ({
    other_id: `0190bbbb-0000-7000-8000-${(from + i).toString(16).padStart(12 - suffix.length, '0')}${suffix}`,
    outgoing: i % 2 === 0, kind: 'friend' as const, status: 'accepted' as const,
  }));
}

/** Rows spread over every last hex digit: `perDigit` each. */
function spread(perDigit: number, parent = ''): SetRow[] {
  return childSuffixes(parent).flatMap((s, i) => rowsEndingIn(s, perDigit, i * 10_000));
}

describe('buildSiblings (relationship-sets.ts)', () => {
  it('splits a parent range read whole into the 16 children, each exactly its rows', () => {
    const rows = spread(19);
    const nodes = buildSiblings(rows, '', siblingRowLimit(1));
    expect([...nodes.keys()].sort()).toEqual([...'0123456789abcdef']);
    for (const [suffix, node] of nodes) {
      expect(node).toEqual(buildNode(rows.filter((r) => suffixOf(r.other_id, 1) === suffix), 1));
      expect(Object.keys((node as { edges: object }).edges)).toHaveLength(19);
    }
  });

  it('children of a depth-1 parent carry two digits, and an empty child is an empty leaf', () => {
    const rows = [...rowsEndingIn('3b', 5), ...rowsEndingIn('fb', 2, 100)];
    const nodes = buildSiblings(rows, 'b', siblingRowLimit(2));
    expect(nodes.size).toBe(16);
    expect(Object.keys((nodes.get('3b') as { edges: object }).edges)).toHaveLength(5);
    expect(Object.keys((nodes.get('fb') as { edges: object }).edges)).toHaveLength(2);
    expect(nodes.get('0b')).toEqual({ edges: {} });
  });

  it(`a child over ${SET_ROWS} rows is stored as split, its siblings as leaves`, () => {
    const rows = [...rowsEndingIn('a', SET_ROWS + 1), ...rowsEndingIn('1', 10, 50_000)];
    const nodes = buildSiblings(rows, '', siblingRowLimit(1));
    expect(nodes.get('a')).toEqual({ split: true });
    expect(Object.keys((nodes.get('1') as { edges: object }).edges)).toHaveLength(10);
    expect(nodes.get('2')).toEqual({ edges: {} });
  });

  it('at the deepest level a child over its limit overflows', () => {
    const parent = 'cd';
    const rows = rowsEndingIn(`e${parent}`, rowLimit(MAX_DEPTH) + 1);
    expect(buildSiblings(rows, parent, siblingRowLimit(MAX_DEPTH)).get(`e${parent}`)).toEqual({ overflow: true });
  });

  it('a range cut off by the LIMIT decides only the children it shows over their limit', () => {
    const limit = siblingRowLimit(1);
    // What the LIMIT let through: child 0 whole and over its limit, then a part of child 1.
    const rows = [...rowsEndingIn('0', limit - 100), ...rowsEndingIn('1', 100, 90_000)];
    expect(rows).toHaveLength(limit);
    const nodes = buildSiblings(rows, '', limit);
    expect([...nodes.entries()]).toEqual([['0', { split: true }]]);
  });
});

/** A stand-in for the relationship TypedCache: a map, with stamps the test can bump. */
class FakeCache {
  readonly values = new Map<string, unknown>();
  readonly stamps = new Map<string, number>();
  readonly recentKeys = new Set<string>();
  stampOf(id: string): number { return this.stamps.get(id) ?? 0; }
  isRecent(id: string): boolean { return this.recentKeys.has(id); }
  cachedHere(id: string): boolean { return this.values.has(id); }
  async setIfUnchanged(id: string, value: unknown, stampBefore: number): Promise<boolean> {
    if (this.stampOf(id) !== stampBefore || this.values.has(id)) return false;
    this.values.set(id, value);
    return true;
  }
  invalidate(id: string): void {
    this.values.delete(id);
    this.stamps.set(id, this.stampOf(id) + 1);
  }
}

/** The rows of `all` in a suffix range, cut at `limit` (what the catalog query returns). */
function sourceOver(all: readonly SetRow[], calls: Array<{ suffix: string; limit: number; primary: boolean }>, during?: () => void): RelationshipSetSource {
  return {
    async load(_owner, suffix, limit, ctx) {
      calls.push({ suffix, limit, primary: ctx.forcePrimary === true });
      during?.();
      return all.filter((r) => r.other_id.endsWith(suffix)).slice(0, limit);
    },
  };
}

describe('RelationshipSetLoader (sibling loading)', () => {
  it('one statement answers a leaf and stores its 15 siblings; a sibling invalidated meanwhile is not stored', async () => {
    const cache = new FakeCache();
    const calls: Array<{ suffix: string; limit: number; primary: boolean }> = [];
    const rows = spread(20);
    const loader = new RelationshipSetLoader(cache as unknown as TypedCache, sourceOver(rows, calls, () => cache.invalidate(setKey(OWNER, '7'))));
    const node = await loader.load(setKey(OWNER, '3'), { fresh: false });
    expect(Object.keys((node as { edges: object }).edges)).toHaveLength(20);
    expect(calls).toEqual([{ suffix: '', limit: siblingRowLimit(1), primary: false }]);
    expect(cache.values.has(setKey(OWNER, '7'))).toBe(false);
    expect(cache.values.has(setKey(OWNER, '3'))).toBe(false); // the requested node is TypedCache's to store
    expect([...cache.values.keys()].sort()).toEqual(childSuffixes('').filter((s) => s !== '3' && s !== '7').map((s) => setKey(OWNER, s)).sort());
    expect(loader.siblingsStored).toBe(14);
  });

  it('reads the primary when a sibling was invalidated moments ago, and never overwrites a cached sibling', async () => {
    const cache = new FakeCache();
    const older: SetNode = { edges: { x: 1 } };
    cache.values.set(setKey(OWNER, 'e'), older);
    cache.recentKeys.add(setKey(OWNER, '5'));
    const calls: Array<{ suffix: string; limit: number; primary: boolean }> = [];
    const loader = new RelationshipSetLoader(cache as unknown as TypedCache, sourceOver(spread(3), calls));
    await loader.load(setKey(OWNER, '0'), { fresh: false });
    expect(calls[0]?.primary).toBe(true);
    expect(cache.values.get(setKey(OWNER, 'e'))).toBe(older);
  });

  it('a range too big to read whole: the undecided leaf loads alone, and so do its siblings afterwards', async () => {
    const cache = new FakeCache();
    const calls: Array<{ suffix: string; limit: number; primary: boolean }> = [];
    // Children 0 and 1 are huge (split); child 9 is small.
    const rows = [...rowsEndingIn('0', 3_000), ...rowsEndingIn('1', 3_000, 100_000), ...rowsEndingIn('9', 4, 200_000)];
    const loader = new RelationshipSetLoader(cache as unknown as TypedCache, sourceOver(rows, calls));
    const node = await loader.load(setKey(OWNER, '9'), { fresh: false });
    expect(Object.keys((node as { edges: object }).edges)).toHaveLength(4);
    expect(calls.map((c) => c.suffix)).toEqual(['', '9']);
    expect(cache.values.get(setKey(OWNER, '0'))).toEqual({ split: true });
    calls.length = 0;
    await loader.load(setKey(OWNER, 'c'), { fresh: false });
    expect(calls).toEqual([{ suffix: 'c', limit: SET_ROWS + 1, primary: false }]);
  });

  it('the root and a leaf whose siblings are all cached load alone', async () => {
    const cache = new FakeCache();
    const calls: Array<{ suffix: string; limit: number; primary: boolean }> = [];
    const loader = new RelationshipSetLoader(cache as unknown as TypedCache, sourceOver(spread(2), calls));
    await loader.load(OWNER, { fresh: true });
    for (const s of childSuffixes('')) if (s !== '4') cache.values.set(setKey(OWNER, s), { edges: {} });
    await loader.load(setKey(OWNER, '4'), { fresh: false });
    expect(calls).toEqual([{ suffix: '', limit: SET_ROWS + 1, primary: true }, { suffix: '4', limit: SET_ROWS + 1, primary: false }]);
  });
});
