import { readRedisEvictionSettings } from '../../cache/redis-info.ts';
import { DOCTOR_SQL } from './doctor.sql.ts';
import type { Finding, NodeQuery } from './types.ts';

/** A PostgreSQL node as the doctor sees it: a label and a way to query it. */
export interface DoctorNode {
  readonly name: string;
  readonly role: 'primary' | 'replica';
  /** host:port, for messages (never the URL: it may carry a password). */
  readonly address: string;
  readonly query: NodeQuery;
}

interface NodeState { preload: string; in_recovery: boolean; receiver_status: string | null }

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

function preloads(setting: string): string[] {
  return setting.split(',').map((s) => s.trim().replace(/^"(.*)"$/, '$1')).filter((s) => s.length > 0);
}

/** Reads each node's state once; an unreachable replica becomes a finding, not an exception. */
export async function readNodeStates(nodes: readonly DoctorNode[]): Promise<Map<DoctorNode, NodeState | Error>> {
  const out = new Map<DoctorNode, NodeState | Error>();
  await Promise.all(nodes.map(async (node) => {
    try {
      const [row] = await node.query<{ preload: string; in_recovery: boolean; receiver_status: string | null }>(DOCTOR_SQL.nodeState);
      out.set(node, row ?? new Error('no row'));
    } catch (err) {
      if (node.role === 'primary') throw err; // without the primary there is nothing to audit
      out.set(node, err instanceof Error ? err : new Error(String(err)));
    }
  }));
  return out;
}

/** pg_stat_statements must be preloaded on every node, and the extension created on the primary. */
export async function checkPgStatStatements(states: Map<DoctorNode, NodeState | Error>): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const [node, state] of states) {
    if (state instanceof Error) continue; // reported by the replication check
    if (!preloads(state.preload).includes('pg_stat_statements')) {
      findings.push({ check: 'pg_stat_statements', severity: 'error', object: `${node.name} (${node.address})`, detail: `shared_preload_libraries is '${state.preload}'; add pg_stat_statements and restart` });
    }
    if (node.role === 'primary') {
      const [row] = await node.query<{ installed: boolean }>(DOCTOR_SQL.pgStatStatementsInstalled);
      if (!row?.installed) findings.push({ check: 'pg_stat_statements', severity: 'error', object: `${node.name} (${node.address})`, detail: 'extension pg_stat_statements is not created in this database' });
    }
  }
  return findings;
}

/**
 * The primary must see as many streaming standbys as replicas are configured, and each
 * configured replica must be in recovery with its WAL receiver streaming.
 */
export async function checkReplication(primary: DoctorNode, states: Map<DoctorNode, NodeState | Error>): Promise<Finding[]> {
  const findings: Finding[] = [];
  const replicas = [...states.keys()].filter((n) => n.role === 'replica');
  const senders = await primary.query<{ name: string; client: string; state: string }>(DOCTOR_SQL.replication);
  const streaming = senders.filter((s) => s.state === 'streaming').length;
  if (streaming < replicas.length) {
    const seen = senders.map((s) => `${s.name || s.client}: ${s.state}`).join(', ') || 'none';
    findings.push({ check: 'replication', severity: 'error', object: `${primary.name} (${primary.address})`, detail: `${replicas.length} replica(s) configured but ${streaming} streaming in pg_stat_replication (${seen})` });
  }
  for (const node of replicas) {
    const state = states.get(node);
    const object = `${node.name} (${node.address})`;
    if (state === undefined || state instanceof Error) {
      findings.push({ check: 'replication', severity: 'error', object, detail: `unreachable: ${state ? message(state) : 'not queried'}` });
    } else if (!state.in_recovery) {
      findings.push({ check: 'replication', severity: 'error', object, detail: 'not in recovery: this node is a primary, not a replica' });
    } else if (state.receiver_status !== 'streaming') {
      findings.push({ check: 'replication', severity: 'error', object, detail: `WAL receiver is ${state.receiver_status ?? 'not running'}, not streaming` });
    }
  }
  return findings;
}

/** A cache needs a memory limit and a policy that evicts; noeviction turns a full cache into write errors. */
export async function checkRedisMemory(url: string): Promise<Finding[]> {
  const object = `redis (${new URL(url).host})`;
  try {
    const s = await readRedisEvictionSettings(url);
    const findings: Finding[] = [];
    if (!(s.maxmemory > 0)) findings.push({ check: 'redis_memory', severity: 'error', object, detail: 'maxmemory is 0 (unlimited): the cache can grow until the host runs out of memory' });
    if (s.policy === 'noeviction') findings.push({ check: 'redis_memory', severity: 'error', object, detail: 'maxmemory-policy is noeviction: at the limit every cache write fails instead of evicting' });
    return findings;
  } catch (err) {
    return [{ check: 'redis_memory', severity: 'error', object, detail: `unreachable: ${message(err)}` }];
  }
}
