import { LatencyHistogram } from '../histogram.ts';
import { sleep } from '../processes.ts';

export interface SendResult {
  readonly attempted: number;
  readonly ok: number;
  readonly errors: number;
  readonly lastError: string;
  /** Ids the API confirmed (201), by conversation. */
  readonly confirmed: ReadonlyMap<string, readonly string[]>;
  readonly httpLatency: LatencyHistogram;
  /** How late sends started behind their schedule, p99 (the generator keeping up). */
  readonly lagP99Ms: number;
}

/**
 * Sends direct messages through POST /api/chat/conversations/:id/messages at `rate` per
 * second, paced evenly (each send is due at start + k/rate, not in bursts), for
 * `durationMs`. `pick` chooses the sender and conversation of each send.
 */
export async function paceSends(opts: {
  baseUrl: string; rate: number; durationMs: number; timeoutMs: number;
  pick: (k: number) => { token: string; conversationId: string };
}): Promise<SendResult> {
  const confirmed = new Map<string, string[]>();
  const httpLatency = new LatencyHistogram();
  const lag = new LatencyHistogram();
  let ok = 0;
  let errors = 0;
  let lastError = '';
  const inflight = new Set<Promise<void>>();
  const start = performance.now();
  const total = Math.floor((opts.durationMs / 1000) * opts.rate);
  for (let k = 0; k < total; k++) {
    const due = start + (k * 1000) / opts.rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    lag.record(Math.max(0, performance.now() - due));
    const { token, conversationId } = opts.pick(k);
    const t0 = performance.now();
    const p = fetch(`${opts.baseUrl}/api/chat/conversations/${conversationId}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ content: `realtime bench ${k}` }),
      signal: AbortSignal.timeout(opts.timeoutMs),
    }).then(async (res) => {
      const body = (await res.json()) as { id?: string };
      httpLatency.record(performance.now() - t0);
      if (res.status === 201 && typeof body.id === 'string') {
        ok++;
        confirmed.set(conversationId, [...(confirmed.get(conversationId) ?? []), body.id]);
      } else {
        errors++;
        lastError = `HTTP ${res.status} ${JSON.stringify(body).slice(0, 200)}`;
      }
    }).catch((err: unknown) => {
      errors++;
      lastError = err instanceof Error ? err.message : String(err);
    });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  }
  await Promise.all(inflight);
  return { attempted: total, ok, errors, lastError, confirmed, httpLatency, lagP99Ms: lag.percentile(99) };
}
