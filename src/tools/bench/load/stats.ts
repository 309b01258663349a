import { LatencyHistogram } from '../histogram.ts';
import type { LoadMode, LoadResult, OpStats } from './types.ts';

/** Tallies responses, statuses, errors and latencies (overall and per operation). */
export class StatsCollector {
  readonly #all = new LatencyHistogram();
  /** Successful answers only, and refusals (503) only: the overload scenario judges each on its own. */
  readonly #ok = new LatencyHistogram();
  readonly #refused = new LatencyHistogram();
  readonly #ops = new Map<string, { count: number; errors: number; hist: LatencyHistogram }>();
  readonly #status: Record<string, number> = {};
  readonly #errors: string[] = [];
  #responses = 0;
  #non2xx = 0;
  #socketErrors = 0;
  #timeouts = 0;

  #op(name: string): { count: number; errors: number; hist: LatencyHistogram } {
    let o = this.#ops.get(name);
    if (!o) { o = { count: 0, errors: 0, hist: new LatencyHistogram() }; this.#ops.set(name, o); }
    return o;
  }

  response(op: string, status: number, latencyMs: number, sample?: () => string): void {
    this.#responses++;
    this.#status[String(status)] = (this.#status[String(status)] ?? 0) + 1;
    this.#all.record(latencyMs);
    if (status >= 200 && status <= 299) this.#ok.record(latencyMs);
    else if (status === 503) this.#refused.record(latencyMs);
    const o = this.#op(op);
    o.count++;
    o.hist.record(latencyMs);
    if (status < 200 || status > 299) {
      this.#non2xx++;
      o.errors++;
      if (this.#errors.length < 10 && sample) this.#errors.push(`${op}: HTTP ${status} ${sample()}`);
      else if (this.#errors.length < 10) this.#errors.push(`${op}: HTTP ${status}`);
    }
  }

  socketError(err: unknown, op?: string, latencyMs?: number): void {
    const message = err instanceof Error ? err.message : String(err);
    if (/time(d)?\s?out/i.test(message)) this.#timeouts++; else this.#socketErrors++;
    if (op !== undefined) {
      const o = this.#op(op);
      o.errors++;
      // A request that failed after waiting still waited: its time counts in the tail.
      if (latencyMs !== undefined) { o.hist.record(latencyMs); this.#all.record(latencyMs); }
    }
    if (this.#errors.length < 10) this.#errors.push(`${op ?? 'connect'}: ${message}`);
  }

  get responses(): number { return this.#responses; }

  result(meta: { mode: LoadMode; engine: string; elapsedMs: number; unsent?: number; peakOpenConnections?: number; serviceP99Ms?: number; generatorLagP99Ms?: number }): LoadResult {
    const perOp: Record<string, OpStats> = {};
    for (const [name, o] of this.#ops) perOp[name] = { count: o.count, errors: o.errors, histogram: o.hist.snapshot() };
    return {
      type: 'result',
      mode: meta.mode,
      engine: meta.engine,
      elapsedMs: meta.elapsedMs,
      responses: this.#responses,
      non2xx: this.#non2xx,
      socketErrors: this.#socketErrors,
      timeouts: this.#timeouts,
      statusCounts: { ...this.#status },
      histogram: this.#all.snapshot(),
      okHistogram: this.#ok.snapshot(),
      refusedHistogram: this.#refused.snapshot(),
      perOp,
      unsent: meta.unsent ?? 0,
      peakOpenConnections: meta.peakOpenConnections ?? 0,
      serviceP99Ms: meta.serviceP99Ms,
      generatorLagP99Ms: meta.generatorLagP99Ms,
      sampleErrors: [...this.#errors],
    };
  }
}
