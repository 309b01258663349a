import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseConfig, type Config } from '../../../src/config/index.ts';
import { HaStack } from '../../../src/tools/stack/ha/ha-stack.ts';
import { buildHaLayout, haStorageRoot, haUrls } from '../../../src/tools/stack/ha/layout.ts';
import { fetchCluster, type PatroniCluster } from '../../../src/tools/stack/ha/patroni-rest.ts';
import type { PatroniMember } from '../../../src/tools/stack/ha/patroni-member.ts';
import { RedisNode } from '../../../src/tools/stack/redis-node.ts';
import { connectNode } from '../../../src/tools/stack/postgres-node.ts';
import { migrate } from '../../../src/db/migrator.ts';
import { freePort } from '../../helpers/free-port.ts';

/**
 * A private high-availability stack (src/tools/stack/ha) for one chaos test file: three Patroni
 * members, three etcd members and HAProxy on free ports, a Redis of its own, the schema
 * migrated through the leader port. Its folder and its etcd keys carry a random id, so two
 * files (or two runs) never share anything. destroy() stops every process it started and
 * deletes the folder; it runs even when creation failed half-way.
 */
export interface HaPrivateStack {
  readonly stack: HaStack;
  readonly primaryUrl: string;
  readonly redisUrl: string;
  readonly patroniUrls: string[];
  /** Direct URLs of the three members (the static alternative to BGC_PATRONI_URLS). */
  readonly memberUrls: string[];
  config(overrides?: Record<string, string>): Config;
  cluster(): Promise<PatroniCluster | undefined>;
  leader(): Promise<PatroniMember>;
  destroy(): Promise<void>;
}

async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

export async function createHaPrivateStack(label: string): Promise<HaPrivateStack> {
  const base = parseConfig({ NODE_ENV: 'test' });
  const id = `ha-${label}-${crypto.randomBytes(3).toString('hex')}`;
  // As root the stack lives in /var/lib/bgc (haStorageRoot): the postgres user must reach it.
  const origin = path.join(base.projectRoot, '.data', 'test-stacks', id);
  const root = haStorageRoot(origin);
  const p = await distinctFreePorts(16);
  const take = (k: number): number[] => p.splice(0, k);
  const layout = buildHaLayout(root, {
    postgres: take(3), patroniRest: take(3), etcdClient: take(3), etcdPeer: take(3),
    haproxyPrimary: take(1)[0] as number, haproxyReplicas: take(1)[0] as number, haproxyStats: take(1)[0] as number,
  }, id, 'bgc', origin);
  const redisPort = p[0] as number;
  fs.mkdirSync(path.dirname(root), { recursive: true });
  const stack = new HaStack(layout);
  const redis = new RedisNode({ port: redisPort, dir: path.join(root, 'redis'), maxmemory: '64mb', policy: 'allkeys-lfu' });
  // If this process ends without afterAll (a worker torn down), leave no server behind.
  const onExit = (): void => {
    stack.killAllNow();
    const redisPid = redis.ownPid();
    if (redisPid !== null) { try { process.kill(redisPid, 'SIGKILL'); } catch { /* already gone */ } }
    fs.rmSync(root, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  const destroy = async (): Promise<void> => {
    process.removeListener('exit', onExit);
    // Redis first: it is found by the pid file under `root`, which the purge deletes (stopped
    // after it, every HA test left its redis-server running).
    await redis.stop().catch((err: unknown) => console.error(`[chaos-ha] ${id}: redis stop failed: ${String(err)}`));
    await stack.down({ purge: true }).catch((err: unknown) => console.error(`[chaos-ha] ${id}: down failed: ${String(err)}`));
    fs.rmSync(root, { recursive: true, force: true });
  };
  try {
    const started = Date.now();
    const steps: string[] = [];
    const step = (what: string): void => { steps.push(`${what} at ${Date.now() - started} ms`); };
    await stack.up(step, 150_000);
    step('stack up');
    await redis.start();
    const c = await connectNode(layout.haproxy.primaryPort, layout.database);
    try { await migrate(c, path.join(base.projectRoot, 'migrations')); } finally { await c.end(); }
    console.log(`[chaos-ha] ${id}: HA stack up and migrated in ${Date.now() - started} ms (${steps.join('; ')})`);
  } catch (err) {
    await destroy();
    throw err;
  }
  const urls = haUrls(layout);
  const memberUrls = layout.members.map((m) => `postgres://postgres@127.0.0.1:${m.pgPort}/${layout.database}`);
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const cluster = (): Promise<PatroniCluster | undefined> => fetchCluster(stack.restUrls);
  return {
    stack, primaryUrl: urls.primaryUrl, redisUrl, patroniUrls: urls.patroniUrls, memberUrls,
    config: (overrides = {}) => parseConfig({
      NODE_ENV: 'test', DATABASE_URL: urls.primaryUrl, DATABASE_REPLICA_URLS: memberUrls.join(','),
      REDIS_URL: redisUrl, PORT: '0', ADMIN_PORT: '0', BGC_JOBS_ENABLED: 'false', ...overrides,
    }),
    cluster,
    leader: async () => {
      const name = (await cluster())?.members.find((m) => m.role === 'leader')?.name;
      const member = stack.members.find((m) => m.spec.name === name);
      if (!member) throw new Error(`no leader in ${JSON.stringify(await cluster())}`);
      return member;
    },
    destroy,
  };
}
