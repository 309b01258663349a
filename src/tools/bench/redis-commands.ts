import { Redis } from 'ioredis';

/**
 * Redis commands per request (issue 15, "know where every core goes"): `INFO commandstats`
 * read before and after the measured run, the Redis counterpart of the database's
 * statements per request. Redis counts the commands a Lua script runs as well as the script
 * call itself (an EVALSHA that does three GETs counts as 1 EVALSHA and 3 GETs), so the total
 * is the work Redis did, not the round trips the server made; the EVAL/EVALSHA share says
 * how many of those were scripts. Anything else using the same Redis during the run is
 * counted too; the bench's own reads (INFO) are left out.
 */
export type CommandCounts = ReadonlyMap<string, number>;

export interface RedisCommandUse {
  /** Commands Redis ran per request of the workload. */
  readonly per_request: number;
  /** The busiest commands, per request. */
  readonly top: Readonly<Record<string, number>>;
}

const TIMEOUT_MS = 2_000;
const TOP = 6;

/** `cmdstat_get:calls=21069,usec=...` lines to { get: 21069 }; INFO and CONFIG are the bench's own. */
export function parseCommandStats(info: string): CommandCounts {
  const out = new Map<string, number>();
  for (const line of info.split(/\r?\n/)) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (!m || m[1] === undefined || m[2] === undefined) continue;
    const name = m[1];
    if (name === 'info' || name.startsWith('config')) continue;
    out.set(name, Number(m[2]));
  }
  return out;
}

/** Commands per request between two readings; undefined when there were no requests. */
export function commandsPerRequest(before: CommandCounts, after: CommandCounts, requests: number): RedisCommandUse | undefined {
  if (requests <= 0) return undefined;
  const deltas = [...after].map(([name, calls]) => [name, Math.max(0, calls - (before.get(name) ?? 0))] as const).filter(([, n]) => n > 0);
  const round = (n: number): number => Math.round((n / requests) * 1_000) / 1_000;
  const total = deltas.reduce((s, [, n]) => s + n, 0);
  return { per_request: round(total), top: Object.fromEntries([...deltas].sort((a, b) => b[1] - a[1]).slice(0, TOP).map(([name, n]) => [name, round(n)])) };
}

export class RedisCommandSampler {
  private constructor(private readonly redis: Redis) {}

  /** A short-lived connection of the bench's own; undefined when Redis cannot be reached. */
  static async open(url: string): Promise<RedisCommandSampler | undefined> {
    const redis = new Redis(url, {
      lazyConnect: true, connectTimeout: TIMEOUT_MS, commandTimeout: TIMEOUT_MS, maxRetriesPerRequest: 0,
      enableOfflineQueue: false, retryStrategy: () => null, connectionName: 'bgc-bench-commands',
    });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      return new RedisCommandSampler(redis);
    } catch {
      redis.disconnect();
      return undefined;
    }
  }

  /** The counts now; undefined if Redis did not answer (then the run has no figure). */
  async snapshot(): Promise<CommandCounts | undefined> {
    try {
      return parseCommandStats(await this.redis.info('commandstats'));
    } catch {
      return undefined;
    }
  }

  close(): void {
    this.redis.disconnect();
  }
}
