import { describe, expect, it } from 'vitest';
import { WriteBatcher, type Settled } from '../../src/services/write-batcher.ts';

/**
 * The grouping rules of src/services/write-batcher.ts with a `run` that records its groups
 * and finishes when the test says so (the database side is test/integration/send-group-commit.test.ts).
 */
interface Item { readonly n: number; readonly key?: string }

function harness(opts: { maxGroup: number; maxInFlight: number }) {
  const groups: number[][] = [];
  const pending: Array<() => void> = [];
  let running = 0;
  let maxRunning = 0;
  const batcher = new WriteBatcher<Item, number>(async (items) => {
    groups.push(items.map((i) => i.n));
    running++;
    maxRunning = Math.max(maxRunning, running);
    await new Promise<void>((resolve) => pending.push(resolve));
    running--;
    return items.map((i): Settled<number> => (i.n < 0 ? { ok: false, error: new Error(`bad ${i.n}`) } : { ok: true, value: i.n * 10 }));
  }, opts, (i) => i.key);
  /** Lets every running group finish, turn by turn, until nothing runs or waits. */
  const drain = async () => {
    for (let turn = 0; turn < 100; turn++) {
      await new Promise((r) => setImmediate(r));
      const next = pending.splice(0);
      if (next.length === 0 && batcher.queued === 0) return;
      for (const f of next) f();
    }
    throw new Error('the batcher did not drain in 100 turns');
  };
  return { batcher, groups, drain, maxRunning: () => maxRunning };
}

describe('WriteBatcher', () => {
  it('sends submitted in one turn leave together, up to maxGroup; the rest wait for a free slot', async () => {
    const h = harness({ maxGroup: 3, maxInFlight: 1 });
    const out = Promise.all([1, 2, 3, 4, 5].map((n) => h.batcher.submit({ n })));
    await h.drain();
    expect(await out).toEqual([10, 20, 30, 40, 50]);
    expect(h.groups).toEqual([[1, 2, 3], [4, 5]]);
    expect(h.maxRunning()).toBe(1);
    expect(h.batcher.stats).toEqual({ groups: 2, members: 5, largestGroup: 3 });
  });

  it('runs at most maxInFlight groups at once, and a lone write leaves without waiting for company', async () => {
    const h = harness({ maxGroup: 2, maxInFlight: 2 });
    const out = Promise.all([1, 2, 3, 4, 5, 6].map((n) => h.batcher.submit({ n })));
    await h.drain();
    await out;
    expect(h.groups).toEqual([[1, 2], [3, 4], [5, 6]]);
    expect(h.maxRunning()).toBe(2);
    const lone = h.batcher.submit({ n: 7 });
    await h.drain();
    expect(await lone).toBe(70);
    expect(h.groups.at(-1)).toEqual([7]);
  });

  it('each member settles with its own outcome; a thrown run fails only its own group', async () => {
    const h = harness({ maxGroup: 10, maxInFlight: 1 });
    const results = Promise.allSettled([1, -2, 3].map((n) => h.batcher.submit({ n })));
    await h.drain();
    expect((await results).map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([10, 'bad -2', 30]);

    const failing = new WriteBatcher<Item, number>(async () => { throw new Error('connection lost'); }, { maxGroup: 10, maxInFlight: 1 });
    const lost = await Promise.allSettled([failing.submit({ n: 1 }), failing.submit({ n: 2 })]);
    expect(lost.map((r) => r.status === 'rejected' && (r.reason as Error).message)).toEqual(['connection lost', 'connection lost']);
    const after = harness({ maxGroup: 10, maxInFlight: 1 });
    const ok = after.batcher.submit({ n: 4 });
    await after.drain();
    expect(await ok).toBe(40);
  });

  it('two members with one exclusive key never share a group nor run at once; others pass them', async () => {
    const h = harness({ maxGroup: 10, maxInFlight: 2 });
    const out = Promise.all([
      h.batcher.submit({ n: 1, key: 'k' }), h.batcher.submit({ n: 2, key: 'k' }), h.batcher.submit({ n: 3 }),
      h.batcher.submit({ n: 4, key: 'k' }), h.batcher.submit({ n: 5, key: 'other' }),
    ]);
    await h.drain();
    expect(await out).toEqual([10, 20, 30, 40, 50]);
    expect(h.groups).toEqual([[1, 3, 5], [2], [4]]);
  });

  it('maxGroup 1 turns grouping off: every write runs at once, alone, however many are running', async () => {
    const h = harness({ maxGroup: 1, maxInFlight: 1 });
    const out = Promise.all([1, 2, 3].map((n) => h.batcher.submit({ n, key: 'same' })));
    await h.drain();
    expect(await out).toEqual([10, 20, 30]);
    expect(h.groups).toEqual([[1], [2], [3]]);
    expect(h.maxRunning()).toBe(3);
  });

  it('refuses nonsensical sizes', () => {
    expect(() => new WriteBatcher(async () => [], { maxGroup: 0, maxInFlight: 1 })).toThrow(/maxGroup/);
    expect(() => new WriteBatcher(async () => [], { maxGroup: 1, maxInFlight: 0 })).toThrow(/maxInFlight/);
  });
});
