import type { ManagedPool } from './managed-pool.ts';
import type { ReplicaRouter } from './replica-router.ts';

/** The part of Patroni's `GET /cluster` answer read here. */
interface ClusterMember {
  readonly name: string;
  readonly role: string;
  readonly state?: string;
  readonly host?: string;
  readonly port?: number;
}

const FETCH_TIMEOUT_MS = 1_000;

/**
 * The replica set from Patroni (BGC_PATRONI_URLS, DESIGN §7): every `pollMs` it reads
 * `/cluster` from the first REST API that answers and makes the router's replicas the
 * members that are not the leader. A member promoted to leader leaves the set (its pool is
 * closed); a member that appears, or an old primary back as a replica, enters it with a new
 * pool, in rotation once the router's own probe finds it healthy. When no REST API answers
 * (etcd quorum lost, the API down) the set stays as it was: the router's probes still judge
 * each member, and a stale set is better than none.
 *
 * Between two polls the router's probe already keeps a promoted member out (it is no longer
 * in recovery), so discovery does not have to be fast to keep reads consistent, only to find
 * new members.
 */
export class PatroniReplicaSource {
  readonly #pools = new Map<string, ManagedPool>();
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  lastError: string | undefined;
  lastRefreshAt = 0;

  constructor(
    private readonly restUrls: readonly string[],
    private readonly router: ReplicaRouter,
    /** Builds (does not open) a replica pool for a member's connection URL. */
    private readonly makePool: (name: string, url: string) => ManagedPool,
    /** The primary's URL: user, password, database and options for every member. */
    private readonly primaryUrl: string,
    private readonly pollMs: number,
  ) {}

  /** First read of /cluster (bounded), then polling. */
  async start(): Promise<void> {
    await this.refresh();
    this.#timer = setInterval(() => { void this.refresh(); }, this.pollMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    for (const p of pools) this.router.removeReplica(p);
    await Promise.allSettled(pools.map((p) => p.close()));
  }

  /** Members currently in the set, by Patroni name. */
  get members(): string[] { return [...this.#pools.keys()]; }

  async refresh(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const members = await this.#fetchMembers();
      if (members === undefined) return;
      const wanted = new Map<string, string>();
      for (const m of members) {
        if (m.role === 'leader' || m.role === 'standby_leader' || !m.host || !m.port) continue;
        wanted.set(m.name, this.#memberUrl(m.host, m.port));
      }
      for (const [name, pool] of [...this.#pools]) {
        if (wanted.get(name) === pool.url) continue;
        this.#pools.delete(name);
        this.router.removeReplica(pool);
        void pool.close().catch(() => undefined);
      }
      for (const [name, url] of wanted) {
        if (this.#pools.has(name)) continue;
        const pool = this.makePool(name, url);
        this.#pools.set(name, pool);
        this.router.addReplica(pool);
        // A member that is still starting refuses connections: the router keeps it out until it answers.
        void pool.prefill().catch(() => undefined);
      }
      this.lastRefreshAt = Date.now();
    } finally {
      this.#busy = false;
    }
  }

  async #fetchMembers(): Promise<ClusterMember[] | undefined> {
    const errors: string[] = [];
    for (const base of this.restUrls) {
      try {
        const res = await fetch(`${base.replace(/\/+$/, '')}/cluster`, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
        const body = await res.json() as { members?: ClusterMember[] };
        if (res.ok && Array.isArray(body.members)) { this.lastError = undefined; return body.members; }
        errors.push(`${base}: HTTP ${res.status}`);
      } catch (err) {
        errors.push(`${base}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    this.lastError = errors.join('; ');
    return undefined;
  }

  #memberUrl(host: string, port: number): string {
    const u = new URL(this.primaryUrl);
    u.hostname = host;
    u.port = String(port);
    return u.toString();
  }
}
