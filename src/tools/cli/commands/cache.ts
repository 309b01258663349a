import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import pino from 'pino';
import { loadConfig, type Config } from '../../../config/index.ts';
import { Database } from '../../../db/database.ts';
import { CacheLayer } from '../../../cache/cache-layer.ts';
import { cacheStats, type CacheStatsReport } from '../../../cache/stats.ts';
import { RelationshipSetLoader } from '../../../cache/relationship-set-loader.ts';
import { RelationshipSetRepository } from '../../../cache/relationship-sets.repository.ts';
import { warmProfiles, warmRelationshipSets, type SetWarmReport, type WarmProgress } from '../../../cache/warm.ts';
import { WarmRepository } from '../../../cache/warm.repository.ts';
import { ProfileRepository } from '../../../repositories/profiles.repository.ts';
import { DbProfileReader } from '../../../services/profiles/profile-reader.ts';
import { CliError, printJson, printTable, progressLine } from '../output.ts';

/**
 * `bgc cache warm` loads the start-up warm-up's profile views (the most linked-to users, a fifth
 * the most recently active: WarmRepository.profileWarmCandidates), then the relationship
 * sets of the most recently active (every node, 16 siblings per statement), into Redis (each server's
 * L1 then fills from Redis on first use); `bgc cache stats` asks a running
 * server's admin API for hit ratios per tier, and falls back to what Redis alone can
 * tell (memory, key counts) when no server answers.
 */
function positiveInt(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new CliError('CACHE_INVALID_OPTION', `${flag} must be a non-negative integer`, 2);
  return n;
}

function requireCache(config: Config): void {
  if (!config.cache.enabled) throw new CliError('CACHE_DISABLED', 'the cache is disabled (BGC_CACHE_ENABLED=false or BGC_BASELINE=true)');
}

function progressBar(): { update: (p: WarmProgress) => void; stop: () => void } {
  const bar = new cliProgress.SingleBar({
    format: '{bar} {percentage}% | {value}/{total} profiles | {duration_formatted} elapsed',
    stream: process.stderr, hideCursor: true, noTTYOutput: !process.stderr.isTTY, notTTYSchedule: 2_000,
  }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    update: (p) => {
      if (!started) { bar.start(p.total, 0); started = true; }
      bar.update(p.done);
    },
    stop: () => { if (started) bar.stop(); },
  };
}

async function warm(opts: { count?: string; sets?: string; timeoutMs?: string; json?: boolean }): Promise<void> {
  const config = loadConfig();
  requireCache(config);
  const count = positiveInt('--count', opts.count, config.cache.warmCount);
  const setsCount = positiveInt('--sets', opts.sets, config.cache.warmSetsCount);
  const timeoutMs = positiveInt('--timeout-ms', opts.timeoutMs, Math.max(config.cache.warmTimeoutMs, 60_000));
  const logger = pino({ level: 'warn' }, pino.destination(2));
  const db = new Database(config, { applicationName: 'bgc-cache-warm', lazy: true });
  // Listening keeps the warm-up's writes fenced against concurrent invalidations.
  const layer = new CacheLayer(config, { logger, name: 'cli-warm' });
  const bar = progressBar();
  try {
    await db.start();
    await layer.start();
    if (!layer.health.ready) throw new CliError('CACHE_REDIS_UNAVAILABLE', `Redis at ${config.redis.url} is not reachable; nothing to warm`);
    const started = Date.now();
    const repo = new WarmRepository(db);
    const report = await warmProfiles(layer, repo, new DbProfileReader(new ProfileRepository(db)), {
      count, timeoutMs, onProgress: (p) => bar.update(p),
    });
    bar.stop();
    // The sets get what is left of the same time budget, as at start-up (src/cache/wiring.ts).
    const sets: SetWarmReport | undefined = setsCount > 0
      ? await warmRelationshipSets(layer, repo, new RelationshipSetLoader(layer.relationships, new RelationshipSetRepository(db)), {
        count: setsCount, timeoutMs: Math.max(0, started + timeoutMs - Date.now()),
      })
      : undefined;
    if (opts.json) printJson({ ...report, sets });
    else {
      progressLine(`warmed ${report.warmed} of ${report.candidates} profiles in ${report.durationMs} ms (${report.fromDatabase} loaded from PostgreSQL, the rest already in Redis)${report.timedOut ? '; stopped at the time limit' : ''}`);
      if (report.failed > 0) progressLine(`${report.failed} profiles failed to load`);
      if (sets) {
        progressLine(`warmed the relationship sets of ${sets.owners} of ${sets.requested} users in ${sets.durationMs} ms: ${sets.nodes} nodes, ${sets.siblingLoads} sibling loads storing ${sets.siblingsStored}${sets.timedOut ? '; stopped at the time limit' : ''}`);
        if (sets.failed > 0) progressLine(`${sets.failed} users' sets failed to load`);
      }
    }
    if ((report.failed > 0 && report.warmed === 0) || (sets !== undefined && sets.failed > 0 && sets.owners === 0)) process.exitCode = 1;
  } finally {
    bar.stop();
    await layer.close();
    await db.close();
  }
}

async function fromServer(url: string, token: string): Promise<CacheStatsReport | { enabled: false } | undefined> {
  try {
    const res = await fetch(`${url.replace(/\/$/, '')}/admin/api/cache?keys=1`, {
      headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(3_000),
    });
    if (!res.ok) return undefined;
    return (await res.json()) as CacheStatsReport | { enabled: false };
  } catch {
    return undefined;
  }
}

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
const pct = (r: number | null | undefined) => (r === null || r === undefined ? '-' : `${(r * 100).toFixed(1)}%`);

function printStats(s: CacheStatsReport, source: string): void {
  process.stdout.write(`source: ${source}\n`);
  printTable((['profile', 'session', 'relationship'] as const).map((name) => {
    const c = s.caches[name];
    return {
      cache: name, lookups: c.lookups, hit_ratio: pct(c.hitRatio), l1_hit_ratio: pct(c.l1HitRatio),
      l1_hit: c.l1.hit, l1_stale: c.l1.stale, l1_miss: c.l1.miss, l2_hit: c.l2.hit, l2_stale: c.l2.stale, l2_miss: c.l2.miss,
      keys: c.keys ? `${c.keys.count}${c.keys.complete ? '' : '+'}` : '-',
    };
  }));
  const r = s.redis;
  process.stdout.write(`L1: ${mb(s.l1.bytes)} of ${mb(s.l1.maxBytes)} (${pct(s.l1.usedRatio)}), ${s.l1.entries} entries, ${s.l1.evictions} evictions\n`);
  process.stdout.write(r
    ? `Redis: ${mb(r.usedMemory)} of ${r.maxmemory > 0 ? mb(r.maxmemory) : 'no limit'} (${pct(r.usedRatio)}), policy ${r.policy}, ${r.evictedKeys} evicted keys, keyspace hits ${r.keyspaceHits} / misses ${r.keyspaceMisses}\n`
    : 'Redis: not reachable\n');
}

async function stats(opts: { json?: boolean; url?: string }): Promise<void> {
  const config = loadConfig();
  const url = opts.url ?? `http://${config.http.host}:${config.http.adminPort}`;
  const remote = await fromServer(url, config.http.adminToken);
  if (remote && 'caches' in remote) {
    if (opts.json) printJson({ source: 'server', url, ...remote });
    else printStats(remote, `server ${url} (instance ${remote.instance})`);
    return;
  }
  requireCache(config);
  // No server: Redis alone still knows memory and keys; per-tier counters live in servers.
  const layer = new CacheLayer(config, { logger: pino({ level: 'silent' }), listen: false, name: 'cli-stats' });
  try {
    await layer.start();
    if (!layer.health.ready) throw new CliError('CACHE_REDIS_UNAVAILABLE', `no server at ${url} and Redis at ${config.redis.url} is not reachable`);
    const local = await cacheStats(layer, { keyCounts: true });
    if (opts.json) printJson({ source: 'redis', url: null, note: `no server answered at ${url}: hit counters unavailable`, ...local });
    else printStats(local, `Redis only (no server answered at ${url}; hit counters are kept by servers)`);
  } finally {
    await layer.close();
  }
}

export function register(program: Command): void {
  const cmd = program.command('cache').description('The profile and session cache (Redis + in-process): warm it, show its statistics');
  cmd.command('warm')
    .description('Load the most followed and most recently active users\' profile views, then the most recently active users\' relationship sets, into the cache')
    .option('--count <n>', 'how many users\' profiles (default BGC_CACHE_WARM_COUNT)')
    .option('--sets <n>', 'how many users\' relationship sets, 0 for none (default BGC_CACHE_WARM_SETS_COUNT)')
    .option('--timeout-ms <ms>', 'stop after this long (default max(BGC_CACHE_WARM_TIMEOUT_MS, 60000))')
    .option('--json', 'machine-readable report on stdout')
    .action(warm);
  cmd.command('stats')
    .description('Hit ratios per cache and tier, memory used against limits, key counts')
    .option('--url <url>', 'admin base URL of a running server (default http://HOST:ADMIN_PORT)')
    .option('--json', 'machine-readable output')
    .action(stats);
}
