/** Small numeric helpers of the report: least squares, histogram quantiles, ratios. */

export interface LinearFit {
  /** Units of y per unit of x. */
  readonly slope: number;
  readonly intercept: number;
}

/** Ordinary least squares of y on x; undefined with fewer than two distinct x values. */
export function linearFit(points: ReadonlyArray<{ x: number; y: number }>): LinearFit | undefined {
  const n = points.length;
  if (n < 2) return undefined;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of points) {
    sxy += (p.x - mx) * (p.y - my);
    sxx += (p.x - mx) ** 2;
  }
  if (sxx === 0) return undefined;
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

/**
 * A quantile from cumulative histogram buckets (upper bounds `le`, counts ≤ le), interpolating
 * linearly inside the bucket as Prometheus's histogram_quantile does. Above the last finite
 * bucket the answer is that bucket's bound (a lower bound of the truth).
 */
export function histogramQuantile(q: number, le: readonly number[], cumulative: readonly number[], total: number): number | undefined {
  if (total <= 0 || le.length === 0) return undefined;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (let i = 0; i < le.length; i++) {
    const bound = le[i] ?? 0;
    const count = cumulative[i] ?? 0;
    if (count >= rank) {
      const inBucket = count - prevCount;
      if (inBucket <= 0) return bound;
      return prevLe + (bound - prevLe) * ((rank - prevCount) / inBucket);
    }
    prevLe = bound;
    prevCount = count;
  }
  return le[le.length - 1];
}

export function ratio(part: number, whole: number): number | null {
  return whole > 0 ? part / whole : null;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
