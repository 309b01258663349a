/**
 * Which address each kind of database work uses (docs/OPERATIONS.md, "Behind PgBouncer").
 *
 * With DATABASE_SESSION_URL set, DATABASE_URL (and DATABASE_REPLICA_URLS) name PgBouncer in
 * transaction pooling mode: each transaction may run on a different server connection, so
 * nothing that lives in a session may go there (LISTEN, session advisory locks, SET, named
 * prepared statements), and PgBouncer 1.18 refuses startup parameters it cannot track
 * (statement_timeout, options). Everything that needs a session connects to the primary
 * directly instead; `primaryUrl` is that direct address, so every existing session user
 * (the invalidation listener, the scheduler's leader lock, partition maintenance, the CLI
 * tools, the bench's setup) reaches the primary directly without knowing about the pooler.
 */
export interface DatabaseConfig {
  /**
   * The primary as a session reaches it, directly: DATABASE_SESSION_URL when set, else
   * DATABASE_URL. LISTEN/NOTIFY, advisory locks (leader election, migrations, partition
   * maintenance) and one-shot tools connect here.
   */
  readonly primaryUrl: string;
  /** Where the app's primary pool connects: DATABASE_URL (PgBouncer when `transactionPooler`). */
  readonly primaryPoolUrl: string;
  readonly replicaUrls: readonly string[];
  /**
   * Each replica reached directly, index for index with `replicaUrls` (DATABASE_REPLICA_SESSION_URLS;
   * empty when not set): behind PgBouncer the health checks go there, not into PgBouncer's queue.
   */
  readonly replicaSessionUrls: readonly string[];
  /** Patroni REST APIs whose /cluster lists the replicas at run time (BGC_PATRONI_URLS); empty = static replicas only. */
  readonly patroniUrls: readonly string[];
  /**
   * DATABASE_URL goes through a transaction-pooling PgBouncer (declared by setting
   * DATABASE_SESSION_URL): pooled connections carry no session state and send no
   * statement_timeout at connect; the server must set it (checked at start-up).
   */
  readonly transactionPooler: boolean;
  /**
   * Statements sent named, so each connection parses and plans them once
   * (BGC_DB_NAMED_STATEMENTS). Default: on, off behind the pooler, where the next execution
   * may land on a server connection that never saw the Parse (brianc/node-postgres #2327).
   */
  readonly namedStatements: boolean;
}

export interface DatabaseUrlInput {
  readonly poolUrl: string;
  /** DATABASE_URL was set (not the local stack's default). */
  readonly poolUrlGiven: boolean;
  readonly sessionUrl: string | undefined;
  readonly replicaUrls: readonly string[];
  readonly replicaSessionUrls: readonly string[];
  readonly patroniUrls: readonly string[];
  readonly namedStatements: boolean | undefined;
}

/** Startup parameters PgBouncer 1.18 refuses ("unsupported startup parameter"), as URL parameters node-postgres sends. */
const REFUSED_BY_PGBOUNCER = ['options', 'statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout'];

export function databaseConfig(input: DatabaseUrlInput, problems: string[]): DatabaseConfig {
  const transactionPooler = input.sessionUrl !== undefined;
  if (transactionPooler) {
    if (!input.poolUrlGiven) problems.push('DATABASE_SESSION_URL: set it together with DATABASE_URL (the PgBouncer address); alone it has nothing to stand beside');
    if (input.sessionUrl === input.poolUrl) problems.push('DATABASE_SESSION_URL: must reach the primary directly, not the same address as DATABASE_URL (PgBouncer)');
    for (const [name, url] of [['DATABASE_URL', input.poolUrl], ...input.replicaUrls.map((u) => ['DATABASE_REPLICA_URLS', u] as const)] as const) {
      if (!URL.canParse(url)) continue;
      const refused = REFUSED_BY_PGBOUNCER.filter((p) => new URL(url).searchParams.has(p));
      if (refused.length > 0) problems.push(`${name}: PgBouncer 1.18 refuses the startup parameter${refused.length > 1 ? 's' : ''} ${refused.join(', ')}; set ${refused.length > 1 ? 'them' : 'it'} on the server instead (ALTER ROLE … SET, docs/OPERATIONS.md)`);
    }
  }
  if (input.replicaSessionUrls.length > 0) {
    if (!transactionPooler) {
      problems.push('DATABASE_REPLICA_SESSION_URLS: only behind PgBouncer, set together with DATABASE_SESSION_URL (without a pooler the replica URLs are direct already)');
    } else if (input.replicaUrls.length === 0 && input.patroniUrls.length > 0) {
      problems.push('DATABASE_REPLICA_SESSION_URLS: names static replicas (DATABASE_REPLICA_URLS), and there are none; the members Patroni lists (BGC_PATRONI_URLS) are reached directly already');
    } else if (input.replicaSessionUrls.length !== input.replicaUrls.length) {
      problems.push(`DATABASE_REPLICA_SESSION_URLS: ${input.replicaSessionUrls.length} URL(s) for ${input.replicaUrls.length} in DATABASE_REPLICA_URLS; give each replica's direct address, in the same order`);
    } else {
      input.replicaSessionUrls.forEach((u, i) => {
        if (u === input.replicaUrls[i]) problems.push(`DATABASE_REPLICA_SESSION_URLS: "${u}" must reach the replica directly, not the same address as in DATABASE_REPLICA_URLS (PgBouncer)`);
      });
    }
  }
  return {
    primaryUrl: input.sessionUrl ?? input.poolUrl,
    primaryPoolUrl: input.poolUrl,
    replicaUrls: input.replicaUrls,
    replicaSessionUrls: input.replicaSessionUrls,
    patroniUrls: input.patroniUrls,
    transactionPooler,
    namedStatements: input.namedStatements ?? !transactionPooler,
  };
}
