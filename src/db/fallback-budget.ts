/**
 * The primary's budget for reads that replicas should have served (docs/ARCHITECTURE.md,
 * "Replica routing"): a token bucket, so losing every replica cannot multiply the
 * primary's read load without limit. 500 reads at once, then 250 a second.
 */
export class FallbackBudget {
  #tokens: number;
  #lastRefill: number;
  /** Reads the budget let through to the primary. */
  spent = 0;

  /** `now` is the clock (ms) the refill is measured on; tests pass their own. */
  constructor(readonly burst = 500, readonly perSecond = 250, private readonly now: () => number = Date.now) {
    this.#tokens = burst;
    this.#lastRefill = now();
  }

  /** Takes one token if any is left. */
  take(): boolean {
    const now = this.now();
    this.#tokens = Math.min(this.burst, this.#tokens + (Math.max(0, now - this.#lastRefill) / 1000) * this.perSecond);
    this.#lastRefill = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    this.spent++;
    return true;
  }
}
