import { describe, expect, it } from 'vitest';
import { SameTickBatch } from '../../src/cache/same-tick-batch.ts';

describe('SameTickBatch', () => {
  it('sends the calls of one turn as one batch, in call order, including calls made a few awaits later', async () => {
    const sent: number[][] = [];
    const batch = new SameTickBatch<number>(async (items) => { sent.push([...items]); });
    const later = (async () => { await Promise.resolve(); await Promise.resolve(); return batch.add(3); })();
    await Promise.all([batch.add(1), batch.add(2), later]);
    expect(sent).toEqual([[1, 2, 3]]);
  });

  it('starts a new batch in the next turn', async () => {
    const sent: number[][] = [];
    const batch = new SameTickBatch<number>(async (items) => { sent.push([...items]); });
    await batch.add(1);
    await new Promise((resolve) => setImmediate(resolve));
    await batch.add(2);
    expect(sent).toEqual([[1], [2]]);
  });

  it('sends a full batch at once and the rest with the turn', async () => {
    const sent: number[][] = [];
    const batch = new SameTickBatch<number>(async (items) => { sent.push([...items]); }, 2);
    await Promise.all([1, 2, 3, 4, 5].map((n) => batch.add(n)));
    expect(sent).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('fails every call of a batch whose command failed, and only that batch', async () => {
    let calls = 0;
    const batch = new SameTickBatch<string>(async () => {
      calls++;
      if (calls === 1) throw new Error('READONLY');
    });
    const first = await Promise.allSettled([batch.add('a'), batch.add('b')]);
    expect(first.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(first.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : ''))).toEqual(['READONLY', 'READONLY']);
    await expect(batch.add('c')).resolves.toBeUndefined();
  });

  it('turns a send that throws instead of rejecting into rejected calls', async () => {
    const batch = new SameTickBatch<string>(() => { throw new Error('not connected'); });
    await expect(batch.add('a')).rejects.toThrow('not connected');
  });
});
