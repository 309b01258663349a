import type { ManagedPool } from './managed-pool.ts';

/**
 * Behind PgBouncer 1.18 the app cannot send statement_timeout when it connects (PgBouncer
 * refuses the startup parameter, brianc/node-postgres #2103, and `ignore_startup_parameters`
 * would only drop it), so the server sets it: `ALTER ROLE … IN DATABASE … SET
 * statement_timeout`, or PgBouncer's `connect_query` (docs/OPERATIONS.md). A pool that then
 * runs without the timeout the configuration asks for lets one runaway query hold a server
 * connection that 20 instances share; start-up refuses instead of finding out in an incident.
 */
export class PoolerSettingError extends Error {
  readonly code = 'DB_POOLER_STATEMENT_TIMEOUT';
  constructor(readonly mismatches: ReadonlyArray<{ readonly node: string; readonly actualMs: number }>, readonly expectedMs: number) {
    const list = mismatches.map((m) => `${m.node} ${m.actualMs} ms`).join(', ');
    super(`statement_timeout through the pooler is not BGC_STATEMENT_TIMEOUT_MS (${expectedMs} ms): ${list}. PgBouncer 1.18 cannot take it at connect; `
      + `set it on the server: ALTER ROLE <app user> IN DATABASE <database> SET statement_timeout = ${expectedMs}; (or PgBouncer's connect_query), see docs/OPERATIONS.md "Behind PgBouncer"`);
    this.name = 'PoolerSettingError';
  }
}

// pg_settings reports statement_timeout in milliseconds whatever unit it was set in.
const STATEMENT_TIMEOUT_SQL = `SELECT setting::int AS ms FROM pg_settings WHERE name = 'statement_timeout' /* pooler check */`;

/** The statement_timeout a pooled connection of `pool` runs with, in ms. */
export async function pooledStatementTimeoutMs(pool: ManagedPool): Promise<number> {
  const { rows } = await pool.query<{ ms: number }>(STATEMENT_TIMEOUT_SQL);
  return rows[0]?.ms ?? 0;
}

/** Throws PoolerSettingError unless every reachable pool runs with `expectedMs`; an unreachable one is the router's business. */
export async function assertStatementTimeout(pools: readonly ManagedPool[], expectedMs: number): Promise<void> {
  const seen = await Promise.allSettled(pools.map(async (p) => ({ node: p.name, actualMs: await pooledStatementTimeoutMs(p) })));
  const mismatches = seen.flatMap((s) => (s.status === 'fulfilled' && s.value.actualMs !== expectedMs ? [s.value] : []));
  if (mismatches.length > 0) throw new PoolerSettingError(mismatches, expectedMs);
}
