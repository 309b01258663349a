/** One problem `bgc doctor` found. Any finding makes the command exit non-zero. */
export interface Finding {
  /** The check that raised it (one of DoctorReport.checks). */
  readonly check: string;
  /** error: breaks a stated requirement; warning: waste or risk (e.g. a duplicate index). */
  readonly severity: 'error' | 'warning';
  /** What it is about: a table, an index, a node, … */
  readonly object: string;
  readonly detail: string;
}

export interface DoctorReport {
  readonly findings: Finding[];
  /** Names of the checks that ran. */
  readonly checks: string[];
}

/** Runs SQL on one node and returns the rows. */
export type NodeQuery = <R extends Record<string, unknown>>(sql: string, params?: readonly unknown[]) => Promise<R[]>;
