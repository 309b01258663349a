/**
 * Types shared by the cache modules, in their own file so that the modules that use them
 * (cache-layer, stats, wiring) need not import warm.ts, which itself imports the cache layer.
 */

/** What one warming run did (warm.ts), kept by the cache layer for stats and the dashboard. */
export interface WarmReport {
  readonly requested: number;
  readonly candidates: number;
  readonly warmed: number;
  readonly fromDatabase: number;
  readonly missing: number;
  readonly failed: number;
  readonly timedOut: boolean;
  readonly batches: number;
  /** Statements that loaded views (one per gathered batch, or one per miss without batching). */
  readonly dbStatements: number;
  readonly durationMs: number;
}
