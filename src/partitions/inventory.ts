import type pg from 'pg';
import { LIST_PARTITIONS_SQL, PENDING_DETACHES_SQL } from './catalog.sql.ts';
import { PARTITIONED_TABLES, parsePartitionName, type MonthRef, type PartitionedTable } from './naming.ts';

/** One child of messages/status_updates as the catalog sees it. */
export interface PartitionInfo {
  readonly parent: PartitionedTable;
  readonly name: string;
  /** Null for a child whose name is not <table>_yYYYYmMM: reported, never touched. */
  readonly month: MonthRef | null;
  readonly pendingDetach: boolean;
  readonly bounds: string;
  readonly estimatedRows: number;
  readonly totalBytes: number;
}

export async function listPartitions(client: pg.ClientBase): Promise<PartitionInfo[]> {
  const { rows } = await client.query<{ parent: PartitionedTable; name: string; pending: boolean; bounds: string; estimated_rows: string; total_bytes: string }>(
    LIST_PARTITIONS_SQL, [[...PARTITIONED_TABLES]]);
  return rows.map((r) => {
    const parsed = parsePartitionName(r.name);
    return {
      parent: r.parent,
      name: r.name,
      month: parsed && parsed.table === r.parent ? parsed.month : null,
      pendingDetach: r.pending,
      bounds: r.bounds,
      estimatedRows: Number(r.estimated_rows),
      totalBytes: Number(r.total_bytes),
    };
  });
}

export async function listPendingDetaches(client: pg.ClientBase): Promise<Array<{ parent: string; name: string }>> {
  return (await client.query<{ parent: string; name: string }>(PENDING_DETACHES_SQL)).rows;
}
