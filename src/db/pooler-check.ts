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

/**
 * Behind PgBouncer a pool's health checks go to the node directly (ManagedPoolOptions.probeUrl,
 * DATABASE_SESSION_URL, DATABASE_REPLICA_SESSION_URLS). Both paths must reach the same server:
 * a list in another order, or a direct address of another node, makes the checks judge one
 * node's lag and recovery while the reads go to another, and read-your-writes breaks without an
 * error. Start-up compares the server's start time (pg_postmaster_start_time(), to the
 * microsecond) over both paths and refuses to run when they differ.
 */
export class ProbeNodeMismatchError extends Error {
  readonly code = 'DB_PROBE_NODE_MISMATCH';
  constructor(readonly nodes: readonly string[]) {
    super(`the health checks of ${nodes.join(', ')} reach another server than its pool: each entry of DATABASE_SESSION_URL / DATABASE_REPLICA_SESSION_URLS `
      + 'must be the node its PgBouncer (DATABASE_URL / DATABASE_REPLICA_URLS, same order) serves, see docs/OPERATIONS.md "Behind PgBouncer"');
    this.name = 'ProbeNodeMismatchError';
  }
}

const SERVER_STARTED_SQL = `SELECT pg_postmaster_start_time()::text AS started /* pooler check */`;

/** Throws ProbeNodeMismatchError unless each pool with direct checks reaches one server both ways; a node that does not answer is the router's business. */
export async function assertChecksReachPoolNode(pools: readonly ManagedPool[]): Promise<void> {
  const seen = await Promise.allSettled(pools.filter((p) => p.checksDirect).map(async (p) => {
    const [pooled, direct] = await Promise.all([p.query<{ started: string }>(SERVER_STARTED_SQL), p.probe<{ started: string }>(SERVER_STARTED_SQL)]);
    return { node: p.name, same: pooled.rows[0]?.started === direct.rows[0]?.started };
  }));
  const mismatched = seen.flatMap((s) => (s.status === 'fulfilled' && !s.value.same ? [s.value.node] : []));
  if (mismatched.length > 0) throw new ProbeNodeMismatchError(mismatched);
}
