import type { Config } from '../../config/index.ts';
import { Database } from '../../db/database.ts';

/**
 * Reports aggregate a whole month of history (millions of statement rows at the default top-N):
 * seconds of work that the app's 5 s statement_timeout would cancel. They get their own small,
 * lazily opened pools with a 10-minute statement timeout, separate from the API's connections.
 *
 * The timeout is a startup parameter, which a transaction-pooling PgBouncer refuses (and its
 * servers run with the app's 5 s): behind one, the report opens a session Database (the direct
 * DATABASE_SESSION_URL) and reads the primary only, since the replica URLs name PgBouncer too.
 * Patroni's members, when discovered, are reached directly as always.
 */
export const REPORT_STATEMENT_TIMEOUT_MS = 600_000;

export async function openReportDatabase(config: Config, applicationName = 'bgc-report'): Promise<Database> {
  const pooled = config.database.transactionPooler;
  const db = new Database(
    {
      ...config,
      pool: { ...config.pool, size: 1, maxOverflow: 4, statementTimeoutMs: REPORT_STATEMENT_TIMEOUT_MS },
      database: pooled ? { ...config.database, replicaUrls: [], replicaSessionUrls: [] } : config.database,
    },
    { applicationName, lazy: true, session: pooled },
  );
  // One replica poll, so the report's reads can go to replicas rather than the primary.
  await db.start();
  return db;
}
