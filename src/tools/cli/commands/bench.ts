import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../../config/index.ts';
import type { Preset } from '../../bench/bench-db.ts';
import type { BenchOptions, Scenario } from '../../bench/options.ts';
import { printReport } from '../../bench/report.ts';
import { runBench } from '../../bench/run-bench.ts';
import { CONCURRENCY_DEFAULTS } from '../../bench/scenarios/concurrency.ts';
import { OVERLOAD_DEFAULTS } from '../../bench/scenarios/overload.ts';
import { REALTIME_DEFAULTS } from '../../bench/scenarios/realtime.ts';
import { API_WORKLOADS, FEATURE_WORKLOADS, WRITE_WORKLOADS, type WorkloadName } from '../../bench/workloads/catalog.ts';
import { CliError, progressLine } from '../output.ts';

interface BenchCliOptions {
  workload: string; duration?: string; warmup?: string; connections?: string; rate?: string; preset?: string;
  baseline?: boolean; floor?: boolean; latencyMs?: string; pgbouncer?: boolean; haproxy?: boolean; instances?: string; json?: string; quick?: boolean; scenario?: string;
  loginUsers?: string; loginSeconds?: string; timeoutMs?: string; cpuProf?: string; serverEnv?: string;
  sockets?: string; sendRate?: string; senders?: string;
}

/** Each instance opens its own pools (10 + 20 per node), so a few are what 400 server connections allow. */
const MAX_BENCH_INSTANCES = 8;
const PRESETS: readonly Preset[] = ['small', 'medium', 'large'];
const SCENARIOS: readonly Scenario[] = ['growth', 'concurrency', 'latency', 'realtime', 'overload'];
const WORKLOADS: readonly string[] = [...API_WORKLOADS, ...WRITE_WORKLOADS, ...FEATURE_WORKLOADS, 'healthz'];

function positive(name: string, raw: string | undefined, fallback: number, opts: { integer?: boolean; max?: number } = {}): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0 || (opts.integer && !Number.isInteger(v)) || (opts.max !== undefined && v > opts.max)) {
    throw new CliError('BENCH_INVALID_OPTION', `--${name} must be a positive ${opts.integer ? 'integer' : 'number'}${opts.max ? ` ≤ ${opts.max}` : ''}, got "${raw}"`, 2);
  }
  return v;
}

/**
 * `--server-env A=1,B=2`: settings for the server under test, to compare one setting's
 * values in otherwise identical runs. Only BGC_* names: the bench owns the endpoints,
 * ports and tokens, and a typo must not pass silently.
 */
export function parseServerEnv(raw: string | undefined): Record<string, string> | undefined {
  if (raw === undefined) return undefined;
  const env: Record<string, string> = {};
  for (const pair of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = pair.indexOf('=');
    const name = eq > 0 ? pair.slice(0, eq) : '';
    if (!/^BGC_[A-Z0-9_]+$/.test(name)) throw new CliError('BENCH_INVALID_OPTION', `--server-env takes NAME=value pairs with BGC_* names, got "${pair}"`, 2);
    env[name] = pair.slice(eq + 1);
  }
  return env;
}

function parseWorkloads(raw: string, fallback: readonly WorkloadName[]): WorkloadName[] {
  if (raw === 'all' || raw === '') return [...fallback];
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = list.filter((w) => !WORKLOADS.includes(w));
  if (bad.length > 0) throw new CliError('BENCH_INVALID_OPTION', `unknown workload(s) ${bad.join(', ')}; use ${[...WORKLOADS, 'all'].join('|')}`, 2);
  return list as WorkloadName[];
}

/** `--instances N`: servers behind the fleet's HAProxy, so only with --haproxy. */
function instancesBehindProxy(o: BenchCliOptions): number {
  const n = positive('instances', o.instances, 1, { integer: true, max: MAX_BENCH_INSTANCES });
  if (n > 1 && !o.haproxy) throw new CliError('BENCH_INVALID_OPTION', '--instances needs --haproxy: the instances are the fleet behind it', 2);
  return n;
}

/** Turns flags into a resolved plan: --quick and --scenario fill their own defaults, explicit flags win. */
export function resolveOptions(o: BenchCliOptions, command: string): BenchOptions {
  if (o.preset !== undefined && !PRESETS.includes(o.preset as Preset)) throw new CliError('BENCH_INVALID_OPTION', `--preset must be one of ${PRESETS.join('|')}`, 2);
  if (o.scenario !== undefined && !SCENARIOS.includes(o.scenario as Scenario)) throw new CliError('BENCH_INVALID_OPTION', `--scenario must be one of ${SCENARIOS.join('|')}`, 2);
  const scenario = o.scenario as Scenario | undefined;
  const quick = o.quick ?? false;
  if (quick && scenario) throw new CliError('BENCH_INVALID_OPTION', '--quick and --scenario do not combine', 2);
  const concurrency = scenario === 'concurrency';
  // The overload scenario sets its own rate (4× the capacity it measures first).
  const overload = scenario === 'overload';
  if (overload && o.rate !== undefined) throw new CliError('BENCH_INVALID_OPTION', '--scenario overload measures capacity and offers 4× it: no --rate', 2);
  const workloadDefault: readonly WorkloadName[] = concurrency || overload ? ['mixed'] : scenario === 'growth' ? ['inbox', 'history', 'feed'] : API_WORKLOADS;
  const rateRaw = o.rate ?? (concurrency ? String(CONCURRENCY_DEFAULTS.rate) : undefined);
  return {
    command,
    workloads: parseWorkloads(o.workload, workloadDefault),
    preset: (o.preset as Preset | undefined) ?? (quick ? 'small' : 'medium'),
    durationMs: positive('duration', o.duration, quick ? 2 : concurrency ? 30 : overload ? OVERLOAD_DEFAULTS.durationS : 20) * 1000,
    warmupMs: (o.warmup === '0' ? 0 : positive('warmup', o.warmup, quick ? 0.5 : overload ? OVERLOAD_DEFAULTS.warmupS : 5)) * 1000,
    connections: positive('connections', o.connections, concurrency ? CONCURRENCY_DEFAULTS.connections : overload ? OVERLOAD_DEFAULTS.connections : 10, { integer: true, max: 19_000 }),
    rate: rateRaw === undefined ? undefined : positive('rate', rateRaw, 0),
    baseline: quick || (o.baseline ?? false),
    floor: quick || (o.floor ?? false),
    latencyMs: o.latencyMs !== undefined ? positive('latency-ms', o.latencyMs, 0, { max: 1_000 }) : scenario === 'latency' ? 25 : undefined,
    pgbouncer: o.pgbouncer ?? false,
    haproxy: o.haproxy ?? false,
    instances: instancesBehindProxy(o),
    cpuProfDir: o.cpuProf !== undefined ? path.resolve(o.cpuProf) : undefined,
    serverEnv: parseServerEnv(o.serverEnv),
    quick,
    scenario,
    growthPresets: ['medium', 'large'],
    timeoutMs: positive('timeout-ms', o.timeoutMs, 10_000, { integer: true }),
    login: {
      maxActors: positive('login-users', o.loginUsers, quick ? 200 : overload ? OVERLOAD_DEFAULTS.loginUsers : 1_000, { integer: true }),
      budgetMs: positive('login-seconds', o.loginSeconds, quick ? 6 : overload ? OVERLOAD_DEFAULTS.loginSeconds : 30) * 1000,
    },
    floorDurationMs: quick ? 2_000 : 10_000,
    ...(scenario === 'realtime' ? {
      realtime: {
        sockets: positive('sockets', o.sockets, REALTIME_DEFAULTS.sockets, { integer: true, max: 60_000 }),
        sendRate: positive('send-rate', o.sendRate, REALTIME_DEFAULTS.sendRate),
        senderFraction: positive('senders', o.senders, REALTIME_DEFAULTS.senderFraction, { max: 1 }),
      },
    } : {}),
  };
}

export function register(program: Command): void {
  program.command('bench')
    .description('Benchmark the API over HTTP with realistic workloads, against the naive baseline and the floor (DESIGN §5)')
    .option('--workload <name>', `${[...WORKLOADS, 'all'].join('|')} (comma-separated list allowed)`, 'all')
    .option('--duration <s>', 'measured seconds per workload (default 20; quick 2)')
    .option('--warmup <s>', 'unmeasured warm-up seconds before each workload (default 5; quick 0.5)')
    .option('--connections <n>', 'HTTP connections (default 10; concurrency and overload scenarios 10000)')
    .option('--rate <n>', 'total req/s, paced evenly (open loop); without it the run is closed loop')
    .option('--preset <name>', 'dataset: small|medium|large (default medium; quick small)')
    .option('--baseline', 'also run the naive "before phase 1" configuration and print ratios')
    .option('--floor', 'also measure the floor: trivial route, Redis GET, SELECT 1, durable one-row commit (send is read against it)')
    .option('--pgbouncer', 'the server reaches PostgreSQL through PgBouncer (transaction pooling, one per node; not with --baseline)')
    .option('--haproxy', 'the load reaches the server through the fleet\'s HAProxy (`stack up --instances` config, its admission included); the baseline stays direct')
    .option('--instances <n>', 'with --haproxy: that many servers behind it, the fleet\'s instances (default 1; at most 8)')
    .option('--latency-ms <n>', 'add N ms each way between the app and PostgreSQL/Redis (TCP proxy) and count round trips')
    .option('--scenario <name>', 'growth (medium vs large) | concurrency (10k clients at 2k req/s) | latency (25 ms each way) | realtime (10k WebSockets, 200 sends/s) | overload (closed-loop capacity, then 4× it open loop over 10k clients: goodput, 2xx p99, refusal time)')
    .option('--sockets <n>', 'realtime scenario: connected users on the one instance (default 10000; raise ulimit -n first)')
    .option('--send-rate <n>', 'realtime scenario: direct messages per second through the REST API, paced (default 200)')
    .option('--senders <fraction>', 'realtime scenario: share of the users that send (default 0.1)')
    .option('--quick', 'small preset, every workload briefly, with baseline and floor; fails on any error or if slower than the baseline')
    .option('--login-users <n>', 'most active seeded users to log in (default 1000; quick 200)')
    .option('--login-seconds <s>', 'time budget for the logins (default 30; quick 6)')
    .option('--timeout-ms <n>', 'per-request timeout; slower requests count as errors (default 10000)')
    .option('--json <file>', 'also write the full report as JSON to this file')
    .option('--server-env <pairs>', 'settings for the server under test, NAME=value[,NAME=value] with BGC_* names (compare one setting in otherwise identical runs)')
    .option('--cpu-prof <dir>', 'run each server under test with node --cpu-prof, writing its profile into this folder when it stops (where the API\'s CPU goes)')
    .action(async (raw: BenchCliOptions) => {
      const opts = resolveOptions(raw, `bgc bench ${process.argv.slice(3).join(' ')}`.trim());
      const config = loadConfig();
      const report = await runBench(config, opts, progressLine);
      printReport(report);
      if (raw.json) {
        const file = path.resolve(raw.json);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
        progressLine(`report written to ${file}`);
      }
      const failed = report.checks.filter((c) => !c.ok);
      if (failed.length > 0) throw new CliError('BENCH_CHECK_FAILED', `${failed.length} check(s) failed: ${failed.map((c) => `${c.name} (${c.detail})`).join('; ')}`);
    });
}
