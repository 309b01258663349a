import { describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import { GroupCommitWriter, type GroupedItem } from '../../src/services/group-commit.ts';

/**
 * What a grouped write does when its group's statement fails (src/services/group-commit.ts),
 * with the statement itself stood in by a function (the real statements run in
 * send-group-commit.test.ts and comment-group-commit.test.ts): a member's own error
 * (a foreign key, 23503) re-runs the members alone, a few at a time; a statement timeout
 * (57014, the database's load) fails every member without re-running any.
 */
interface Item extends GroupedItem { readonly n: number }
const pgError = (code: string) => Object.assign(new Error(`sqlstate ${code}`), { code });
const item = (n: number): Item => ({ n, writerId: `u${n}`, createdAt: '2026-12-31T23:59:59Z' });

function writer(failGroupWith: string) {
  let running = 0;
  let peakAlone = 0;
  let aloneRuns = 0;
  const w = new GroupCommitWriter<Item, { n: number; wrote: boolean }>(
    // Nothing was written (wrote: false), so no LSN is fetched and the database is never asked.
    {} as Database, undefined,
    {
      name: 'test.write_many', table: 'messages', wrote: (r) => r.wrote,
      writeMany: async (items) => {
        if (items.length > 1) throw pgError(failGroupWith);
        aloneRuns++;
        running++;
        peakAlone = Math.max(peakAlone, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        if ((items[0] as Item).n === 3) throw pgError('23503');
        return [{ n: (items[0] as Item).n, wrote: false }];
      },
    },
    { maxGroup: 64, maxInFlight: 2 },
  );
  return { w, stats: () => ({ peakAlone, aloneRuns }) };
}

describe('a grouped write whose group statement failed', () => {
  it("a member's own error: the members re-run alone, at most 4 at a time, and only that member fails", async () => {
    const { w, stats } = writer('23503');
    const settled = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => w.write(item(i))));
    expect(settled.filter((s) => s.status === 'rejected')).toHaveLength(1);
    expect(stats().aloneRuns).toBe(40);
    // Before: all 40 at once.
    expect(stats().peakAlone).toBeLessThanOrEqual(4);
  });

  it('a statement timeout: every member fails with it, none re-runs', async () => {
    const { w, stats } = writer('57014');
    const settled = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => w.write(item(i))));
    const reasons = settled.map((s) => (s.status === 'rejected' ? (s.reason as { code?: string }).code : 'ok'));
    expect(new Set(reasons)).toEqual(new Set(['57014']));
    expect(stats().aloneRuns).toBe(0);
  });
});
