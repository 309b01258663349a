import autocannon from 'autocannon';
import { StatsCollector } from './stats.ts';
import type { HttpRequestSpec, LoadJob, LoadResult } from './types.ts';

/**
 * Closed-loop load with autocannon's programmatic API: N connections, each sending its
 * next request as soon as the previous one answered, for a fixed time. This measures
 * capacity (req/s) and the latency seen at that capacity. Each request is drawn from the
 * workload by `setupRequest`; latencies are recorded in our own histogram (autocannon's
 * result has no p95) and tagged with the operation through the per-client context.
 */
interface OpContext { op?: string; errorBody?: string }

interface TrackedClient { requestIterator?: { context?: OpContext } }

export async function runClosedLoop(job: LoadJob, next: () => HttpRequestSpec): Promise<LoadResult> {
  const stats = new StatsCollector();
  const started = performance.now();
  let finish: (err: unknown) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => { finish = (err) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()); });
  const instance = autocannon({
    url: `http://${job.host}:${job.port}`,
    connections: job.connections,
    duration: job.durationMs / 1000,
    timeout: Math.max(1, Math.ceil(job.timeoutMs / 1000)),
    pipelining: 1,
    requests: [{
      setupRequest: (req: autocannon.Request, context: OpContext) => {
        const spec = next();
        context.op = spec.op;
        const headers: Record<string, string> = { ...spec.headers };
        return { ...req, method: spec.method, path: spec.path, headers, body: spec.body ?? '' } as autocannon.Request;
      },
      // Keep the body of a failed response (its error code says why), for the report's samples.
      onResponse: (status: number, body: string, context: OpContext) => {
        context.errorBody = status >= 300 ? body.slice(0, 160) : undefined;
      },
    }],
  }, (err: unknown) => finish(err));
  // 'response' fires before the client builds its next request, so the context still
  // names the operation that just completed.
  instance.on('response', (client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    const context = (client as TrackedClient).requestIterator?.context;
    stats.response(context?.op ?? 'unknown', statusCode, responseTime, () => context?.errorBody ?? '');
  });
  instance.on('reqError', (err: Error) => stats.socketError(err));
  // Timeouts arrive as 'reqError' ("request timed out") and are tallied there.
  await done;
  return stats.result({
    mode: 'closed',
    engine: `autocannon ${job.connections} connections, closed loop (each connection sends when its previous request answered)`,
    elapsedMs: performance.now() - started,
  });
}
