import type { PoolStats } from '../../db/managed-pool.ts';
import type { NodeSample, RelationSample } from './collect.ts';
import { counterDelta, type StatementDeltaResult } from './deltas.ts';

/** What a node's snapshot is compared with: its previous snapshot's counters and the statement deltas. */
export interface Baseline {
  readonly previous: { blksHit: number | null; blksRead: number | null; idxBlksHit: number | null; idxBlksRead: number | null } | undefined;
  readonly deltas: StatementDeltaResult;
  /** The node is another server (or restarted) since its last snapshot: counters start afresh. */
  readonly serverChanged: boolean;
}

/** The monitoring.snapshots row of one node (jsonb_to_recordset column names). */
export function buildSnapshotRow(
  runId: string, takenAt: string, x: NodeSample, b: Baseline | undefined,
  pool: (PoolStats & { max: number }) | undefined, topStatements: number,
): Record<string, unknown> {
  const st = x.stats;
  const prev = b?.previous;
  return {
    run_id: runId, taken_at: takenAt, node: x.node.name, role: x.node.role, ok: x.ok, error: x.error,
    pgss_dealloc: x.pgss?.dealloc ?? null, pgss_stats_reset: x.pgss?.statsReset ?? null,
    pgss_dealloc_delta: b?.deltas.deallocDelta ?? null, pgss_reset_detected: b?.deltas.resetDetected ?? false,
    statements_total: x.ok ? x.statements.length : null,
    statements_stored: b ? Math.min(b.deltas.deltas.length, topStatements) : null,
    blks_hit: st?.blks_hit ?? null, blks_read: st?.blks_read ?? null,
    blks_hit_delta: counterDelta(st?.blks_hit, prev?.blksHit), blks_read_delta: counterDelta(st?.blks_read, prev?.blksRead),
    idx_blks_hit: st?.idx_blks_hit ?? null, idx_blks_read: st?.idx_blks_read ?? null,
    idx_blks_hit_delta: counterDelta(st?.idx_blks_hit, prev?.idxBlksHit), idx_blks_read_delta: counterDelta(st?.idx_blks_read, prev?.idxBlksRead),
    xact_commit: st?.xact_commit ?? null, xact_rollback: st?.xact_rollback ?? null, deadlocks: st?.deadlocks ?? null,
    temp_bytes: st?.temp_bytes ?? null, db_size_bytes: st?.db_size_bytes ?? null,
    connections_total: st?.total ?? null, connections_active: st?.active ?? null, connections_idle_in_tx: st?.idle_in_tx ?? null,
    connections_app: st?.app ?? null, max_connections: st?.max_connections ?? null,
    pool_total: pool?.total ?? null, pool_idle: pool?.idle ?? null, pool_waiting: pool?.waiting ?? null, pool_max: pool?.max ?? null,
    replica_lag_ms: x.lag?.lagMs ?? null, replica_lag_bytes: x.lag?.lagBytes ?? null,
    relations_captured: x.relations !== null,
    server_started_at: st?.server_started_at ?? null,
  };
}

/** Table, index and partition rows of one node snapshot. */
export function buildRelationRows(snapshotId: string, r: RelationSample): {
  tables: Record<string, unknown>[]; indexes: Record<string, unknown>[]; partitions: Record<string, unknown>[];
} {
  return {
    tables: r.tables.map((t) => ({ snapshot_id: snapshotId, ...t })),
    indexes: r.indexes.map((i) => ({ snapshot_id: snapshotId, ...i })),
    partitions: r.partitions.map((p) => ({ snapshot_id: snapshotId, ...p })),
  };
}
