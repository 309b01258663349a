import { describe, expect, it } from 'vitest';
import { AdmissionQueue, type Admission } from '../../src/http/admission/admission-queue.ts';

/**
 * The queue of src/http/admission/admission-queue.ts on an injected clock and timer (started
 * at a year end and a leap day): slots first, a burst absorbed FIFO within the interval, a
 * standing queue refusing its oldest after the target and serving the newest first
 * (adaptive LIFO), cancelled waiters gone, and normal service once the queue empties.
 */
function harness(start: string, maxInFlight = 2, maxParked = 0) {
  let t = Date.parse(start);
  const timers: Array<{ at: number; fn: () => void; live: boolean }> = [];
  const q = new AdmissionQueue({
    maxInFlight, maxParked, targetMs: 5, intervalMs: 100, now: () => t,
    setTimer: (fn, ms) => { const e = { at: t + ms, fn, live: true }; timers.push(e); return { cancel: () => { e.live = false; } }; },
  });
  const advance = (ms: number) => {
    const end = t + ms;
    for (;;) {
      const next = timers.filter((e) => e.live && e.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      t = Math.max(t, next.at);
      next.live = false;
      next.fn();
    }
    t = end;
  };
  return { q, advance };
}

/** Acquires and records how the request ended ('admitted' at once counts as admitted). */
function request(q: AdmissionQueue, name: string, log: string[]): { cancel?: () => void } {
  const slot = q.acquire();
  if ('now' in slot) { log.push(`${name}:${slot.now}`); return {}; }
  void slot.later.then((a: Admission) => log.push(`${name}:${a}`));
  return { cancel: slot.cancel };
}

const flush = () => new Promise((r) => setImmediate(r));
const STARTS = ['2026-12-31T23:59:59.990Z', '2028-02-29T12:00:00Z'];

describe('AdmissionQueue (controlled delay, adaptive LIFO)', () => {
  it.each(STARTS)('admits up to the limit at once, then queues; a burst is served FIFO within the interval, from %s', async (start) => {
    const { q, advance } = harness(start);
    const log: string[] = [];
    for (const n of ['a', 'b', 'c', 'd']) request(q, n, log);
    expect(log).toEqual(['a:admitted', 'b:admitted']);
    expect(q.waiting).toBe(2);
    advance(40); // well within the interval: not standing, nobody refused
    q.release();
    await flush();
    expect(log).toEqual(['a:admitted', 'b:admitted', 'c:admitted']);
    q.release();
    await flush();
    expect(log.at(-1)).toBe('d:admitted');
    expect(q.inFlight).toBe(2);
  });

  it.each(STARTS)('a quiet spell is not a standing queue: after one request longer than the interval, a burst is absorbed, from %s', async (start) => {
    // Before the fix "last seen empty" was refreshed only by events: the release of a request
    // that ran 110 ms (no waiter ever queued) marked overload, and the first waiter of the next
    // burst was refused after the 5 ms target instead of waiting for the slot.
    const { q, advance } = harness(start, 1);
    const log: string[] = [];
    request(q, 'slow', log);
    advance(110);
    q.release();
    advance(1);
    request(q, 'a', log);
    request(q, 'b', log);
    expect(q.overloaded()).toBe(false);
    advance(30); // past the target, within the interval: b keeps waiting
    q.release();
    await flush();
    expect(log).toEqual(['slow:admitted', 'a:admitted', 'b:admitted']);
  });

  it.each(STARTS)('a waiter is refused after the interval when nothing frees, from %s', async (start) => {
    const { q, advance } = harness(start, 1);
    const log: string[] = [];
    request(q, 'a', log);
    request(q, 'b', log);
    advance(99);
    await flush();
    expect(log).toEqual(['a:admitted']);
    advance(2);
    await flush();
    expect(log).toEqual(['a:admitted', 'b:refused']);
  });

  it('a standing queue refuses its oldest after the target and gives a free slot to the newest', async () => {
    const { q, advance } = harness(STARTS[0] ?? '', 1);
    const log: string[] = [];
    request(q, 'busy', log);
    // Arrivals every 2 ms for more than an interval: the queue is never empty (standing).
    for (let i = 0; i < 60; i++) { request(q, `w${i}`, log); advance(2); }
    await flush();
    expect(q.overloaded()).toBe(true);
    // Once standing, waiters older than the target (5 ms) have been refused, and newcomers
    // beyond the overloaded depth (1 waiter for 1 slot) were refused on arrival.
    expect(q.waiting).toBeLessThanOrEqual(1);
    const refused = log.filter((l) => l.endsWith(':refused')).length;
    expect(refused).toBeGreaterThan(50);
    q.release();
    await flush();
    // The slot goes to a request that arrived within the last few ms, not to an old one.
    expect(['w57:admitted', 'w58:admitted', 'w59:admitted']).toContain(log.at(-1));
  });

  it('while overloaded, a newcomer beyond the overloaded depth is refused at once', async () => {
    const { q, advance } = harness(STARTS[0] ?? '', 16); // depth: 16 / 16 = 1 waiter
    const log: string[] = [];
    for (let i = 0; i < 16; i++) request(q, `busy${i}`, log);
    request(q, 'old', log);
    advance(101); // the waiter timed out after the interval: that refusal means overload
    await flush();
    expect(log.at(-1)).toBe('old:refused');
    expect(q.overloaded()).toBe(true);
    expect(q.refusesNewcomers(), 'no waiter yet: a newcomer would wait').toBe(false);
    request(q, 'kept', log);
    expect(q.refusesNewcomers(), 'the overloaded depth is reached').toBe(true);
    request(q, 'extra', log);
    expect(log.at(-1)).toBe('extra:refused'); // synchronously, no timer involved
    q.release();
    await flush();
    expect(log.at(-1)).toBe('kept:admitted');
    expect(q.refusesNewcomers(), 'nobody waits').toBe(false);
  });

  it('a cancelled waiter leaves the queue and is never admitted', async () => {
    const { q } = harness(STARTS[1] ?? '', 1);
    const log: string[] = [];
    request(q, 'a', log);
    const b = request(q, 'b', log);
    request(q, 'c', log);
    b.cancel?.();
    await flush();
    expect(q.waiting).toBe(1);
    q.release();
    await flush();
    expect(log).toEqual(['a:admitted', 'b:refused', 'c:admitted']);
  });

  it('once the queue empties, new requests are admitted at once again', async () => {
    const { q, advance } = harness(STARTS[1] ?? '', 1);
    const log: string[] = [];
    request(q, 'a', log);
    for (let i = 0; i < 60; i++) { request(q, `w${i}`, log); advance(2); }
    advance(10); // everyone waiting has timed out by now
    await flush();
    expect(q.waiting).toBe(0);
    q.release();
    request(q, 'fresh', log);
    expect(log.at(-1)).toBe('fresh:admitted');
  });

  it.each(STARTS)('a parked request gives its slot to the next waiter, up to the parked bound, from %s', async (start) => {
    const { q } = harness(start, 1, 2);
    const log: string[] = [];
    request(q, 'send1', log);
    request(q, 'send2', log);
    request(q, 'send3', log);
    request(q, 'read', log);
    expect(log).toEqual(['send1:admitted']);
    expect(q.park()).toBe(true); // send1 now waits for its group's commit
    await flush();
    expect(log.at(-1)).toBe('send2:admitted');
    expect(q.park()).toBe(true);
    await flush();
    expect(log.at(-1)).toBe('send3:admitted');
    expect(q.park()).toBe(false); // the bound: send3 keeps its slot
    expect([q.inFlight, q.parked, q.waiting]).toEqual([1, 2, 1]);
    // A parked request ending frees no slot (it holds none); the slot holder's release does.
    q.releaseParked();
    await flush();
    expect(log.at(-1)).toBe('send3:admitted');
    q.release();
    await flush();
    expect(log.at(-1)).toBe('read:admitted');
    expect([q.inFlight, q.parked, q.waiting]).toEqual([1, 1, 0]);
  });

  it('parks nothing when no bound is given (grouping off)', () => {
    const { q } = harness(STARTS[1] ?? '', 1);
    const log: string[] = [];
    request(q, 'a', log);
    expect(q.park()).toBe(false);
    expect([q.inFlight, q.parked]).toEqual([1, 0]);
  });

  it('refuses a non-positive limit, target or interval', () => {
    expect(() => new AdmissionQueue({ maxInFlight: 0, targetMs: 5, intervalMs: 100, now: () => 0 })).toThrow(RangeError);
    expect(() => new AdmissionQueue({ maxInFlight: 1, targetMs: 0, intervalMs: 100, now: () => 0 })).toThrow(RangeError);
  });
});
