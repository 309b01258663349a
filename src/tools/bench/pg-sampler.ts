import pg from 'pg';
import { BENCH_SQL } from './bench.sql.ts';

/**
 * Samples pg_stat_activity on every node about every 100 ms while a workload runs and
 * keeps the peak count of the app's connections (application_name 'bgc-api') to the
 * bench database: the "peak PostgreSQL connections per node" of DESIGN §5. The app's own
 * pool gauges could be wrong; the server's view is what a DBA would check.
 */
export interface NodeTarget { readonly node: string; readonly url: string }

export class PgConnectionSampler {
  readonly #clients: Array<{ node: string; client: pg.Client; backendPid: number }> = [];
  readonly #peak = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  samples = 0;

  private constructor(readonly database: string, readonly applicationName: string) {}

  static async open(nodes: readonly NodeTarget[], database: string, applicationName = 'bgc-api'): Promise<PgConnectionSampler> {
    const s = new PgConnectionSampler(database, applicationName);
    for (const n of nodes) {
      const client = new pg.Client({ connectionString: n.url, application_name: 'bgc-bench-sampler', connectionTimeoutMillis: 5_000 });
      client.on('error', () => undefined);
      await client.connect();
      const pid = await client.query<{ pid: number }>(BENCH_SQL.backendPid);
      s.#clients.push({ node: n.node, client, backendPid: pid.rows[0]?.pid ?? 0 });
    }
    return s;
  }

  start(intervalMs = 100): void {
    this.#peak.clear();
    this.samples = 0;
    this.#timer = setInterval(() => { void this.#sample(); }, intervalMs);
  }

  async #sample(): Promise<void> {
    if (this.#busy) return; // a slow node must not pile up queries
    this.#busy = true;
    try {
      await Promise.all(this.#clients.map(async ({ node, client }) => {
        // Named, so each node plans it once: planned at every sample (pg_stat_activity is a view
        // over two joins), it cost its backend about 0.5 ms of CPU per call, 1.5% of a core per node,
        // and that was counted as the node's work.
        const res = await client.query<{ n: number }>({ name: 'bgc_bench_app_connections', text: BENCH_SQL.appConnections, values: [this.applicationName, this.database] });
        const n = res.rows[0]?.n ?? 0;
        this.#peak.set(node, Math.max(this.#peak.get(node) ?? 0, n));
      }));
      this.samples++;
    } catch {
      // A node that does not answer is reported by the run's errors, not by the sampler.
    } finally {
      this.#busy = false;
    }
  }

  /**
   * The sampler's own backend on each node: its CPU is the harness's, not the node's
   * (CpuAccountant moves it), so a node's CPU per request is the app's work alone.
   */
  get backendPids(): Readonly<Record<string, number>> {
    return Object.fromEntries(this.#clients.filter((c) => c.backendPid > 0).map((c) => [c.node, c.backendPid]));
  }

  /** Stops sampling (after one last sample) and returns the peak per node. */
  async stop(): Promise<Record<string, number>> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    while (this.#busy) await new Promise((r) => setTimeout(r, 5));
    await this.#sample();
    return Object.fromEntries([...this.#clients].map(({ node }) => [node, this.#peak.get(node) ?? 0]));
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await Promise.allSettled(this.#clients.map(({ client }) => client.end()));
  }
}
