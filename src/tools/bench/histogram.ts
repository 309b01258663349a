/**
 * A latency histogram with logarithmic buckets (1% relative width) from 10 µs to ~2
 * minutes: constant memory however many samples, mergeable across processes, and
 * percentiles within 1% of the true value. Autocannon only reports p50/p97.5/p99, and
 * our open-loop generator needs the same arithmetic, so both record here.
 */
const MIN_MS = 0.01;
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = 1700; // 0.01 ms × 1.01^1700 ≈ 220 s

export interface HistogramSnapshot {
  readonly counts: ReadonlyArray<readonly [number, number]>; // [bucket, count], non-zero only
  readonly count: number;
  readonly sumMs: number;
  readonly maxMs: number;
}

export class LatencyHistogram {
  readonly #counts = new Float64Array(BUCKETS);
  #count = 0;
  #sum = 0;
  #max = 0;

  record(ms: number): void {
    const v = Number.isFinite(ms) && ms > 0 ? ms : MIN_MS;
    const i = v <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(v / MIN_MS) / LOG_GROWTH));
    this.#counts[i] = (this.#counts[i] ?? 0) + 1;
    this.#count++;
    this.#sum += v;
    if (v > this.#max) this.#max = v;
  }

  get count(): number { return this.#count; }
  get maxMs(): number { return this.#max; }
  get meanMs(): number { return this.#count === 0 ? 0 : this.#sum / this.#count; }

  /** The value below which `p` percent of the samples fall (bucket upper bound, capped at max). */
  percentile(p: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.#count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i] ?? 0;
      if (seen >= rank) return Math.min(this.#max, MIN_MS * GROWTH ** i);
    }
    return this.#max;
  }

  merge(other: LatencyHistogram | HistogramSnapshot): void {
    const snap = other instanceof LatencyHistogram ? other.snapshot() : other;
    for (const [i, c] of snap.counts) this.#counts[i] = (this.#counts[i] ?? 0) + c;
    this.#count += snap.count;
    this.#sum += snap.sumMs;
    if (snap.maxMs > this.#max) this.#max = snap.maxMs;
  }

  snapshot(): HistogramSnapshot {
    const counts: Array<readonly [number, number]> = [];
    this.#counts.forEach((c, i) => { if (c > 0) counts.push([i, c]); });
    return { counts, count: this.#count, sumMs: this.#sum, maxMs: this.#max };
  }

  static from(snap: HistogramSnapshot): LatencyHistogram {
    const h = new LatencyHistogram();
    h.merge(snap);
    return h;
  }
}

/** Rounds a latency for display and JSON: 3 significant decimals below 10 ms. */
export function roundMs(ms: number): number {
  if (ms >= 100) return Math.round(ms);
  if (ms >= 10) return Math.round(ms * 10) / 10;
  return Math.round(ms * 1000) / 1000;
}
