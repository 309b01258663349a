import path from 'node:path';
import type { Config } from '../../../config/index.ts';
import { DEFAULT_PGBOUNCER_POOL_SIZE, PgBouncerStack } from './pgbouncer.ts';

/** Where PostgreSQL puts its Unix sockets in the local stack (src/tools/stack/postgres-node.ts). */
const PG_SOCKET_DIR = '/tmp';

export interface PgBouncerOptions {
  /** Default: <config.dataDir>/pgbouncer. */
  readonly dir?: string;
  /** The nodes to pool, primary first. Default: the local stack's three. */
  readonly nodes?: ReadonlyArray<{ readonly name: string; readonly serverPort: number }>;
  /** PgBouncer ports, one per node. Default: config.stack.pgbouncerPorts (64320-64322 + offset). */
  readonly ports?: readonly number[];
  readonly poolSize?: number;
  readonly statementTimeoutMs?: number;
}

/**
 * The local stack's PgBouncers (DESIGN §7: 64320 in front of the primary, 64321-64322 in front
 * of the replicas, moved by BGC_STACK_PORT_OFFSET). 2,000 client connections each: 20 app
 * instances × 30 connections per node is 600.
 */
export function localPgBouncer(config: Config, opts: PgBouncerOptions = {}): PgBouncerStack {
  const dir = opts.dir ?? path.join(config.dataDir, 'pgbouncer');
  const nodes = opts.nodes ?? [
    { name: 'primary', serverPort: config.stack.primaryPort },
    ...config.stack.replicaPorts.map((p, i) => ({ name: `replica${i + 1}`, serverPort: p })),
  ];
  const ports = opts.ports ?? config.stack.pgbouncerPorts;
  return new PgBouncerStack({
    dir,
    nodes: nodes.map((n, i) => {
      const port = ports[i];
      if (port === undefined) throw new Error(`PgBouncer: no port for node ${n.name}`);
      return {
        name: n.name, port, serverPort: n.serverPort, socketDir: PG_SOCKET_DIR,
        poolSize: opts.poolSize ?? DEFAULT_PGBOUNCER_POOL_SIZE, maxClientConn: 2_000,
        statementTimeoutMs: opts.statementTimeoutMs ?? config.pool.statementTimeoutMs,
        queryWaitTimeoutSeconds: 5,
        authFile: path.join(dir, n.name, 'userlist.txt'),
      };
    }),
  });
}

/**
 * The environment an app instance needs to run behind these PgBouncers (docs/OPERATIONS.md):
 * the pooled URLs, and each node's direct address (the primary's for sessions, the replicas'
 * for health checks), which is the primary's with the node's own port (one host, one user).
 */
export function pgbouncerEnv(stack: PgBouncerStack, directPrimaryUrl: string, database: string): Record<string, string> {
  const [primary, ...replicas] = stack.layout.nodes;
  if (!primary) throw new Error('PgBouncer: no nodes');
  const direct = (serverPort: number): string => {
    const u = new URL(directPrimaryUrl);
    u.port = String(serverPort);
    u.pathname = `/${database}`;
    return u.toString();
  };
  return {
    DATABASE_URL: stack.url(primary.name, database),
    DATABASE_REPLICA_URLS: replicas.map((r) => stack.url(r.name, database)).join(','),
    DATABASE_SESSION_URL: directPrimaryUrl,
    DATABASE_REPLICA_SESSION_URLS: replicas.map((r) => direct(r.serverPort)).join(','),
  };
}
