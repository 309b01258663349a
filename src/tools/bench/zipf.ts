/**
 * Zipf(s) sampling over ranks 0..n-1: rank k is drawn with probability ∝ 1/(k+1)^s.
 * DESIGN §6 asks for the cache hit ratio under a Zipf(1.0) read pattern, and social
 * traffic is shaped like that: a few users and conversations take most of the reads.
 * Built once (O(n) cumulative weights), then each draw is a binary search.
 */
export class ZipfSampler {
  readonly #cdf: Float64Array;

  constructor(readonly n: number, readonly s = 1.0, private readonly random: () => number = Math.random) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`ZipfSampler needs n >= 1, got ${n}`);
    this.#cdf = new Float64Array(n);
    let total = 0;
    for (let k = 0; k < n; k++) {
      total += 1 / (k + 1) ** s;
      this.#cdf[k] = total;
    }
    for (let k = 0; k < n; k++) this.#cdf[k] = (this.#cdf[k] ?? 0) / total;
  }

  /** A rank in [0, n). */
  next(): number {
    const u = this.random();
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#cdf[mid] ?? 1) < u) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  /** Probability mass of the `k` most popular ranks (used to explain hit ratios). */
  headMass(k: number): number {
    if (k <= 0) return 0;
    return this.#cdf[Math.min(k, this.n) - 1] ?? 1;
  }
}

/** Picks an item of a list ordered most-popular-first, Zipf-distributed. */
export class ZipfPicker<T> {
  readonly #sampler: ZipfSampler;
  constructor(readonly items: readonly T[], s = 1.0, random: () => number = Math.random) {
    this.#sampler = new ZipfSampler(Math.max(1, items.length), s, random);
  }
  pick(): T {
    const item = this.items[this.#sampler.next()];
    if (item === undefined) throw new RangeError('ZipfPicker over an empty list');
    return item;
  }
}
