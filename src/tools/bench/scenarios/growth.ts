import type { Config } from '../../../config/index.ts';
import { ensureBenchDatabase, waitForReplicas } from '../bench-db.ts';
import type { Check, ScenarioResult } from '../bench-report.ts';
import { runConfiguration } from '../configuration-run.ts';
import { LSN_TTL_MS } from '../../../db/lsn-store.ts';
import type { BenchOptions } from '../options.ts';
import { ratio } from '../ratios.ts';
import type { WorkloadMeasure } from '../report-types.ts';

/**
 * The growth scenario of DESIGN §6: the same workloads on the optimized configuration
 * at 1M messages (medium) and at 10M (large); inbox, history and feed p50 at 10M must
 * stay within 1.25× of their p50 at 1M. Each preset lives in its own bench database.
 */
export const GROWTH_LIMIT = 1.25;

export async function runGrowth(config: Config, opts: BenchOptions, runId: string, progress: (m: string) => void): Promise<{ scenario: ScenarioResult; checks: Check[] }> {
  const [small, big] = opts.growthPresets;
  const byPreset: Record<string, Record<string, WorkloadMeasure>> = {};
  for (const preset of [small, big]) {
    const bench = await ensureBenchDatabase(config, preset, progress);
    await waitForReplicas(bench.urls.primaryUrl, bench.urls.replicaUrls, 10 * 60_000);
    const spec = { mode: opts.rate ? 'open' as const : 'closed' as const, connections: opts.connections, rate: opts.rate, warmupMs: opts.warmupMs, durationMs: opts.durationMs, timeoutMs: opts.timeoutMs };
    const out = await runConfiguration({
      configuration: 'optimized', urls: bench.urls, redisUrl: config.redis.url, runId: `${runId}-${preset}`,
      workloads: opts.workloads, spec, login: opts.login, settleAfterLoginMs: LSN_TTL_MS + 1_000, progress,
    });
    byPreset[preset] = { ...out.run.workloads };
  }
  const ratios: Record<string, { p50: number | null; p99: number | null; rps: number | null }> = {};
  const checks: Check[] = [];
  for (const w of opts.workloads) {
    const a = byPreset[small]?.[w];
    const b = byPreset[big]?.[w];
    if (!a || !b) continue;
    ratios[w] = { p50: ratio(b.p50_ms, a.p50_ms), p99: ratio(b.p99_ms, a.p99_ms), rps: ratio(b.rps, a.rps) };
    if (['inbox', 'history', 'feed'].includes(w)) {
      const r = ratios[w]?.p50 ?? null;
      checks.push({ name: `growth: ${w} p50 at ${big} ≤ ${GROWTH_LIMIT}× ${small}`, ok: r !== null && r <= GROWTH_LIMIT, detail: `${b.p50_ms} ms vs ${a.p50_ms} ms = ${r ?? '-'}×` });
    }
  }
  const errors = Object.values(byPreset).flatMap((ws) => Object.values(ws)).reduce((s, m) => s + m.errors, 0);
  checks.push({ name: 'growth: zero request errors', ok: errors === 0, detail: `${errors} errors` });
  return {
    scenario: {
      summary: `Optimized configuration at ${small} and ${big}; ratios are ${big} / ${small} (p50 target ≤ ${GROWTH_LIMIT}× for inbox, history, feed).`,
      workloads: byPreset,
      figures: { ratios },
    },
    checks,
  };
}
