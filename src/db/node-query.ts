import type pg from 'pg';
import type { QueryDef } from '../catalog/types.ts';
import type { Database } from './database.ts';
import type { ManagedPool, NodeRole, PoolStats } from './managed-pool.ts';
import { DbUnavailableError } from './errors.ts';
import { poolCapacity } from '../config/index.ts';

/** One database node as the app's pools see it. */
export interface NodeInfo {
  readonly name: string;
  readonly role: NodeRole;
}

/**
 * Monitoring needs what routing must never do: ask one particular node. pg_stat_statements,
 * pg_stat_database and pg_stat_user_tables are per node (a replica counts the reads it serves),
 * so the snapshot job visits every node by name, through the app's own pools (no extra
 * connections) and without the router's retries, fallbacks or lag rules.
 */
export function listNodes(db: Database): NodeInfo[] {
  return [db.primary, ...db.replicas].map((p) => ({ name: p.name, role: p.role }));
}

function poolByName(db: Database, node: string): ManagedPool {
  const pool = [db.primary, ...db.replicas].find((p) => p.name === node);
  if (!pool) throw new DbUnavailableError('DB_UNAVAILABLE', `no database node named ${node}`, node);
  return pool;
}

/** Runs one catalog entry on the named node ("primary", "replica1", …). Reads only on replicas. */
export async function queryOnNode<R extends pg.QueryResultRow>(db: Database, node: string, def: QueryDef, params: readonly unknown[]): Promise<R[]> {
  const pool = poolByName(db, node);
  if (def.writes && pool.role !== 'primary') throw new DbUnavailableError('DB_UNAVAILABLE', `${def.name} writes and cannot run on ${node}`, node);
  const started = process.hrtime.bigint();
  try {
    const res = await pool.query<R>(def.text, params);
    db.statementLog?.record(def, params, { node, seconds: Number(process.hrtime.bigint() - started) / 1e9, rows: res.rows.length });
    return res.rows;
  } catch (error) {
    db.statementLog?.record(def, params, { node, seconds: Number(process.hrtime.bigint() - started) / 1e9, error });
    throw error;
  }
}

/** Pool statistics of one node, or undefined when the app has no pool by that name. */
export function nodePoolStats(db: Database, node: string): (PoolStats & { readonly max: number }) | undefined {
  const pool = [db.primary, ...db.replicas].find((p) => p.name === node);
  if (!pool) return undefined;
  return { ...pool.stats(), max: poolCapacity(db.config.pool) };
}
