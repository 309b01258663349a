import { describe, it, expect } from 'vitest';
import { xWindow } from '../../src/ops/dashboard/client/chart-window.js';

/**
 * Issue 14: right after start-up the dashboard's live charts had one sample, and uPlot widened
 * the single x value by "one day" in its millisecond units (86,400,000 s), drawing an x axis
 * from 2027 to 2029. xWindow is the charts' x-scale range function; it gets the chart's times
 * and the range uPlot proposes. Times are epoch seconds; the dates include a year end.
 */
const SPAN = 900;
const UPLOT_LONE_WIDENING = 86_400_000;
const at = (iso: string) => Date.parse(iso) / 1000;

describe('the x window of the dashboard time charts', () => {
  it('shows the span up to a lone sample (plus a small pad), not the years uPlot proposes', () => {
    const t = at('2026-12-31T23:59:30Z');
    const [from, to] = xWindow([t], t, t + UPLOT_LONE_WIDENING, SPAN, t + 5);
    expect(from).toBe(t - SPAN);
    expect(new Date(from * 1000).toISOString()).toBe('2026-12-31T23:44:30.000Z');
    expect(to).toBeGreaterThan(t);
    expect(to - t).toBeLessThanOrEqual(SPAN * 0.05);
  });

  it('treats repeated samples at the same second as one', () => {
    const t = at('2027-01-01T00:00:05Z');
    expect(xWindow([t, t], t, t + UPLOT_LONE_WIDENING, SPAN, t)[0]).toBe(t - SPAN);
  });

  it('keeps the range uPlot proposes once there are two distinct times', () => {
    const a = at('2028-02-28T23:59:50Z');
    const b = a + 10;
    expect(xWindow([a, b], a, b, SPAN, b)).toEqual([a, b]);
    // A zoom inside the data is kept too.
    expect(xWindow([a, null, b], a + 2, a + 8, SPAN, b)).toEqual([a + 2, a + 8]);
  });

  it('with no sample at all, ends now', () => {
    const now = at('2027-03-01T00:00:00Z');
    const [from, to] = xWindow([], null, null, SPAN, now);
    expect(from).toBe(now - SPAN);
    expect(to).toBeCloseTo(now + SPAN * 0.02, 6);
  });

  it('falls back to fifteen minutes for a nonsensical span', () => {
    const t = at('2028-02-29T12:00:00Z');
    expect(xWindow([t], t, t, 0, t)[0]).toBe(t - 900);
    expect(xWindow([t], t, t, Number.NaN, t)[0]).toBe(t - 900);
  });
});
