import { PARTITIONED_TABLES } from '../../partitions/naming.ts';
import { DOCTOR_SQL } from './doctor.sql.ts';
import type { Finding, NodeQuery } from './types.ts';

/**
 * Checks of the schema, run on the primary (replicas are physical copies of it).
 * Each returns its findings; an empty list means the check passed.
 */
export async function checkForeignKeyIndexes(q: NodeQuery): Promise<Finding[]> {
  const rows = await q<{ table_name: string; constraint_name: string; columns: string }>(DOCTOR_SQL.unindexedForeignKeys);
  return rows.map((r) => ({
    check: 'fk_index',
    severity: 'error',
    object: `${r.table_name}.${r.columns}`,
    detail: `foreign key ${r.constraint_name} has no valid, non-partial index leading with (${r.columns}); deletes and updates of the referenced rows scan ${r.table_name}`,
  }));
}

export async function checkInvalidIndexes(q: NodeQuery): Promise<Finding[]> {
  const rows = await q<{ index_name: string; table_name: string; ready: boolean }>(DOCTOR_SQL.invalidIndexes);
  return rows.map((r) => ({
    check: 'invalid_index',
    severity: 'error',
    object: r.index_name,
    detail: `index on ${r.table_name} is invalid${r.ready ? '' : ' and not ready'} (a failed or running CREATE INDEX CONCURRENTLY?): the planner ignores it but writes still maintain it; drop and recreate it`,
  }));
}

export async function checkDuplicateIndexes(q: NodeQuery): Promise<Finding[]> {
  const rows = await q<{ table_name: string; indexes: string[] }>(DOCTOR_SQL.duplicateIndexes);
  return rows.map((r) => ({
    check: 'duplicate_index',
    severity: 'warning',
    object: r.indexes.join(', '),
    detail: `indexes on ${r.table_name} have the same definition; every write pays for each, keep one`,
  }));
}

export async function checkIndexFunctionsBySearchPath(q: NodeQuery): Promise<Finding[]> {
  const rows = await q<{ index_name: string; table_name: string; function_name: string }>(DOCTOR_SQL.indexFunctionsBySearchPath);
  return rows.map((r) => ({
    check: 'index_search_path',
    severity: 'error',
    object: r.index_name,
    detail: `index on ${r.table_name} calls ${r.function_name}, an SQL function whose body is resolved at each call and that sets no search_path: autovacuum (search_path = pg_catalog) cannot evaluate it if the body names anything outside pg_catalog unqualified, and then never analyzes ${r.table_name}; write the body as RETURN … (migrations/0029) or give the function SET search_path`,
  }));
}

export async function checkPrimaryKeys(q: NodeQuery): Promise<Finding[]> {
  const rows = await q<{ table_name: string }>(DOCTOR_SQL.tablesWithoutPrimaryKey);
  return rows.map((r) => ({
    check: 'primary_key',
    severity: 'error',
    object: r.table_name,
    detail: 'table has no primary key (rows cannot be addressed reliably; logical replication and many tools need one)',
  }));
}

export async function checkPartitioning(q: NodeQuery): Promise<Finding[]> {
  const rows = await q<{ table_name: string; relkind: string | null; strategy: string | null }>(DOCTOR_SQL.partitioning, [[...PARTITIONED_TABLES]]);
  return rows.flatMap((r): Finding[] => {
    if (r.relkind === null) return [{ check: 'partitioning', severity: 'error', object: r.table_name, detail: 'table is missing' }];
    if (r.relkind !== 'p') return [{ check: 'partitioning', severity: 'error', object: r.table_name, detail: `table is not partitioned (relkind '${r.relkind}'); it must be PARTITION BY RANGE (created_at) with monthly partitions` }];
    if (r.strategy !== 'r') return [{ check: 'partitioning', severity: 'error', object: r.table_name, detail: `partition strategy is '${r.strategy ?? '?'}', expected range ('r') by month` }];
    return [];
  });
}
