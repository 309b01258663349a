import { describe, expect, it } from 'vitest';
import { ViewBatcher } from '../../src/cache/warm.ts';
import type { QueryContext } from '../../src/db/query-context.ts';

/**
 * The start-up warm-up batches profile loads into one statement (ViewBatcher). A batch the
 * router answered from a replica that may be behind the max lag tells every load in it, so
 * the cache keeps those entries briefly (typed-cache.ts) instead of for the whole TTL. Before,
 * the batch passed no callback and the warm-up's entries were kept for 10 minutes.
 */
describe('the warm-up batcher', () => {
  it('passes a degraded read on to every load of the batch, and only to that batch', async () => {
    let degradeNext = true;
    const reader = {
      getProfileViews: async (ids: readonly string[], ctx: QueryContext) => {
        if (degradeNext) ctx.onDegradedRead?.();
        return new Map(ids.map((id) => [id, { id }]));
      },
    };
    const batcher = new ViewBatcher(reader, 10);
    const told: string[] = [];
    const first = await Promise.all(['a', 'b'].map((id) => batcher.load(id, false, () => told.push(id))));
    expect(first).toEqual([{ id: 'a' }, { id: 'b' }]);
    expect(told.sort()).toEqual(['a', 'b']);
    degradeNext = false;
    await batcher.load('c', false, () => told.push('c'));
    expect(told).not.toContain('c');
  });
});
