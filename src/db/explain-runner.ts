import type pg from 'pg';
import type { Database } from './database.ts';
import type { ManagedPool } from './managed-pool.ts';
import { isRetryableReadError } from './errors.ts';

/** Where to EXPLAIN a statement: the node its catalog entry would run on. */
export type ExplainRole = 'primary' | 'replica';

export interface ExplainRequest {
  readonly role: ExplainRole;
  /** The statement to explain, with `$n` placeholders. */
  readonly text: string;
  readonly params: readonly unknown[];
  /** EXPLAIN ANALYZE executes the statement; without it only the plan is made. */
  readonly analyze: boolean;
  /** Session settings for this one EXPLAIN (e.g. work_mem), applied with SET LOCAL. */
  readonly settings?: Readonly<Record<string, string>>;
  /** The audit's own statement timeout; the app's pool timeout is too short for a slow plan. */
  readonly timeoutMs: number;
}

export interface ExplainResult {
  /** The node that produced the plan, e.g. "primary" or "replica1". */
  readonly node: string;
  /** EXPLAIN (FORMAT JSON)'s single document: `[{ Plan, Planning Time, … }]`. */
  readonly document: unknown;
}

/**
 * Runs `EXPLAIN (…, FORMAT JSON)` for one statement on the primary or a replica.
 *
 * Every EXPLAIN runs inside BEGIN … ROLLBACK, on every node: a writing statement under
 * ANALYZE really executes, and the rollback undoes it; SET LOCAL settings and the audit's
 * statement_timeout end with the transaction, so the pooled connection goes back clean.
 * Parameters go through the extended protocol, so the planner sees the sample values as
 * it does for the app's own custom plans.
 */
export async function explainOn(db: Database, req: ExplainRequest): Promise<ExplainResult> {
  const options = req.analyze ? 'ANALYZE, BUFFERS, FORMAT JSON' : 'FORMAT JSON';
  const sql = `EXPLAIN (${options}) ${req.text}`;
  const candidates = req.role === 'replica' && db.replicas.length > 0 ? [...db.replicas] : [db.primary];
  let lastError: unknown;
  for (const pool of candidates) {
    try {
      const document = await pool.withClient((client) => explainInRolledBackTx(client, sql, req));
      return { node: pool.name, document };
    } catch (err) {
      lastError = err;
      // A replica that is down or hit a recovery conflict: try the next one. Anything else
      // (a bad statement, a timeout) is the statement's own problem and is reported as is.
      if (!isReplica(pool) || !isRetryableReadError(err)) throw err;
    }
  }
  throw lastError;
}

function isReplica(pool: ManagedPool): boolean {
  return pool.role === 'replica';
}

async function explainInRolledBackTx(client: pg.PoolClient, sql: string, req: ExplainRequest): Promise<unknown> {
  await client.query('BEGIN');
  try {
    await client.query(`SELECT set_config('statement_timeout', $1, true)`, [String(req.timeoutMs)]);
    for (const [name, value] of Object.entries(req.settings ?? {})) {
      await client.query(`SELECT set_config($1, $2, true)`, [name, value]);
    }
    const res = await client.query<{ 'QUERY PLAN': unknown }>({ text: sql, values: req.params as unknown[] });
    return res.rows[0]?.['QUERY PLAN'];
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}

/**
 * Runs one read on the primary and returns its first row as raw text values in column
 * order: the audit's sample-parameter queries. Text keeps every value exactly as
 * PostgreSQL printed it, so it round-trips into a parameter of any type (jsonb, arrays,
 * timestamptz) without a JavaScript conversion in between.
 */
export async function firstRowAsText(db: Database, text: string, params: readonly unknown[] = []): Promise<(string | null)[] | undefined> {
  return db.withPrimaryClient(async (client) => {
    const out = await client.query<(string | null)[]>({
      text,
      values: params as unknown[],
      rowMode: 'array' as const,
      types: { getTypeParser: () => (value: string) => value },
    });
    return out.rows[0];
  });
}
