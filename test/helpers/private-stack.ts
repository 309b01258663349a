import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { parseConfig, type Config } from '../../src/config/index.ts';
import { LocalStack } from '../../src/tools/stack/stack.ts';
import { connectNode } from '../../src/tools/stack/postgres-node.ts';
import { migrate } from '../../src/db/migrator.ts';
import { freePort } from './free-port.ts';
import { waitForReplay } from './wait-for-replay.ts';

export interface PrivateStack {
  readonly stack: LocalStack;
  readonly primaryUrl: string;
  readonly replicaUrls: string[];
  readonly redisUrl: string;
  config(overrides?: Record<string, string>): Config;
  /** Waits until every replica has replayed the primary's current WAL position. */
  syncReplicas(): Promise<void>;
  destroy(): Promise<void>;
}

/**
 * A whole private stack (primary + 2 streaming replicas + Redis) on free ports, for tests
 * that stop, kill or pause nodes: faults there never disturb the shared dev stack or
 * other test files. Takes a few seconds to create (initdb + 2 × pg_basebackup).
 */
export async function createPrivateStack(label: string, opts: { replicas?: number; /** Run on the primary after the migrations (scratch tables), then replayed on the replicas. */ setupSql?: readonly string[] } = {}): Promise<PrivateStack> {
  const base = parseConfig({ NODE_ENV: 'test' });
  const id = `${label}-${crypto.randomBytes(3).toString('hex')}`;
  const dataDir = path.join(base.projectRoot, '.data', 'test-stacks', id);
  const primaryPort = await freePort();
  const replicaPorts: number[] = [];
  for (let i = 0; i < (opts.replicas ?? 2); i++) replicaPorts.push(await freePort());
  const redisPort = await freePort();
  const stack = new LocalStack(base, { dataDir, primaryPort, replicaPorts, redisPort, database: 'bgc' });
  await stack.up();
  const c = await connectNode(primaryPort, 'bgc');
  try {
    await migrate(c, path.join(base.projectRoot, 'migrations'));
    for (const sql of opts.setupSql ?? []) await c.query(sql);
  } finally { await c.end(); }
  if (opts.setupSql?.length) await waitForReplay(primaryPort, replicaPorts, 10_000);
  const url = (p: number) => `postgres://postgres@127.0.0.1:${p}/bgc`;
  const replicaUrls = replicaPorts.map(url);
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  return {
    stack,
    primaryUrl: url(primaryPort),
    replicaUrls,
    redisUrl,
    config: (overrides = {}) => parseConfig({
      NODE_ENV: 'test', DATABASE_URL: url(primaryPort), DATABASE_REPLICA_URLS: replicaUrls.join(','),
      REDIS_URL: redisUrl, PORT: '0', ADMIN_PORT: '0', BGC_JOBS_ENABLED: 'false', ...overrides,
    }),
    syncReplicas: () => waitForReplay(primaryPort, replicaPorts, 10_000),
    destroy: async () => {
      // purge: as root the PostgreSQL data lives outside dataDir (/var/lib/bgc, src/tools/stack/pg-location.ts).
      await stack.down({ purge: true });
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
