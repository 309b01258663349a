/**
 * Deltas between two pg_stat_statements snapshots of one node, without ever resetting it
 * (PgHero resets after each capture, which breaks every other reader of the view; PoWA calls
 * reset-based reports "nonsensical"). Pure functions: the snapshot job feeds them what it read.
 */

export interface StatementCounters {
  readonly calls: number;
  readonly totalExecTime: number;
  readonly rows: number;
  readonly sharedBlksHit: number;
  readonly sharedBlksRead: number;
  readonly tempBlksWritten: number;
}

export interface StatementSample extends StatementCounters {
  readonly queryid: string;
  readonly query: string;
}

/**
 * How a delta was obtained:
 *  - normal: current minus the previous snapshot's value;
 *  - new: no earlier counters for this statement on this node; its whole count is new;
 *  - reset: pg_stat_statements_info.stats_reset changed (a full reset), or this one entry's
 *    calls went down with no deallocation (a per-entry pg_stat_statements_reset(…, queryid));
 *    the count restarted from zero after the previous snapshot, so the cumulative is the delta;
 *  - evicted: calls went down while deallocations happened: the entry was evicted and re-created.
 */
export type DeltaKind = 'normal' | 'new' | 'reset' | 'evicted';

export interface StatementDelta {
  readonly queryid: string;
  readonly kind: DeltaKind;
  readonly cumulative: StatementCounters;
  readonly delta: StatementCounters;
}

export interface PgssInfo {
  readonly dealloc: number;
  /** ISO time of the last full reset. */
  readonly statsReset: string | null;
}

export interface NodeBaseline {
  /** pg_stat_statements_info at the node's previous snapshot; undefined when there is none. */
  readonly info: PgssInfo | undefined;
  readonly counters: ReadonlyMap<string, StatementCounters>;
}

export interface StatementDeltaResult {
  /** False on a node's first snapshot: there is nothing to subtract from, only a baseline is kept. */
  readonly hasBaseline: boolean;
  /** stats_reset changed: everything was reset since the previous snapshot. */
  readonly fullReset: boolean;
  /** A full reset, or at least one entry reset on its own. */
  readonly resetDetected: boolean;
  /** Deallocations since the previous snapshot (entries evicted because pg_stat_statements.max was reached). */
  readonly deallocDelta: number | null;
  /** Statements whose counters moved, largest delta time first. */
  readonly deltas: readonly StatementDelta[];
}

const FIELDS = ['calls', 'totalExecTime', 'rows', 'sharedBlksHit', 'sharedBlksRead', 'tempBlksWritten'] as const;

function countersOf(s: StatementCounters): StatementCounters {
  return { calls: s.calls, totalExecTime: s.totalExecTime, rows: s.rows, sharedBlksHit: s.sharedBlksHit, sharedBlksRead: s.sharedBlksRead, tempBlksWritten: s.tempBlksWritten };
}

function subtract(cur: StatementCounters, prev: StatementCounters): StatementCounters {
  const out: Record<(typeof FIELDS)[number], number> = { calls: 0, totalExecTime: 0, rows: 0, sharedBlksHit: 0, sharedBlksRead: 0, tempBlksWritten: 0 };
  for (const f of FIELDS) out[f] = Math.max(0, cur[f] - prev[f]);
  return out;
}

/** A cumulative counter's growth; a counter that went down was reset, so all of it is new. */
export function counterDelta(current: number | null | undefined, previous: number | null | undefined): number | null {
  if (current === null || current === undefined || previous === null || previous === undefined) return null;
  return current >= previous ? current - previous : current;
}

export function computeStatementDeltas(current: readonly StatementSample[], info: PgssInfo, baseline: NodeBaseline): StatementDeltaResult {
  if (baseline.info === undefined) return { hasBaseline: false, fullReset: false, resetDetected: false, deallocDelta: null, deltas: [] };
  const fullReset = baseline.info.statsReset !== info.statsReset;
  // A full reset also zeroes dealloc, so what is there now all happened since.
  const deallocDelta = fullReset ? info.dealloc : counterDelta(info.dealloc, baseline.info.dealloc);
  const evictions = (deallocDelta ?? 0) > 0;
  let entryReset = false;
  const deltas: StatementDelta[] = [];
  for (const s of current) {
    const cumulative = countersOf(s);
    const prev = baseline.counters.get(s.queryid);
    let kind: DeltaKind;
    let delta: StatementCounters;
    if (fullReset) {
      kind = 'reset';
      delta = cumulative;
    } else if (prev === undefined) {
      kind = 'new';
      delta = cumulative;
    } else if (s.calls < prev.calls) {
      kind = evictions ? 'evicted' : 'reset';
      if (!evictions) entryReset = true;
      delta = cumulative;
    } else {
      kind = 'normal';
      delta = subtract(cumulative, prev);
    }
    if (delta.calls > 0) deltas.push({ queryid: s.queryid, kind, cumulative, delta });
  }
  deltas.sort((a, b) => b.delta.totalExecTime - a.delta.totalExecTime || a.queryid.localeCompare(b.queryid));
  return { hasBaseline: true, fullReset, resetDetected: fullReset || entryReset, deallocDelta, deltas };
}

/** The catalog name from a statement's leading comment (`/* chat.inbox *\/ SELECT …`), if any. */
export function catalogNameOf(query: string): string | null {
  const m = /^\s*\/\*\s*([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+)\s*\*\//.exec(query);
  return m?.[1] ?? null;
}
