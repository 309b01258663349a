import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config/index.ts';
import { localPgBouncer, pgbouncerEnv } from '../stack/pgbouncer/layout.ts';
import type { BenchUrls } from './bench-db.ts';
import { freePort } from './free-port.ts';

export interface BenchPgBouncer {
  /** DATABASE_URL / DATABASE_REPLICA_URLS through PgBouncer, DATABASE_SESSION_URL direct. */
  readonly env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * `bgc bench --pgbouncer`: the server under test reaches the bench database through one
 * PgBouncer per node (transaction pooling, the stack's settings, on free ports), as a fleet
 * behind PgBouncer would, so its latency can be set against a direct run's.
 */
export async function startBenchPgBouncer(config: Config, urls: BenchUrls, progress: (line: string) => void): Promise<BenchPgBouncer> {
  const nodes = [urls.primaryUrl, ...urls.replicaUrls].map((u, i) => ({ name: i === 0 ? 'primary' : `replica${i}`, serverPort: Number(new URL(u).port) }));
  const ports: number[] = [];
  for (const _ of nodes) ports.push(await freePort());
  const dir = path.join(config.dataDir, 'bench', `pgbouncer-${crypto.randomBytes(3).toString('hex')}`);
  const stack = localPgBouncer(config, { dir, nodes, ports });
  const stop = async () => { await stack.down(); fs.rmSync(dir, { recursive: true, force: true }); };
  try {
    await stack.up(progress);
  } catch (err) {
    await stop();
    throw err;
  }
  return { env: pgbouncerEnv(stack, urls.primaryUrl, urls.database), stop };
}
