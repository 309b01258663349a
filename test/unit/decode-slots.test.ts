import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors/app-error.ts';
import { DecodeSlots } from '../../src/services/photos/decode-slots.ts';

/** Image decoding is bounded: a slot runs, a few wait (bounded), the rest are refused with 503 at once. */
describe('decode slots', () => {
  it('runs one, queues up to the limit, refuses the rest at once, and times out a wait', async () => {
    const slots = new DecodeSlots({ running: 1, waiting: 1, waitMs: 200 });
    let release!: () => void;
    const first = slots.run(() => new Promise<string>((r) => { release = () => r('first'); }));
    const second = slots.run(async () => 'second');
    expect(slots.running).toBe(1);
    expect(slots.waiting).toBe(1);
    const t0 = performance.now();
    const third = await slots.run(async () => 'third').catch((e: unknown) => e);
    expect(performance.now() - t0).toBeLessThan(50);
    expect(third).toBeInstanceOf(AppError);
    expect((third as AppError).code).toBe('OVERLOADED');
    expect((third as AppError).status).toBe(503);
    release();
    expect(await first).toBe('first');
    expect(await second).toBe('second');
    expect(slots.running).toBe(0);

    // A waiter whose turn does not come within waitMs is refused, and the queue forgets it.
    let hold!: () => void;
    const holding = slots.run(() => new Promise<void>((r) => { hold = r; }));
    const late = await slots.run(async () => 'late').catch((e: unknown) => e);
    expect((late as AppError).code).toBe('OVERLOADED');
    expect(slots.waiting).toBe(0);
    hold();
    await holding;
    // A failing job frees its slot.
    await expect(slots.run(async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(await slots.run(async () => 'after')).toBe('after');
  });
});
