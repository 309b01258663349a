import type pg from 'pg';
import type { Config } from '../config/index.ts';
import type { LedgerState } from './ledger.ts';

/** One statement and the locks it takes, as the dry run prints them and the executor runs them. */
export interface PlannedStatement {
  readonly sql: string;
  readonly locks: string;
}

export interface MaintenanceHooks {
  /**
   * Called after each durable ledger transition. A throw stops the run right there, as if
   * the process had died between two steps (the crash-resume tests use this).
   */
  readonly afterTransition?: (partition: string, state: LedgerState) => void | Promise<void>;
}

/** What every retention step needs: the maintenance session (UTC, no statement timeout). */
export interface StepContext {
  readonly client: pg.ClientBase;
  readonly config: Config;
  readonly hooks: MaintenanceHooks;
}
