import type { Config } from '../../config/index.ts';
import { Database } from '../../db/database.ts';

/**
 * Reports aggregate a whole month of history (millions of statement rows at the default top-N):
 * seconds of work that the app's 5 s statement_timeout would cancel. They get their own small,
 * lazily opened pools with a 10-minute statement timeout, separate from the API's connections.
 */
export const REPORT_STATEMENT_TIMEOUT_MS = 600_000;

export async function openReportDatabase(config: Config, applicationName = 'bgc-report'): Promise<Database> {
  const db = new Database(
    { ...config, pool: { ...config.pool, size: 1, maxOverflow: 4, statementTimeoutMs: REPORT_STATEMENT_TIMEOUT_MS } },
    { applicationName, lazy: true },
  );
  // One replica poll, so the report's reads can go to replicas rather than the primary.
  await db.start();
  return db;
}
