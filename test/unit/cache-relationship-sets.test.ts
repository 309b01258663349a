import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildNode, edgesOf, lookupPair, maskOf, MAX_DEPTH, pairInvalidationKeys, parseSetKey, rowLimit, SET_ROWS, setKey, SplitDepthHints, suffixOf,
  type EdgeLike, type SetNode, type SetRow,
} from '../../src/cache/relationship-sets.ts';

const hex = '0123456789abcdef';
const uuidArb = fc.array(fc.integer({ min: 0, max: 15 }), { minLength: 32, maxLength: 32 }).map((d) => {
  const h = d.map((i) => hex[i]).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
});
const edgeArb: fc.Arbitrary<EdgeLike> = fc.record({
  outgoing: fc.boolean(),
  kind: fc.constantFrom('friend' as const, 'favorite' as const, 'block' as const),
  status: fc.constantFrom('pending' as const, 'accepted' as const),
});
const canon = (edges: readonly EdgeLike[]) => [...new Set(edges.map((e) => `${e.outgoing}|${e.kind}|${e.status}`))].sort();

/**
 * Builds the trie the way the cache would, from an in-memory table: every node a lookup
 * asks for is computed from the rows with the same LIMIT rule as the loader's query.
 */
function nodesFrom(rows: readonly SetRow[], owner: string): (key: string) => Promise<SetNode> {
  return async (key) => {
    const { ownerId, suffix } = parseSetKey(key);
    expect(ownerId).toBe(owner);
    const matching = rows.filter((r) => r.other_id.endsWith(suffix)).slice(0, rowLimit(suffix.length) + 1);
    return buildNode(matching, suffix.length);
  };
}

describe('relationship sets (src/cache/relationship-sets.ts)', () => {
  it('a 12-bit mask round-trips every combination of rows between two users', () => {
    fc.assert(fc.property(fc.array(edgeArb, { maxLength: 12 }), (edges) => {
      expect(canon(edgesOf(maskOf(edges)))).toEqual(canon(edges));
      expect(maskOf(edges)).toBeLessThan(1 << 12);
    }));
  });

  it('a lookup through the (possibly split) set gives exactly the rows between the two users', async () => {
    await fc.assert(fc.asyncProperty(
      uuidArb,
      fc.array(fc.tuple(uuidArb, edgeArb), { maxLength: 700 }),
      fc.integer({ min: 0, max: 699 }),
      async (owner, pairs, pick) => {
        const rows: SetRow[] = pairs.map(([other, e]) => ({ other_id: other, ...e }));
        const other = rows[pick]?.other_id ?? pairs[0]?.[0] ?? owner.replace(/^./, 'f');
        const got = await lookupPair(nodesFrom(rows, owner), owner, other);
        expect(got).toBeDefined();
        expect(canon(got ?? [])).toEqual(canon(rows.filter((r) => r.other_id === other)));
      },
    ), { numRuns: 60 });
  });

  it('walks down to the deepest level when many users share an id suffix', async () => {
    const owner = '0190aaaa-0000-7000-8000-000000000001';
    // 600 users whose ids all end in "abc": the root and the "c" and "bc" nodes split.
    const rows: SetRow[] = Array.from({ length: 600 }, (_, i) => ({
      other_id: `0190bbbb-0000-7000-8000-${i.toString(16).padStart(9, '0')}abc`,
      outgoing: i % 2 === 0, kind: 'friend', status: i % 3 === 0 ? 'pending' : 'accepted',
    }));
    const asked: string[] = [];
    const nodes = nodesFrom(rows, owner);
    const target = rows[599];
    const got = await lookupPair(async (key) => { asked.push(key); return nodes(key); }, owner, target?.other_id ?? '');
    expect(asked).toEqual([owner, `${owner}:c`, `${owner}:bc`, `${owner}:abc`]);
    expect(got).toEqual([{ outgoing: target?.outgoing, kind: 'friend', status: target?.status }]);
  });

  it('remembers the split depth, and a stale hint still gives the right answer', async () => {
    const owner = '0190aaaa-0000-7000-8000-000000000002';
    const rows: SetRow[] = Array.from({ length: 600 }, (_, i) => ({
      other_id: `0190bbbb-0000-7000-8000-${i.toString(16).padStart(12, '0')}`,
      outgoing: true, kind: 'favorite', status: 'accepted',
    }));
    const hints = new SplitDepthHints();
    const asked: string[] = [];
    let nodes = nodesFrom(rows, owner);
    const get = async (key: string) => { asked.push(key); return nodes(key); };
    const a = rows[5]?.other_id ?? '';
    const b = rows[17]?.other_id ?? '';
    expect(await lookupPair(get, owner, a, hints)).toHaveLength(1);
    expect(asked).toEqual([owner, `${owner}:${a.slice(-1)}`]);
    asked.length = 0;
    // Next lookup for this owner starts at depth 1: one node read.
    expect(await lookupPair(get, owner, b, hints)).toHaveLength(1);
    expect(asked).toEqual([`${owner}:${b.slice(-1)}`]);
    // The set shrinks to a single leaf: the depth-1 node still answers correctly.
    nodes = nodesFrom(rows.slice(0, 10), owner);
    expect(await lookupPair(get, owner, b, hints)).toEqual([]);
    expect(await lookupPair(get, owner, a, hints)).toHaveLength(1);
  });

  it('splits a set over SET_ROWS rows and overflows only at the deepest level', () => {
    const row: SetRow = { other_id: 'x', outgoing: true, kind: 'favorite', status: 'accepted' };
    expect(buildNode(Array.from({ length: SET_ROWS }, () => row), 0)).toHaveProperty('edges');
    expect(buildNode(Array.from({ length: SET_ROWS + 1 }, () => row), 0)).toEqual({ split: true });
    expect(buildNode(Array.from({ length: SET_ROWS + 1 }, () => row), MAX_DEPTH)).toHaveProperty('edges');
    expect(buildNode(Array.from({ length: rowLimit(MAX_DEPTH) + 1 }, () => row), MAX_DEPTH)).toEqual({ overflow: true });
  });

  it('a pair change names every node of both sets that may hold the pair', () => {
    const a = '0190aaaa-0000-7000-8000-00000000a1b2';
    const b = '0190BBBB-0000-7000-8000-00000000C3D4';
    const keys = pairInvalidationKeys(a, b);
    expect(keys).toHaveLength(2 * (MAX_DEPTH + 1));
    for (let d = 0; d <= MAX_DEPTH; d++) {
      expect(keys).toContain(setKey(a, suffixOf(b.toLowerCase(), d)));
      expect(keys).toContain(setKey(b.toLowerCase(), suffixOf(a, d)));
    }
    expect(keys).toContain(`${a}:4`);
    expect(keys).toContain(`${a}:3d4`);
  });
});
