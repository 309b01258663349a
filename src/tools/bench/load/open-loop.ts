import { LatencyHistogram } from '../histogram.ts';
import { HttpConnection } from './http-connection.ts';
import { StatsCollector } from './stats.ts';
import type { HttpRequestSpec, LoadJob, LoadResult } from './types.ts';

/**
 * The paced open-loop generator. Requests are scheduled at an even rate (request i at
 * t0 + i/rate), not in per-second bursts as autocannon's -R does (DESIGN §5 saw p99
 * 161 ms on a route that answers in 1 ms because of those bursts). Each request goes to
 * the connection idle the longest, so all N keep-alive connections take turns; when
 * none is idle the request waits in a queue, and its latency still counts from its
 * scheduled time, so a slow server cannot hide behind the generator (coordinated
 * omission).
 */
const CONNECT_BATCH = 200;
const CONNECT_BATCH_PAUSE_MS = 20;

interface Scheduled { readonly at: number; readonly req: HttpRequestSpec }

/**
 * Clients kept open from one run to the next (LoadJob.keepConnections): a warm-up hands its
 * connections to the measured run that follows, as the clients of the scenario being measured
 * stay connected. Reconnecting all 10,000 between the two put their connects, each client's
 * first request (a new connection to the instance under HAProxy's `http-reuse safe`) and the
 * collection of the old sockets into the first seconds of the measured run, where most of its
 * refusals were (docs/PERFORMANCE.md, "Clients that stay connected").
 */
let kept: { readonly key: string; readonly conns: readonly HttpConnection[] } | undefined;

/** The kept clients of `key` that are still usable; any others kept are closed. */
function takeKept(key: string): HttpConnection[] {
  const previous = kept;
  kept = undefined;
  if (!previous) return [];
  const usable = previous.key === key ? previous.conns.filter((c) => !c.closed && !c.busy) : [];
  for (const c of previous.conns) if (!usable.includes(c)) c.close();
  return usable;
}

export async function runOpenLoop(job: LoadJob, next: () => HttpRequestSpec): Promise<LoadResult> {
  const rate = job.rate ?? 0;
  if (rate <= 0) throw new Error('open-loop runs need --rate > 0');
  const stats = new StatsCollector();
  const serviceTime = new LatencyHistogram();
  const generatorLag = new LatencyHistogram();
  const idle: HttpConnection[] = [];
  let open = 0;
  let peakOpen = 0;

  const key = `${job.host}:${job.port}:${job.connections}`;
  const conns: HttpConnection[] = takeKept(key);
  for (const conn of conns) idle.push(conn);
  open = peakOpen = conns.length;
  // Open the rest in batches: a burst of 10k SYNs would overflow the listen backlog.
  for (let i = conns.length; i < job.connections; i += CONNECT_BATCH) {
    const batch: HttpConnection[] = [];
    for (let j = i; j < Math.min(job.connections, i + CONNECT_BATCH); j++) batch.push(new HttpConnection(job.host, job.port));
    const settled = await Promise.allSettled(batch.map((c) => c.connect()));
    settled.forEach((s, k) => {
      const c = batch[k];
      if (!c) return;
      if (s.status === 'fulfilled') { conns.push(c); idle.push(c); open++; } else stats.socketError(s.reason);
    });
    peakOpen = Math.max(peakOpen, open);
    await new Promise((r) => setTimeout(r, CONNECT_BATCH_PAUSE_MS));
  }

  // A dead connection (error, timeout, server closed it) is replaced so the client count
  // stays what was asked for.
  const replace = (): void => {
    open--;
    const fresh = new HttpConnection(job.host, job.port);
    conns.push(fresh);
    fresh.connect().then(() => { open++; peakOpen = Math.max(peakOpen, open); idle.push(fresh); }, (e: unknown) => stats.socketError(e));
  };

  const queue: Scheduled[] = [];
  let inFlight = 0;
  const started = performance.now();
  const endAt = started + job.durationMs;
  let scheduled = 0;
  const total = Math.ceil((job.durationMs / 1000) * rate);

  const dispatch = (): void => {
    while (queue.length > 0) {
      const conn = idle.shift();
      if (!conn) return;
      if (conn.closed) { replace(); continue; }
      const item = queue.shift();
      if (!item) { idle.unshift(conn); return; }
      inFlight++;
      const sentAt = performance.now();
      const timer = setTimeout(() => conn.abort(new Error(`request timeout after ${job.timeoutMs} ms`)), job.timeoutMs);
      conn.send(item.req).then(
        (res) => {
          const now = performance.now();
          stats.response(item.req.op, res.status, now - item.at);
          serviceTime.record(now - sentAt);
          idle.push(conn);
        },
        (err: unknown) => {
          stats.socketError(err, item.req.op, performance.now() - item.at);
          replace();
        },
      ).finally(() => { clearTimeout(timer); inFlight--; });
    }
  };

  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      // Request i is due at started + i/rate, so at `now` the first floor(elapsed × rate) + 1
      // are (request 0 at once). Without the + 1 each request waited one interval past its
      // time, and the generator's lag read 1/rate too high: 20 ms at 50 req/s.
      // At the end every request of the run is due. Computing that from (endAt - started)
      // instead can land just below the whole number in floating point (399.9999 → 399).
      const due = now >= endAt ? total : Math.min(Math.floor(((now - started) / 1000) * rate) + 1, total);
      while (scheduled < due) {
        // Timers fire about every millisecond, finer than 1/rate: a request is due from
        // the tick that enqueues it. Waiting after that (no idle connection) counts.
        const at = started + (scheduled / rate) * 1000;
        generatorLag.record(now - at);
        queue.push({ at: Math.max(at, now), req: next() });
        scheduled++;
      }
      dispatch();
      if (now >= endAt) { resolve(); return; }
      setTimeout(tick, 1);
    };
    tick();
  });

  // Let in-flight and queued requests finish (bounded by the request timeout).
  const drainUntil = performance.now() + job.timeoutMs;
  while ((inFlight > 0 || queue.length > 0) && performance.now() < drainUntil) {
    dispatch();
    await new Promise((r) => setTimeout(r, 5));
  }
  const unsent = queue.length;
  if (job.keepConnections) {
    kept = { key, conns: conns.filter((c) => !c.closed && !c.busy) };
    for (const c of conns) if (c.busy) c.close();
  } else {
    for (const c of conns) c.close();
  }
  return stats.result({
    mode: 'open',
    engine: `paced open loop (${rate} req/s evenly spaced over ${job.connections} keep-alive connections; latency from the tick that makes each request due)`,
    elapsedMs: performance.now() - started,
    unsent,
    peakOpenConnections: peakOpen,
    serviceP99Ms: serviceTime.percentile(99),
    generatorLagP99Ms: generatorLag.percentile(99),
  });
}
