import { connectNode, type PgNode } from './postgres-node.ts';
import type { RedisNode } from './redis-node.ts';
import { describeHolder, findListener, pgSocketLockHolder, type PortHolder } from './listeners.ts';

export interface NodeStatus {
  readonly name: string;
  readonly role: 'primary' | 'replica' | 'redis';
  readonly port: number;
  /**
   * running | stopped | absent | streaming | catchup | not_streaming (replicas, from the primary),
   * foreign: another process holds this node's port (see holder),
   * moved: this node's own server runs, but on another port (another BGC_STACK_PORT_OFFSET).
   */
  readonly state: string;
  readonly lagBytes?: number | null;
  readonly lagSeconds?: number | null;
  /** The pid of this node's own server when it runs. */
  readonly pid?: number | null;
  /** This node's data folder. */
  readonly dir?: string;
  /** Who holds the port when the state is 'foreign'. */
  readonly holder?: { readonly pid: number | null; readonly command: string | null; readonly description: string };
  readonly detail?: Record<string, unknown>;
}

interface ReplicationRow { application_name: string; state: string; lag_bytes: string | null; replay_lag: number | null }

/** pg_stat_replication of our primary, by application_name (the replica's node name). */
export async function replicationRows(primaryPort: number): Promise<Map<string, ReplicationRow>> {
  try {
    const c = await connectNode(primaryPort);
    try {
      const res = await c.query<ReplicationRow>(
        `SELECT application_name, state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint::text AS lag_bytes,
                EXTRACT(EPOCH FROM replay_lag)::float8 AS replay_lag
           FROM pg_stat_replication`);
      return new Map(res.rows.map((r) => [r.application_name, r]));
    } finally { await c.end(); }
  } catch {
    return new Map(); // the primary's own state is reported separately
  }
}

function holderOf(h: PortHolder): NonNullable<NodeStatus['holder']> {
  return { pid: h.pid, command: h.command, description: describeHolder(h) };
}

/** A PostgreSQL node: ours by its postmaster.pid; otherwise whoever holds its port. */
export async function pgNodeStatus(node: PgNode, replication: ReadonlyMap<string, ReplicationRow>): Promise<NodeStatus> {
  const { name, role, port, dir } = node.spec;
  const pid = node.ownPid();
  const at = pid === null ? null : node.runningPort();
  if (pid !== null && at === port) {
    if (role === 'primary') return { name, role, port, state: 'running', pid, dir };
    const rep = replication.get(name);
    return {
      name, role, port, pid, dir, state: rep ? rep.state : 'not_streaming',
      lagBytes: rep?.lag_bytes != null ? Number(rep.lag_bytes) : null,
      lagSeconds: rep?.replay_lag ?? (rep ? 0 : null),
    };
  }
  const holder = await findListener(port) ?? pgSocketLockHolder(port);
  if (holder !== null) return { name, role, port, state: 'foreign', pid, dir, holder: holderOf(holder), ...(at !== null ? { detail: { own_server_port: at } } : {}) };
  if (pid !== null) return { name, role, port, state: 'moved', pid, dir, detail: { own_server_port: at } };
  return { name, role, port, state: node.exists ? 'stopped' : 'absent', pid: null, dir };
}

/** Redis: ours when INFO server's process_id is the pid in our pid file; otherwise whoever holds the port. */
export async function redisStatus(redis: RedisNode): Promise<NodeStatus> {
  const { port, dir } = redis.spec;
  const info = await redis.info();
  if (info) {
    return { name: 'redis', role: 'redis', port, state: 'running', pid: info.pid, dir, detail: { maxmemory: info.maxmemory, policy: info.policy, used_memory: info.usedMemory } };
  }
  const pid = redis.ownPid();
  const holder = await findListener(port);
  if (holder !== null && holder.pid !== pid) return { name: 'redis', role: 'redis', port, state: 'foreign', pid, dir, holder: holderOf(holder) };
  if (pid !== null) return { name: 'redis', role: 'redis', port, state: holder === null ? 'moved' : 'running', pid, dir };
  return { name: 'redis', role: 'redis', port, state: 'stopped', pid: null, dir };
}
