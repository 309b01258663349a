/**
 * A token bucket: `burst` tokens, refilled at `perSecond`. Used for typing indicators
 * (per user) and for client frames (per socket). Time is passed in so tests need no clock.
 */
export class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(private readonly perSecond: number, private readonly burst: number, now = Date.now()) {
    this.#tokens = burst;
    this.#at = now;
  }

  /** Takes one token if there is one. */
  take(now = Date.now()): boolean {
    // Wall-clock time may step back (NTP): that is no refill, and never a debt.
    this.#tokens = Math.min(this.burst, this.#tokens + (Math.max(0, now - this.#at) / 1000) * this.perSecond);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
