import { addMonths, monthOf, monthStart, type MonthRef } from '../../partitions/naming.ts';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

/** One month of the seeded history: [fromMs, toMs), clipped to the history window. */
export interface MonthSlice { readonly month: MonthRef; readonly fromMs: number; readonly toMs: number }

export interface Timeline {
  /** End of history ("now" for the dataset). Fixed per run so a seed is reproducible. */
  readonly anchorMs: number;
  readonly startMs: number;
  readonly slices: readonly MonthSlice[];
}

/** The default anchor: the start of the current UTC hour (stable within a test run, close to now). */
export function defaultAnchor(nowMs: number): number {
  return Math.floor(nowMs / HOUR_MS) * HOUR_MS;
}

export function buildTimeline(anchorMs: number, months: number): Timeline {
  const a = new Date(anchorMs);
  const startMs = Date.UTC(a.getUTCFullYear(), a.getUTCMonth() - months, a.getUTCDate(), a.getUTCHours());
  const slices: MonthSlice[] = [];
  for (let m = monthOf(new Date(startMs)); monthStart(m).getTime() < anchorMs; m = addMonths(m, 1)) {
    const fromMs = Math.max(startMs, monthStart(m).getTime());
    const toMs = Math.min(anchorMs, monthStart(addMonths(m, 1)).getTime());
    if (toMs > fromMs) slices.push({ month: m, fromMs, toMs });
  }
  return { anchorMs, startMs, slices };
}

/**
 * Splits `total` rows over the slices in proportion to activity that grows linearly from
 * 0.4× to 1.6× across the window (a growing network), with largest-remainder rounding so
 * the parts add up to exactly `total`.
 */
export function allocateBySlice(total: number, timeline: Timeline): number[] {
  const span = timeline.anchorMs - timeline.startMs;
  const mass = (t: number) => {
    const x = (t - timeline.startMs) / span;
    return 0.4 * x + 0.6 * x * x; // ∫ (0.4 + 1.2x) dx
  };
  const shares = timeline.slices.map((s) => mass(s.toMs) - mass(s.fromMs));
  const sum = shares.reduce((a, b) => a + b, 0);
  const exact = shares.map((s) => (s / sum) * total);
  const counts = exact.map(Math.floor);
  let rest = total - counts.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => ({ i, frac: e - Math.floor(e) })).sort((x, y) => y.frac - x.frac || x.i - y.i);
  for (const { i } of order) {
    if (rest <= 0) break;
    counts[i] = (counts[i] ?? 0) + 1;
    rest--;
  }
  return counts;
}

/** Months that need partitions: the whole history plus `ahead` months after the anchor's month. */
export function partitionMonths(timeline: Timeline, ahead: number): MonthRef[] {
  const first = monthOf(new Date(timeline.startMs));
  const last = addMonths(monthOf(new Date(timeline.anchorMs - 1)), ahead);
  const out: MonthRef[] = [];
  for (let m = first; monthStart(m).getTime() <= monthStart(last).getTime(); m = addMonths(m, 1)) out.push(m);
  return out;
}

/** Index of the first element of a sorted array greater than `t` (= how many are ≤ t). */
export function countAtOrBefore(sorted: Float64Array, t: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as number) <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
