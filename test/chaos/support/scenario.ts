import type { PrivateStack } from '../../helpers/private-stack.ts';
import { ConnectionSampler, sleep, stackNodes, waitFor, type ChaosApp } from './env.ts';
import { isFailure, startLoad, tally, type Sample, type Step, type Tally } from './load.ts';

/**
 * One fault-injection scenario under load, with a fixed timeline:
 *
 *   load starts ─ warm-up ─▶ inject() ─ hold ─▶ heal() ─▶ recovered()? ─ after ─▶ load stops
 *
 * `recovered` is polled (bounded) from the moment heal() has finished (the fault is over:
 * node restarted, slow queries done); the time it takes is the recovery time. Requests that START after recovery must all succeed: that is the
 * "automatic recovery, without restarting the app" check. Everything is bounded: the
 * load has a hard deadline, each wait a timeout.
 */
export interface ScenarioOptions {
  readonly name: string;
  readonly ps: PrivateStack;
  readonly app: ChaosApp;
  readonly step: Step;
  readonly workers?: number;
  readonly warmMs?: number;
  readonly holdMs: number;
  readonly afterMs?: number;
  readonly recoveryTimeoutMs?: number;
  inject(): Promise<void>;
  heal(): Promise<void>;
  recovered(): Promise<boolean>;
}

export interface ScenarioResult {
  readonly name: string;
  readonly all: Tally;
  /** Requests started between inject() and recovery. */
  readonly duringFault: Tally;
  /** Requests started after recovery. */
  readonly afterRecovery: Tally;
  readonly samples: readonly Sample[];
  readonly faultSamples: readonly Sample[];
  readonly afterSamples: readonly Sample[];
  readonly beforeSamples: readonly Sample[];
  readonly recoveryMs: number;
  readonly peakConnections: Record<string, number>;
  readonly healthzAfter: number;
}

/** Requests that must start after recovery before a scenario ends (the tests assert on them). */
const AFTER_RECOVERY_MIN = 40;

export async function runScenario(o: ScenarioOptions): Promise<ScenarioResult> {
  const sampler = new ConnectionSampler(stackNodes(o.ps));
  sampler.start();
  const load = startLoad({ baseUrl: o.app.baseUrl, workers: o.workers ?? 8, maxMs: 90_000, step: o.step });
  let tInject = 0;
  let tRecovered = 0;
  let recoveryMs: number;
  try {
    await sleep(o.warmMs ?? 1_500);
    tInject = Date.now();
    await o.inject();
    await sleep(o.holdMs);
    await o.heal();
    // Recovery is counted from the end of the fault (the node restarted, the slow queries
    // finished), not from the start of heal(), which may itself wait for that.
    const tHeal = Date.now();
    await waitFor(`${o.name}: recovery`, o.recovered, o.recoveryTimeoutMs ?? 30_000).catch((err: unknown) => {
      const db = o.app.rt.deps.db;
      throw new Error(`${err instanceof Error ? err.message : String(err)}; pools ${JSON.stringify(db.poolStats())}; router ${JSON.stringify(db.router.snapshot())}`);
    });
    tRecovered = Date.now();
    recoveryMs = tRecovered - tHeal;
    await sleep(o.afterMs ?? 1_500);
    // On a loaded machine 1.5 s may hold few requests: keep the load on until enough requests
    // started after recovery to judge it (bounded: at most 10 s more).
    const extraUntil = Date.now() + 10_000;
    while (load.samples.filter((s) => s.at >= tRecovered).length < AFTER_RECOVERY_MIN && Date.now() < extraUntil) await sleep(100);
  } finally {
    await load.stop();
    await sampler.stop();
  }
  const healthz = await fetch(`${o.app.baseUrl}/healthz`).then((r) => r.status, () => 0);
  const samples = load.samples;
  const faultSamples = samples.filter((s) => s.at >= tInject && s.at < tRecovered);
  const afterSamples = samples.filter((s) => s.at >= tRecovered);
  const result: ScenarioResult = {
    name: o.name,
    all: tally(samples),
    duringFault: tally(faultSamples),
    afterRecovery: tally(afterSamples),
    samples,
    faultSamples,
    afterSamples,
    beforeSamples: samples.filter((s) => s.at < tInject),
    recoveryMs,
    peakConnections: { ...sampler.peak },
    healthzAfter: healthz,
  };
  printOutcome(result);
  // Diagnostics: the app's own account of its 5xx (error handler log lines), if any.
  const errors = o.app.logs.filter((l) => l.includes('"request failed"')).map(summariseLogLine);
  if (errors.length > 0) console.log(`[chaos] ${o.name}: ${errors.length} 5xx logged by the app, e.g. ${[...new Set(errors)].slice(0, 3).join(' | ')}`);
  o.app.logs.length = 0;
  return result;
}

/** The one-line outcome every scenario prints (requests made, errors, recovery time). */
export function printOutcome(r: ScenarioResult): void {
  const a = r.all;
  const failedByCode: Record<string, number> = {};
  for (const s of r.samples.filter(isFailure)) {
    const key = s.problem ? 'stale' : `${s.status}${s.code ? ` ${s.code}` : ''}`;
    failedByCode[key] = (failedByCode[key] ?? 0) + 1;
  }
  console.log(`[chaos] ${r.name}: requests=${a.requests} (reads ${a.reads}, writes ${a.writes}); ` +
    `during fault ${r.duringFault.requests}; failed reads=${a.failedReads}, failed writes=${a.failedWrites} ${JSON.stringify(failedByCode)}; ` +
    `p50 ms before/during/after=${p50(r.beforeSamples)}/${p50(r.faultSamples)}/${p50(r.afterSamples)}; ` +
    `recovery_ms=${r.recoveryMs}; after recovery ${r.afterRecovery.requests} requests, ${r.afterRecovery.failedReads + r.afterRecovery.failedWrites} failed; ` +
    `peak app connections per node=${JSON.stringify(r.peakConnections)}; healthz=${r.healthzAfter}`);
}

/** Every failure is a 503 carrying Retry-After (the design's answer when the database cannot serve). */
export function failuresAre503WithRetryAfter(samples: readonly Sample[]): boolean {
  return samples.filter(isFailure).every((s) => s.status === 503 && s.retryAfter !== undefined && s.code !== undefined);
}

/** "code: message (first app frame)" of one pino error line. */
function summariseLogLine(line: string): string {
  try {
    const j = JSON.parse(line) as { code?: string; err?: { message?: string; stack?: string } };
    const frame = j.err?.stack?.split('\n').find((l) => l.includes('/src/') && !l.includes('/src/db/'))?.trim() ?? '';
    return `${j.code ?? '?'}: ${j.err?.message ?? '?'} ${frame}`;
  } catch {
    return line.slice(0, 300);
  }
}

function p50(samples: readonly Sample[]): number {
  const ms = samples.filter((s) => !s.problem).map((s) => s.ms).sort((a, b) => a - b);
  return ms.length === 0 ? 0 : ms[Math.floor(ms.length / 2)] ?? 0;
}
