import path from 'node:path';
import type { Config } from '../../../config/index.ts';

/**
 * Ports of the Sentinel mode (`bgc stack up --sentinel`) before BGC_STACK_PORT_OFFSET: next to
 * the plain stack's Redis (63790), inside the range .ci/run reserves from the kernel's
 * outgoing ports, and away from Sentinel's usual 26379, where a system redis-sentinel
 * installed by the Debian package may listen.
 */
export const SENTINEL_PORTS = {
  redis: [63791, 63792, 63793],
  sentinels: [63794, 63795, 63796],
} as const;

/** The master's name in every `sentinel monitor` line (REDIS_SENTINEL_NAME). */
export const SENTINEL_MASTER_NAME = 'bgc';

/**
 * Failover timing for a loopback stack: a master silent for 1 s is subjectively down; with
 * two of three sentinels agreeing a failover starts (about 2.5 s from the fault to the
 * +switch-master, measured). failover-timeout also spaces two failovers of the same master
 * name (twice this), so a test may fail over again 8 s later.
 */
export const SENTINEL_TIMING = { downAfterMs: 1_000, failoverTimeoutMs: 4_000, quorum: 2 } as const;

export interface SentinelNodeLayout {
  readonly name: string;
  readonly port: number;
  /** Its config, pid file, log and working folder. */
  readonly dir: string;
}

export interface SentinelLayout {
  readonly root: string;
  readonly masterName: string;
  /** redis[0] starts as the master, the others as its replicas. */
  readonly redis: readonly SentinelNodeLayout[];
  readonly sentinels: readonly SentinelNodeLayout[];
  readonly maxmemory: string;
  readonly policy: string;
}

export interface SentinelPorts {
  readonly redis: readonly number[];
  readonly sentinels: readonly number[];
}

export function defaultSentinelPorts(offset: number): SentinelPorts {
  return {
    redis: SENTINEL_PORTS.redis.map((p) => p + offset),
    sentinels: SENTINEL_PORTS.sentinels.map((p) => p + offset),
  };
}

export function buildSentinelLayout(root: string, ports: SentinelPorts, memory: { maxmemory: string; policy: string }, masterName = SENTINEL_MASTER_NAME): SentinelLayout {
  const nodes = (prefix: string, list: readonly number[]): SentinelNodeLayout[] =>
    list.map((port, i) => ({ name: `${prefix}${i + 1}`, port, dir: path.join(root, `${prefix}${i + 1}`) }));
  return { root, masterName, redis: nodes('redis', ports.redis), sentinels: nodes('sentinel', ports.sentinels), ...memory };
}

/** `bgc stack up --sentinel`: `<data dir>/sentinel` on the offset ports, Redis memory settings from config. */
export function sentinelLayoutFor(config: Config): SentinelLayout {
  return buildSentinelLayout(path.join(config.dataDir, 'sentinel'), defaultSentinelPorts(config.stack.portOffset),
    { maxmemory: config.redis.maxmemory, policy: config.redis.policy });
}

/** The settings an app uses against this stack. */
export function sentinelEnv(layout: SentinelLayout): { REDIS_SENTINELS: string; REDIS_SENTINEL_NAME: string } {
  return {
    REDIS_SENTINELS: layout.sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
    REDIS_SENTINEL_NAME: layout.masterName,
  };
}
