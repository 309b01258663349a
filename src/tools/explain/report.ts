import type { ExplainFlag, QueryTarget } from '../../catalog/types.ts';
import type { PlanMode } from '../../db/explain-runner.ts';
import type { PartitionUsage } from './partitions.ts';

/** A finding matched against the entry's written justifications. */
export interface JudgedFinding {
  readonly flag: ExplainFlag;
  readonly detail: string;
  readonly justified: boolean;
  /** The entry's `justify[flag]` text when justified. */
  readonly justification?: string;
}

export interface BufferCounts {
  readonly sharedHit: number;
  readonly sharedRead: number;
  readonly tempWritten: number;
}

/** The audit of one catalog entry, as printed, written as JSON and rendered in docs/QUERIES.md. */
export interface EntryReport {
  readonly name: string;
  readonly description: string;
  readonly target: QueryTarget;
  readonly timeBounded: boolean;
  readonly writes: boolean;
  readonly sql: string;
  /** The node the plan came from ("primary", "replica1", …). */
  readonly node: string | null;
  readonly params: string[];
  readonly analyzed: boolean;
  readonly shape: string[];
  /** Rows the statement returned (ANALYZE), or the planner's estimate otherwise. */
  readonly rows: number | null;
  readonly estimatedRows: number | null;
  readonly buffers: BufferCounts | null;
  readonly planningMs: number | null;
  readonly executionMs: number | null;
  readonly partitions: PartitionUsage[];
  readonly subplansRemoved: number;
  readonly findings: JudgedFinding[];
  /** Context that is not a flag, e.g. relations without statistics. */
  readonly notes: string[];
  /** Set when the entry could not be audited at all (no sample row, SQL error, timeout). */
  readonly error: string | null;
  /** Set, with the reason, when the entry was deliberately not audited (a standby-only entry and no standby). */
  readonly skipped: string | null;
}

export interface AuditReport {
  readonly database: string;
  readonly serverVersion: string;
  readonly generatedAt: string;
  readonly analyzed: boolean;
  readonly planMode: PlanMode;
  /** Whether each measured EXPLAIN followed an unmeasured warm-up run on the same connection. */
  readonly warmup: boolean;
  readonly entries: EntryReport[];
  readonly summary: {
    readonly entries: number;
    readonly flagged: number;
    readonly unjustified: number;
    readonly justified: number;
    readonly errors: number;
    /** Entries not audited on purpose (each says why); they neither pass nor fail the run. */
    readonly skipped: number;
    /** True when no entry has an unjustified flag or an error: the exit status is 0. */
    readonly ok: boolean;
  };
}

export function summarize(entries: readonly EntryReport[]): AuditReport['summary'] {
  const all = entries.flatMap((e) => e.findings);
  const unjustified = all.filter((f) => !f.justified).length;
  const errors = entries.filter((e) => e.error !== null).length;
  return {
    entries: entries.length,
    flagged: entries.filter((e) => e.findings.length > 0).length,
    unjustified,
    justified: all.length - unjustified,
    errors,
    skipped: entries.filter((e) => e.skipped !== null).length,
    ok: unjustified === 0 && errors === 0,
  };
}
