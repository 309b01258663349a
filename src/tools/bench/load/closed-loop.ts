import { HttpConnection } from './http-connection.ts';
import { StatsCollector } from './stats.ts';
import type { HttpRequestSpec, LoadJob, LoadResult } from './types.ts';

/** How often in-flight requests are checked against the timeout: one timer for all, not one per request. */
const TIMEOUT_SWEEP_MS = 100;

interface Client {
  conn: HttpConnection;
  /** When its request in flight was sent (performance.now()), or undefined when idle. */
  sentAt: number | undefined;
}

/**
 * Closed-loop load on the generator's own keep-alive connections (http-connection.ts, as the
 * open loop uses): N clients, each sending its next request as soon as the previous one
 * answered, for a fixed time. Measures capacity (req/s) and the latency at that capacity.
 * The generator shares the machine's cores with the server it measures, so what it spends per
 * request is taken from the server: autocannon built and parsed each request through general
 * machinery (docs/PERFORMANCE.md, "A leaner closed loop": 28% less CPU per request).
 */
export async function runClosedLoop(job: LoadJob, next: () => HttpRequestSpec): Promise<LoadResult> {
  const stats = new StatsCollector();
  const clients: Client[] = [];
  const opened = await Promise.allSettled(Array.from({ length: job.connections }, async () => {
    const conn = new HttpConnection(job.host, job.port);
    await conn.connect();
    return conn;
  }));
  for (const o of opened) {
    if (o.status === 'fulfilled') clients.push({ conn: o.value, sentAt: undefined });
    else stats.socketError(o.reason);
  }
  const started = performance.now();
  const endAt = started + job.durationMs;
  // A request past the timeout fails its connection (the loop then opens a new one).
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const c of clients) {
      if (c.sentAt !== undefined && now - c.sentAt > job.timeoutMs) c.conn.abort(new Error(`request timeout after ${job.timeoutMs} ms`));
    }
  }, TIMEOUT_SWEEP_MS);
  let lastAnswerAt = started;

  const loop = async (client: Client): Promise<void> => {
    while (performance.now() < endAt) {
      if (client.conn.closed) {
        const fresh = new HttpConnection(job.host, job.port);
        try {
          await fresh.connect();
        } catch (err) {
          stats.socketError(err);
          // A refused connect fails at once: wait before the next try, so a server that is down
          // is not hammered by a tight loop.
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        client.conn = fresh;
      }
      const req = next();
      const sentAt = performance.now();
      client.sentAt = sentAt;
      try {
        const res = await client.conn.send(req);
        lastAnswerAt = performance.now();
        stats.response(req.op, res.status, lastAnswerAt - sentAt, res.errorBody === undefined ? undefined : () => res.errorBody ?? '');
      } catch (err) {
        stats.socketError(err, req.op, performance.now() - sentAt);
      } finally {
        client.sentAt = undefined;
      }
    }
  };
  try {
    await Promise.all(clients.map(loop));
  } finally {
    clearInterval(sweep);
    for (const c of clients) c.conn.close();
  }
  return stats.result({
    mode: 'closed',
    engine: `${job.connections} keep-alive connections, closed loop (each sends when its previous request answered)`,
    elapsedMs: Math.max(lastAnswerAt, endAt) - started,
  });
}
