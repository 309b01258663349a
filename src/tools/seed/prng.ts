/**
 * Deterministic pseudo-random numbers for the seed (never Math.random): sfc32, a small
 * fast generator with 128 bits of state that passes PractRand/BigCrush. Every table gets
 * its own stream derived from (seed, label), so the order in which generators run, or
 * run concurrently, never changes what any one of them produces.
 */
export class Prng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number, label: string) {
    // FNV-1a over the label, mixed with the seed through splitmix-style finalisers.
    let h = 0x811c9dc5 ^ (seed >>> 0);
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
    const mix = (x: number): number => {
      x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
      x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
      return (x ^ (x >>> 16)) >>> 0;
    };
    this.#a = mix(h ^ 0x9e3779b9);
    this.#b = mix(h + 0x6a09e667);
    this.#c = mix((h ^ (seed * 0x27d4eb2d)) + 0xbb67ae85);
    this.#d = 1;
    for (let i = 0; i < 16; i++) this.uint32(); // move away from the low-entropy start
  }

  /** A uniform 32-bit unsigned integer. */
  uint32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.uint32() / 4_294_967_296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    const v = items[this.int(items.length)];
    if (v === undefined) throw new RangeError('pick from an empty list');
    return v;
  }

  /** Picks by weight; `weights` need not sum to 1. */
  weighted<T>(items: readonly T[], weights: readonly number[]): T {
    let total = 0;
    for (const w of weights) total += w;
    let x = this.float() * total;
    for (let i = 0; i < items.length; i++) {
      x -= weights[i] ?? 0;
      if (x < 0) return items[i] as T;
    }
    return items[items.length - 1] as T;
  }

  /** `k` distinct items (k is small relative to the list). */
  sample<T>(items: readonly T[], k: number): T[] {
    const out = new Set<T>();
    for (let guard = 0; out.size < Math.min(k, items.length) && guard < 100 * k; guard++) out.add(this.pick(items));
    return [...out];
  }

  /** Exponentially distributed with the given mean. */
  exponential(mean: number): number {
    return -Math.log(1 - this.float()) * mean;
  }

  /** Normally distributed (Box–Muller). */
  normal(mean: number, sd: number): number {
    const u = 1 - this.float();
    const v = this.float();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /**
   * A Zipf-like index in [0, n): index 0 is the most popular, P(i) ≈ i^-s. Inverts the
   * continuous approximation of the CDF, so it costs O(1) whatever n is (no tables), which
   * matters when the population grows with time (users who exist at a message's moment).
   */
  zipf(n: number, s: number): number {
    if (n <= 1) return 0;
    const u = this.float();
    let x: number;
    if (Math.abs(s - 1) < 1e-9) x = Math.pow(n + 1, u) - 1;
    else {
      const e = 1 - s;
      // (n+1)^e only changes when n or s does; callers draw many times per population.
      if (n !== this.#zipfN || s !== this.#zipfS) { this.#zipfN = n; this.#zipfS = s; this.#zipfTop = Math.pow(n + 1, e) - 1; }
      x = Math.pow(1 + u * this.#zipfTop, 1 / e) - 1;
    }
    const i = Math.floor(x);
    return i >= n ? n - 1 : i;
  }

  #zipfN = -1;
  #zipfS = -1;
  #zipfTop = 0;
}
