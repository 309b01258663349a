/** One PgBouncer in front of one PostgreSQL node (GitLab's layout: a pooler per node). */
export interface PgBouncerNodeSpec {
  /** The node it pools: "primary", "replica1", … (also its folder's name). */
  readonly name: string;
  /** Where clients connect (127.0.0.1). */
  readonly port: number;
  /** The PostgreSQL node's port; PgBouncer reaches it over the node's Unix socket in `socketDir`. */
  readonly serverPort: number;
  readonly socketDir: string;
  /** Server connections to the node, at most (default_pool_size and max_db_connections). */
  readonly poolSize: number;
  /** Client connections accepted (the app instances' pools together). */
  readonly maxClientConn: number;
  /** Set on every server connection by `connect_query` (PgBouncer 1.18 refuses it as a startup parameter). */
  readonly statementTimeoutMs: number;
  /** A client waiting longer than this for a server connection is disconnected (query_wait_timeout). */
  readonly queryWaitTimeoutSeconds: number;
  readonly authFile: string;
}

/**
 * pgbouncer.ini for one node, in transaction pooling mode (docs/OPERATIONS.md, "Behind PgBouncer"):
 *  - `* = host=<socket dir> port=<node>`: every database name is passed through, so a test's
 *    own database works like `bgc`; the Unix socket keeps PgBouncer's server connections
 *    apart from direct sessions in pg_stat_activity (client_addr is NULL for them).
 *  - `connect_query`: statement_timeout on each server connection as it opens. Transaction
 *    mode sends no reset query, so it stays. (Production: ALTER ROLE … SET, see OPERATIONS.md.)
 *  - `ignore_startup_parameters` is left empty on purpose: the app must send nothing that
 *    PgBouncer 1.18 refuses (statement_timeout, options), and the tests prove it against this.
 *  - `max_db_connections` = `default_pool_size`: the node never sees more than `poolSize`
 *    connections from this PgBouncer, however many app instances connect.
 *  - no Unix socket of its own (`unix_socket_dir` empty): PgBouncer's socket would be named
 *    like a PostgreSQL one in the same folder.
 */
export function pgbouncerIni(spec: PgBouncerNodeSpec): string {
  const timeout = Math.max(0, Math.round(spec.statementTimeoutMs));
  return [
    '; Written by `bgc stack up --pgbouncer` (src/tools/stack/pgbouncer/config.ts); rewritten at every start.',
    '[databases]',
    `* = host=${spec.socketDir} port=${spec.serverPort} connect_query='SET statement_timeout = ${timeout}'`,
    '',
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${spec.port}`,
    'unix_socket_dir =',
    // The local stack trusts loopback (DESIGN §2); the user must still be listed in auth_file.
    'auth_type = trust',
    `auth_file = ${spec.authFile}`,
    'admin_users = postgres',
    'pool_mode = transaction',
    `default_pool_size = ${spec.poolSize}`,
    `max_db_connections = ${spec.poolSize}`,
    'reserve_pool_size = 0',
    `max_client_conn = ${spec.maxClientConn}`,
    `query_wait_timeout = ${spec.queryWaitTimeoutSeconds}`,
    'server_idle_timeout = 60',
    'log_connections = 0',
    'log_disconnections = 0',
    'stats_period = 60',
    '',
  ].join('\n');
}

/** auth_file: with auth_type trust only the names count. */
export function pgbouncerAuthFile(users: readonly string[]): string {
  return users.map((u) => `"${u.replace(/"/g, '""')}" ""\n`).join('');
}
