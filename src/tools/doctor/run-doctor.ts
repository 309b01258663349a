import type { Config } from '../../config/index.ts';
import type { Database } from '../../db/database.ts';
import type { ManagedPool } from '../../db/managed-pool.ts';
import { checkPgStatStatements, checkRedisMemory, checkReplication, readNodeStates, type DoctorNode } from './node-checks.ts';
import { checkDuplicateIndexes, checkForeignKeyIndexes, checkIndexFunctionsBySearchPath, checkInvalidIndexes, checkPartitioning, checkPrimaryKeys } from './schema-checks.ts';
import { checkLocalStackOwnership } from './stack-checks.ts';
import type { DoctorReport, Finding, NodeQuery } from './types.ts';

export const CHECKS = ['fk_index', 'invalid_index', 'duplicate_index', 'index_search_path', 'primary_key', 'partitioning', 'pg_stat_statements', 'replication', 'redis_memory', 'local_stack'] as const;

function address(url: string): string {
  try { return new URL(url).host; } catch { return 'unparseable url'; }
}

function node(pool: ManagedPool): DoctorNode {
  const query: NodeQuery = async <R extends Record<string, unknown>>(sql: string, params: readonly unknown[] = []) => (await pool.query<R>(sql, params)).rows;
  return { name: pool.name, role: pool.role, address: address(pool.url), query };
}

/**
 * Audits the live system: the schema on the primary, every configured PostgreSQL node,
 * and Redis. Throws only when the primary cannot be queried at all; everything else,
 * unreachable replicas and Redis included, is a finding.
 */
export async function runDoctor(config: Config, db: Database): Promise<DoctorReport> {
  const primary = node(db.primary);
  const nodes = [primary, ...db.replicas.map(node)];
  const states = await readNodeStates(nodes);
  const results: Finding[][] = await Promise.all([
    checkForeignKeyIndexes(primary.query),
    checkInvalidIndexes(primary.query),
    checkDuplicateIndexes(primary.query),
    checkIndexFunctionsBySearchPath(primary.query),
    checkPrimaryKeys(primary.query),
    checkPartitioning(primary.query),
    checkPgStatStatements(states),
    checkReplication(primary, states),
    checkRedisMemory(config.redis.url),
    checkLocalStackOwnership(config),
  ]);
  return { findings: results.flat(), checks: [...CHECKS] };
}
