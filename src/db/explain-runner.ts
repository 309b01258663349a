import type pg from 'pg';
import type { Database } from './database.ts';
import type { ManagedPool } from './managed-pool.ts';
import { isRetryableReadError } from './errors.ts';

/** Where to EXPLAIN a statement: the node its catalog entry would run on. */
export type ExplainRole = 'primary' | 'replica';

/**
 * custom: the plan made for the sample values (what the first executions of a prepared
 * statement get). generic: the value-independent plan PostgreSQL may switch a named
 * prepared statement to after five executions (plan_cache_mode = force_generic_plan).
 */
export type PlanMode = 'custom' | 'generic';

export interface ExplainRequest {
  readonly role: ExplainRole;
  /** The statement to explain, with `$n` placeholders. */
  readonly text: string;
  readonly params: readonly unknown[];
  /** EXPLAIN ANALYZE executes the statement; without it only the plan is made. */
  readonly analyze: boolean;
  readonly planMode?: PlanMode;
  /** Session settings for this one EXPLAIN (e.g. work_mem), applied with SET LOCAL. */
  readonly settings?: Readonly<Record<string, string>>;
  /** The audit's own statement timeout; the app's pool timeout is too short for a slow plan. */
  readonly timeoutMs: number;
  /**
   * Run the same EXPLAIN once first, unmeasured, on the same connection (in its own
   * rolled-back transaction), so the measured run finds warm relation caches and buffers
   * instead of paying for a fresh connection's first look at sixteen partitions.
   */
  readonly warmup?: boolean;
}

export interface ExplainResult {
  /** The node that produced the plan, e.g. "primary" or "replica1". */
  readonly node: string;
  /** EXPLAIN (FORMAT JSON)'s single document: `[{ Plan, Planning Time, … }]`. */
  readonly document: unknown;
}

const STATEMENT = 'bgc_explain_audit';

/**
 * Runs `EXPLAIN (…, FORMAT JSON)` for one statement on the primary or a replica.
 *
 * Every EXPLAIN runs inside BEGIN … ROLLBACK, on every node: a writing statement under
 * ANALYZE really executes, and the rollback undoes it; SET LOCAL settings and the audit's
 * statement_timeout end with the transaction, so the pooled connection goes back clean.
 * Custom plans bind the parameters through the extended protocol, so the planner sees the
 * sample values as it does for the app's own first executions.
 */
export async function explainOn(db: Database, req: ExplainRequest): Promise<ExplainResult> {
  const candidates = req.role === 'replica' && db.replicas.length > 0 ? [...db.replicas] : [db.primary];
  let lastError: unknown;
  for (const pool of candidates) {
    try {
      const document = await pool.withClient(async (client) => {
        if (req.warmup) await explainInRolledBackTx(client, req);
        return explainInRolledBackTx(client, req);
      });
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

async function explainInRolledBackTx(client: pg.PoolClient, req: ExplainRequest): Promise<unknown> {
  // VERBOSE names each scanned relation's schema (and each node's output columns);
  // SUMMARY makes a plan-only EXPLAIN report its planning time too.
  const options = req.analyze ? 'ANALYZE, BUFFERS, VERBOSE, FORMAT JSON' : 'VERBOSE, SUMMARY, FORMAT JSON';
  const generic = req.planMode === 'generic';
  await client.query('BEGIN');
  try {
    await client.query(`SELECT set_config('statement_timeout', $1, true)`, [String(req.timeoutMs)]);
    for (const [name, value] of Object.entries(req.settings ?? {})) {
      await client.query(`SELECT set_config($1, $2, true)`, [name, value]);
    }
    let res: pg.QueryResult<{ 'QUERY PLAN': unknown }>;
    if (generic) {
      // EXECUTE's arguments cannot be protocol parameters, so the samples go in as
      // quoted literals of unknown type, which the prepared statement's types coerce.
      await client.query(`SELECT set_config('plan_cache_mode', 'force_generic_plan', true)`);
      await client.query(`PREPARE ${STATEMENT} AS ${req.text}`);
      const args = req.params.map((p) => toLiteral(client, p)).join(', ');
      res = await client.query(`EXPLAIN (${options}) EXECUTE ${STATEMENT}${args ? `(${args})` : ''}`);
    } else {
      res = await client.query({ text: `EXPLAIN (${options}) ${req.text}`, values: req.params as unknown[] });
    }
    return res.rows[0]?.['QUERY PLAN'];
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    // Prepared statements outlive the transaction: never hand a pooled connection back with one.
    if (generic) await client.query(`DEALLOCATE ${STATEMENT}`).catch(() => undefined);
  }
}

/** A sample value as an SQL literal, converted as node-postgres converts parameters. */
function toLiteral(client: pg.PoolClient, value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return client.escapeLiteral(String(value));
  if (value instanceof Date) return client.escapeLiteral(value.toISOString());
  if (Buffer.isBuffer(value)) return client.escapeLiteral(`\\x${value.toString('hex')}`);
  if (Array.isArray(value)) return client.escapeLiteral(arrayLiteral(value));
  if (typeof value === 'object') return client.escapeLiteral(JSON.stringify(value));
  return client.escapeLiteral(String(value));
}

function arrayLiteral(values: readonly unknown[]): string {
  const items = values.map((v) => {
    if (v === null || v === undefined) return 'NULL';
    if (Array.isArray(v)) return arrayLiteral(v);
    const text = v instanceof Date ? v.toISOString() : typeof v === 'object' ? JSON.stringify(v) : String(v);
    return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  });
  return `{${items.join(',')}}`;
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
