/**
 * In its own module because the router (replica-router.ts) and HTTP (request-context.ts)
 * need it without the Database class, which imports the router.
 */

/** Per-request routing context: who is asking, and what they must be able to see. */
export interface QueryContext {
  /** The acting user; their last write's LSN (read-your-writes) is looked up by it. */
  readonly userId?: string;
  /** An LSN the client says it has seen (the X-BGC-LSN header), e.g. "0/3000148". */
  readonly minLsn?: string;
  readonly forcePrimary?: boolean;
  /**
   * A read for signed-in readers without a user on the context: a shared cached page's load,
   * whose readers' own positions are already in `minLsn`. A replica further behind than a
   * write mark lives (LSN_TTL_MS) is not used for it, as for a signed-in reader: it could hide
   * a reader's write older than their mark. Without it such a load was served from any lag.
   */
  readonly boundedLag?: boolean;
  /**
   * Told when the read was answered by a replica that may be further behind than the router's
   * max lag: one out of rotation for lag (the primary's fallback budget spent) or a last resort
   * after the primary failed. A cache fill then keeps the value only briefly: an invalidation
   * older than that replica's position would otherwise be undone for the entry's whole TTL.
   */
  readonly onDegradedRead?: () => void;
}
