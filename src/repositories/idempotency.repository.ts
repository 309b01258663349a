import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database, Tx } from '../db/database.ts';

/**
 * Idempotency-Key records (migrations/0012). `record` runs inside the transaction of the
 * write it protects (src/services/idempotency.ts); `find` answers a retry or a loser of a
 * race; `expire` is the leader job's batched delete.
 */

const AUDIT_SCOPE = '00000000-0000-0000-0000-000000000000';

export const idempotencyQueries = catalog({
  record: defineQuery({
    name: 'idempotency.record',
    description: "Records a key with its request fingerprint and response body, in the write's own transaction. Returns a row when the key was free (or only held by an expired record, which it overwrites); no row when a live record holds it. A concurrent transaction that inserted the same key first makes this wait for its commit (primary-key check), so duplicates racing on one key serialise here.",
    target: 'primary',
    sample: { sql: `SELECT '${AUDIT_SCOPE}'::uuid AS scope, 'explain-audit-key' AS key, sha256('explain-audit'::bytea) AS fingerprint, '{"explain":"audit"}' AS response, 24 AS ttl_hours` },
    sql: `
INSERT INTO idempotency_keys AS k (scope, key, fingerprint, response)
VALUES ($1, $2, $3, $4::jsonb)
ON CONFLICT (scope, key) DO UPDATE
  SET fingerprint = EXCLUDED.fingerprint, response = EXCLUDED.response, created_at = EXCLUDED.created_at
  WHERE k.created_at <= now() - make_interval(hours => $5)
RETURNING true AS recorded`,
  }),
  find: defineQuery({
    name: 'idempotency.find',
    description: 'The live record of a key (younger than the TTL): its fingerprint and the stored response. Primary: a retry must see a record committed a moment ago.',
    target: 'primary',
    sample: [AUDIT_SCOPE, 'explain-audit-key', 24],
    sql: `
SELECT fingerprint, response
FROM idempotency_keys
WHERE scope = $1 AND key = $2 AND created_at > now() - make_interval(hours => $3)`,
  }),
  expire: defineQuery({
    name: 'idempotency.expire',
    description: 'Deletes up to $2 records older than the TTL, oldest first (idempotency_keys_created_at_idx), skipping rows a writer holds; by ctid (a TID scan), so the delete never joins back over the whole table. The leader job repeats it until a batch comes back short, so no single statement holds locks or builds WAL for long.',
    target: 'primary',
    sample: [24, 1000],
    sql: `
WITH gone AS (
  DELETE FROM idempotency_keys
  WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM idempotency_keys
    WHERE created_at <= now() - make_interval(hours => $1)
    ORDER BY created_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
  ))
  RETURNING 1
)
SELECT count(*)::int AS deleted FROM gone`,
  }),
});

export interface IdempotencyRecord {
  readonly fingerprint: Buffer;
  /** The first response's body, as stored (jsonb, parsed by node-postgres). */
  readonly response: unknown;
}

export interface KeyRef {
  readonly scope: string;
  readonly key: string;
}

export class IdempotencyRepository {
  constructor(private readonly db: Database) {}

  /** True when this transaction now holds the key; false when a live record already does. */
  async record(tx: Tx, ref: KeyRef & { fingerprint: Buffer }, response: unknown, ttlHours: number): Promise<boolean> {
    const rows = await tx.query<{ recorded: boolean }>(idempotencyQueries.record, [
      ref.scope, ref.key, ref.fingerprint, JSON.stringify(response), ttlHours,
    ]);
    return rows.length > 0;
  }

  async find(ref: KeyRef, ttlHours: number): Promise<IdempotencyRecord | undefined> {
    const rows = await this.db.query<IdempotencyRecord>(idempotencyQueries.find, [ref.scope, ref.key, ttlHours]);
    return rows[0];
  }

  /** Deletes one batch of expired records; returns how many. */
  async expireBatch(ttlHours: number, batch: number): Promise<number> {
    const rows = await this.db.query<{ deleted: number }>(idempotencyQueries.expire, [ttlHours, batch]);
    return rows[0]?.deleted ?? 0;
  }
}
