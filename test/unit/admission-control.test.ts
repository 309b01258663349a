import { describe, expect, it } from 'vitest';
import { QueueDelayDetector } from '../../src/http/admission/queue-delay-detector.ts';
import { AdmissionController } from '../../src/http/admission/admission-controller.ts';

/**
 * Queue-delay admission control (src/http/admission) on an injected clock started at fixed
 * dates (a year end, a leap day): a standing queue (every wait in an interval above the
 * target) sheds during the next interval, a burst that drains does not, stale evidence
 * stops shedding, and a pool only sheds while someone waits in it.
 */
function clockAt(iso: string): { now: () => number; advance: (ms: number) => void } {
  let t = Date.parse(iso);
  return { now: () => t, advance: (ms) => { t += ms; } };
}

const YEAR_END = '2026-12-31T23:59:59.950Z';
const LEAP_DAY = '2028-02-29T12:00:00Z';
const STARTS = [YEAR_END, LEAP_DAY];

describe('QueueDelayDetector (CoDel: minimum wait over an interval against a target)', () => {
  it.each(STARTS)('a standing queue sheds for the next interval, from %s', (start) => {
    const clock = clockAt(start);
    const d = new QueueDelayDetector({ targetMs: 5, intervalMs: 100, now: clock.now });
    for (let i = 0; i < 10; i++) { d.record(6 + i); clock.advance(10); }
    // 100 ms passed: the finished window's minimum (6 ms) is above 5 ms.
    expect(d.overloaded()).toBe(true);
    expect(d.lastIntervalMinMs()).toBe(6);
    // Still waiting long in the next window: the verdict holds into the one after.
    for (let i = 0; i < 10; i++) { d.record(50); clock.advance(10); }
    expect(d.overloaded()).toBe(true);
  });

  it.each(STARTS)('a burst that drains within the interval is not overload, from %s', (start) => {
    const clock = clockAt(start);
    const d = new QueueDelayDetector({ targetMs: 5, intervalMs: 100, now: clock.now });
    d.record(800); d.record(400); clock.advance(50);
    d.record(4); clock.advance(50);
    expect(d.lastIntervalMinMs()).toBe(4);
    expect(d.overloaded()).toBe(false);
  });

  it('exactly at the target is not overload; just above is', () => {
    const clock = clockAt(YEAR_END);
    const d = new QueueDelayDetector({ targetMs: 5, intervalMs: 100, now: clock.now });
    d.record(5); clock.advance(100);
    expect(d.overloaded()).toBe(false);
    d.record(5.001); clock.advance(99);
    expect(d.overloaded()).toBe(false); // the window is not finished yet
    clock.advance(1);
    expect(d.overloaded()).toBe(true);
  });

  it('an interval without samples, or a verdict older than one interval, stops shedding', () => {
    const clock = clockAt(LEAP_DAY);
    const d = new QueueDelayDetector({ targetMs: 5, intervalMs: 100, now: clock.now });
    d.record(30); clock.advance(100);
    expect(d.overloaded()).toBe(true);
    clock.advance(100); // nothing waited in the window that just finished
    expect(d.overloaded()).toBe(false);
    expect(Number.isNaN(d.lastIntervalMinMs())).toBe(true);
    d.record(30); clock.advance(250); // the long wait is two windows old by now
    expect(d.overloaded()).toBe(false);
  });

  it('refuses a non-positive target or interval', () => {
    expect(() => new QueueDelayDetector({ targetMs: 0, intervalMs: 100, now: () => 0 })).toThrow(RangeError);
    expect(() => new QueueDelayDetector({ targetMs: 5, intervalMs: 0, now: () => 0 })).toThrow(RangeError);
  });
});

describe('AdmissionController', () => {
  it.each(STARTS)('sheds on a standing pool queue only while the pool has waiters, from %s', (start) => {
    const clock = clockAt(start);
    const waiting = new Map<string, number>([['primary', 12], ['replica1', 0]]);
    const c = new AdmissionController({ targetMs: 5, intervalMs: 100, now: clock.now, waiting: (p) => waiting.get(p) ?? 0, inFlight: () => 0, loopQueueFloor: 30 });
    expect(c.shedReason()).toBeUndefined();
    for (let i = 0; i < 20; i++) { c.recordPoolWait('primary', 40); c.recordPoolWait('replica1', 0); clock.advance(5); }
    expect(c.shedReason()).toBe('pool');
    // The queue emptied within the interval: admit again at once, so connections never idle.
    waiting.set('primary', 0);
    expect(c.shedReason()).toBeUndefined();
    waiting.set('primary', 1);
    expect(c.shedReason()).toBe('pool');
    // A fast interval ends it.
    for (let i = 0; i < 20; i++) { c.recordPoolWait('primary', 1); clock.advance(5); }
    expect(c.shedReason()).toBeUndefined();
  });

  it('sheds on a standing event-loop lag whatever the pools say', () => {
    const clock = clockAt(YEAR_END);
    let inFlight = 40;
    const c = new AdmissionController({ targetMs: 5, intervalMs: 100, now: clock.now, waiting: () => 0, inFlight: () => inFlight, loopQueueFloor: 30 });
    for (let i = 0; i < 10; i++) { c.recordLoopLag(12); clock.advance(10); }
    expect(c.shedReason()).toBe('event_loop');
    // The same lag with few requests in progress is CPU taken by others, not our queue.
    inFlight = 10;
    expect(c.shedReason()).toBeUndefined();
    inFlight = 40;
    for (let i = 0; i < 10; i++) { c.recordLoopLag(i === 3 ? 0.5 : 12); clock.advance(10); }
    expect(c.shedReason()).toBeUndefined();
  });
});
