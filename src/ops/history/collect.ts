import type { Database } from '../../db/database.ts';
import { listNodes, queryOnNode, type NodeInfo } from '../../db/node-query.ts';
import { systemQueries } from '../../db/system-queries.ts';
import { collectQueries as q } from './collect.repository.ts';
import type { PgssInfo, StatementSample } from './deltas.ts';

/** Raw statistics of one node at one moment, before any delta. */
export interface NodeSample {
  readonly node: NodeInfo;
  readonly ok: boolean;
  readonly error: string | null;
  readonly pgss: PgssInfo | null;
  readonly statements: readonly StatementSample[];
  readonly stats: NodeStatsRow | null;
  readonly lag: { readonly lagMs: number; readonly lagBytes: number | null } | null;
  readonly relations: RelationSample | null;
}

export interface NodeStatsRow {
  readonly blks_hit: number; readonly blks_read: number;
  readonly idx_blks_hit: number; readonly idx_blks_read: number;
  readonly xact_commit: number; readonly xact_rollback: number; readonly deadlocks: number; readonly temp_bytes: number;
  readonly db_size_bytes: number;
  readonly total: number; readonly active: number; readonly idle_in_tx: number; readonly app: number;
  readonly max_connections: number;
  /** Tells servers (and restarts) apart: a node's counters are compared only within one. */
  readonly server_started_at: Date;
}

export interface TableRow {
  readonly schema_name: string; readonly table_name: string; readonly parent_table: string | null;
  readonly seq_scan: number; readonly seq_tup_read: number; readonly idx_scan: number;
  readonly n_tup_ins: number; readonly n_tup_upd: number; readonly n_tup_del: number;
  readonly n_live_tup: number; readonly n_dead_tup: number; readonly last_autovacuum: Date | null;
  readonly table_bytes: number; readonly index_bytes: number; readonly total_bytes: number;
}

export interface IndexRow {
  readonly schema_name: string; readonly table_name: string; readonly index_name: string; readonly parent_index: string | null;
  readonly idx_scan: number; readonly size_bytes: number; readonly is_unique: boolean; readonly is_primary: boolean;
  readonly method: string; readonly key_columns: string; readonly predicate: string | null; readonly definition: string;
}

export interface PartitionRow {
  readonly parent_table: string; readonly partition_name: string;
  readonly range_from: string | null; readonly range_to: string | null;
  readonly total_bytes: number; readonly rows_estimate: number;
}

export interface RelationSample {
  readonly tables: readonly TableRow[];
  readonly indexes: readonly IndexRow[];
  /** Partition layout is identical on physical replicas: captured on the primary only. */
  readonly partitions: readonly PartitionRow[];
}

interface StatementRow {
  queryid: string; query: string; calls: number; total_exec_time: number; rows: number;
  shared_blks_hit: number; shared_blks_read: number; temp_blks_written: number;
}

/** `FOR VALUES FROM ('2026-01-01 00:00:00+00') TO ('2026-02-01 00:00:00+00')` → ISO bounds. */
export function parseRangeBound(bound: string | null): { from: string | null; to: string | null } {
  const m = bound ? /FROM \('([^']+)'\) TO \('([^']+)'\)/.exec(bound) : null;
  const iso = (s: string | undefined) => {
    const d = s ? new Date(s.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00')) : new Date(NaN);
    return Number.isNaN(d.getTime()) ? null : d.toISOString();
  };
  return m ? { from: iso(m[1]), to: iso(m[2]) } : { from: null, to: null };
}

async function collectRelations(db: Database, node: NodeInfo): Promise<RelationSample> {
  const [tables, indexes] = await Promise.all([
    queryOnNode<TableRow>(db, node.name, q.tableStats, []),
    queryOnNode<IndexRow>(db, node.name, q.indexStats, []),
  ]);
  let partitions: PartitionRow[] = [];
  if (node.role === 'primary') {
    const rows = await queryOnNode<{ parent_table: string; partition_name: string; bound: string | null; total_bytes: number; rows_estimate: number }>(db, node.name, q.partitionStats, []);
    partitions = rows.map((r) => {
      const range = parseRangeBound(r.bound);
      return { parent_table: r.parent_table, partition_name: r.partition_name, range_from: range.from, range_to: range.to, total_bytes: r.total_bytes, rows_estimate: r.rows_estimate };
    });
  }
  return { tables, indexes, partitions };
}

async function collectNode(db: Database, node: NodeInfo, primaryLsn: string | null, withRelations: boolean): Promise<NodeSample> {
  try {
    const [infoRows, statementRows, statsRows] = await Promise.all([
      queryOnNode<{ dealloc: string; stats_reset: Date | null }>(db, node.name, q.pgssInfo, []),
      queryOnNode<StatementRow>(db, node.name, q.statements, []),
      queryOnNode<NodeStatsRow>(db, node.name, q.nodeStats, []),
    ]);
    const info = infoRows[0];
    const lagRow = node.role === 'replica'
      ? (await queryOnNode<{ lag_ms: number; lag_bytes: number | null }>(db, node.name, q.replicaLag, [primaryLsn]))[0]
      : undefined;
    const relations = withRelations ? await collectRelations(db, node) : null;
    return {
      node, ok: true, error: null,
      pgss: info ? { dealloc: Number(info.dealloc), statsReset: info.stats_reset ? info.stats_reset.toISOString() : null } : null,
      statements: statementRows.map((r) => ({
        queryid: r.queryid, query: r.query, calls: r.calls, totalExecTime: r.total_exec_time, rows: r.rows,
        sharedBlksHit: r.shared_blks_hit, sharedBlksRead: r.shared_blks_read, tempBlksWritten: r.temp_blks_written,
      })),
      stats: statsRows[0] ?? null,
      lag: lagRow ? { lagMs: lagRow.lag_ms, lagBytes: lagRow.lag_bytes } : null,
      relations,
    };
  } catch (err) {
    // A node that is down is part of the history (the report counts it), not a failed run.
    return { node, ok: false, error: err instanceof Error ? err.message : String(err), pgss: null, statements: [], stats: null, lag: null, relations: null };
  }
}

/**
 * Reads every node concurrently. The primary's WAL position is taken first so each replica's
 * byte lag is measured against a position the primary had already reached.
 */
export async function collectAllNodes(db: Database, relationsDue: (node: string) => boolean): Promise<NodeSample[]> {
  let primaryLsn: string | null = null;
  try {
    primaryLsn = (await db.query<{ lsn: string }>(systemQueries.primaryLsn, []))[0]?.lsn ?? null;
  } catch {
    primaryLsn = null;
  }
  return Promise.all(listNodes(db).map((n) => collectNode(db, n, primaryLsn, relationsDue(n.name))));
}
