/**
 * A set of (a, b) pairs of non-negative 32-bit integers, open addressing over typed
 * arrays. The generators dedupe millions of pairs (friendships, ratings, memberships);
 * a JS Set keyed by a·n+b (beyond 2^31, so a boxed double) was the slowest part of
 * generating `large` relationships.
 */
export class PairSet {
  #a: Int32Array;
  #b: Int32Array;
  #mask: number;
  #size = 0;

  constructor(expected = 1024) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.#a = new Int32Array(cap).fill(-1);
    this.#b = new Int32Array(cap);
    this.#mask = cap - 1;
  }

  get size(): number {
    return this.#size;
  }

  #slot(a: number, b: number): number {
    let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
    let i = h & this.#mask;
    for (;;) {
      const k = this.#a[i] as number;
      if (k === -1 || (k === a && this.#b[i] === b)) return i;
      i = (i + 1) & this.#mask;
    }
  }

  has(a: number, b: number): boolean {
    return this.#a[this.#slot(a, b)] !== -1;
  }

  /** Adds the pair; false if it was already there. */
  add(a: number, b: number): boolean {
    const i = this.#slot(a, b);
    if (this.#a[i] !== -1) return false;
    this.#a[i] = a;
    this.#b[i] = b;
    if (++this.#size * 10 > (this.#mask + 1) * 6) this.#grow();
    return true;
  }

  #grow(): void {
    const oldA = this.#a;
    const oldB = this.#b;
    this.#a = new Int32Array(oldA.length * 2).fill(-1);
    this.#b = new Int32Array(oldA.length * 2);
    this.#mask = this.#a.length - 1;
    for (let i = 0; i < oldA.length; i++) {
      const a = oldA[i] as number;
      if (a === -1) continue;
      const j = this.#slot(a, oldB[i] as number);
      this.#a[j] = a;
      this.#b[j] = oldB[i] as number;
    }
  }
}
