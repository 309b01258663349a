import type { LoadGenerator } from './load/runner.ts';
import type { RunSpec } from './measure.ts';

/**
 * A paired comparison of the mixed workload: short optimized and baseline segments
 * alternate (A B A B …) against the two servers, which are both up. Whatever else the
 * machine is doing at the moment hits both sides about equally, so the ratio is far
 * steadier than two runs a minute apart on a shared machine. --quick's "not slower than
 * the baseline" check uses it.
 */
export interface PairedResult {
  readonly rounds: ReadonlyArray<{ readonly optimized_rps: number; readonly baseline_rps: number }>;
  readonly optimized_rps: number;
  readonly baseline_rps: number;
  readonly ratio: number | null;
  readonly errors: number;
}

export async function pairedMixed(load: LoadGenerator, ports: { optimized: number; baseline: number }, spec: Pick<RunSpec, 'connections' | 'timeoutMs'>, rounds: number, segmentMs: number): Promise<PairedResult> {
  const out: Array<{ optimized_rps: number; baseline_rps: number }> = [];
  let errors = 0;
  const segment = async (port: number): Promise<number> => {
    const r = await load.run({ workload: 'mixed', mode: 'closed', host: '127.0.0.1', port, connections: spec.connections, timeoutMs: spec.timeoutMs, durationMs: segmentMs });
    errors += r.non2xx + r.socketErrors + r.timeouts;
    return r.responses / (r.elapsedMs / 1000);
  };
  for (let i = 0; i < rounds; i++) {
    // Alternate who goes first so neither side always follows the other's writes.
    if (i % 2 === 0) {
      const o = await segment(ports.optimized);
      const b = await segment(ports.baseline);
      out.push({ optimized_rps: Math.round(o), baseline_rps: Math.round(b) });
    } else {
      const b = await segment(ports.baseline);
      const o = await segment(ports.optimized);
      out.push({ optimized_rps: Math.round(o), baseline_rps: Math.round(b) });
    }
  }
  const opt = out.reduce((s, r) => s + r.optimized_rps, 0) / Math.max(1, out.length);
  const base = out.reduce((s, r) => s + r.baseline_rps, 0) / Math.max(1, out.length);
  return { rounds: out, optimized_rps: Math.round(opt), baseline_rps: Math.round(base), ratio: base > 0 ? Math.round((opt / base) * 1000) / 1000 : null, errors };
}
