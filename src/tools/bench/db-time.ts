import pg from 'pg';
import { DB_TIME_SQL } from './db-time.sql.ts';

/**
 * Database time per request by catalog entry (issue 15): pg_stat_statements' executor time
 * on every node, read before and after the measured run. It shows which entries the
 * database spends a workload's requests on, the counterpart of the per-process CPU figures.
 */
type Totals = Map<string, { execMs: number; calls: number }>;
export type DbTimeSnapshot = ReadonlyMap<string, Totals>;

export interface EntryTime {
  readonly name: string;
  readonly node: string;
  /** Executor milliseconds per request of the workload (not per call). */
  readonly ms_per_request: number;
  readonly calls_per_request: number;
  readonly ms_per_call: number;
}

export class DbTimeSampler {
  private constructor(readonly clients: ReadonlyArray<{ readonly node: string; readonly client: pg.Client }>) {}

  static async open(nodes: ReadonlyArray<{ readonly node: string; readonly url: string }>): Promise<DbTimeSampler> {
    const clients: Array<{ node: string; client: pg.Client }> = [];
    for (const n of nodes) {
      const client = new pg.Client({ connectionString: n.url, application_name: 'bgc-bench-dbtime', connectionTimeoutMillis: 5_000 });
      client.on('error', () => undefined);
      await client.connect();
      clients.push({ node: n.node, client });
    }
    return new DbTimeSampler(clients);
  }

  /** Per node, the cumulative totals; a node whose pg_stat_statements cannot be read is left out. */
  async snapshot(): Promise<DbTimeSnapshot> {
    const out = new Map<string, Totals>();
    await Promise.all(this.clients.map(async ({ node, client }) => {
      try {
        const res = await client.query<{ name: string; exec_ms: number; calls: number }>(DB_TIME_SQL.byEntry);
        out.set(node, new Map(res.rows.map((r) => [r.name, { execMs: r.exec_ms, calls: r.calls }])));
      } catch {
        // pg_stat_statements not installed in this database, or the node went away: no figure.
      }
    }));
    return out;
  }

  /** The `top` entries by executor time per request between two snapshots, over all nodes. */
  static top(before: DbTimeSnapshot, after: DbTimeSnapshot, requests: number, top = 5): EntryTime[] {
    if (requests === 0) return [];
    const rows: EntryTime[] = [];
    for (const [node, totals] of after) {
      const start = before.get(node);
      if (!start) continue;
      for (const [name, t] of totals) {
        if (name === '') continue;
        const execMs = t.execMs - (start.get(name)?.execMs ?? 0);
        const calls = t.calls - (start.get(name)?.calls ?? 0);
        if (calls <= 0 || execMs <= 0) continue;
        rows.push({ name, node, ms_per_request: round3(execMs / requests), calls_per_request: round3(calls / requests), ms_per_call: round3(execMs / calls) });
      }
    }
    return rows.sort((a, b) => b.ms_per_request - a.ms_per_request).slice(0, top);
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.clients.map(({ client }) => client.end()));
  }
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
