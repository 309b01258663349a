/**
 * The primary's budget for reads that replicas should have served (docs/ARCHITECTURE.md,
 * "Replica routing"): a token bucket, so losing every replica cannot multiply the
 * primary's read load without limit. 500 reads at once, then 250 a second.
 */
export class FallbackBudget {
  #tokens: number;
  #lastRefill = Date.now();
  /** Reads the budget let through to the primary. */
  spent = 0;

  constructor(readonly burst = 500, readonly perSecond = 250) {
    this.#tokens = burst;
  }

  /** Takes one token if any is left. */
  take(): boolean {
    const now = Date.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#lastRefill) / 1000) * this.perSecond);
    this.#lastRefill = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    this.spent++;
    return true;
  }
}
