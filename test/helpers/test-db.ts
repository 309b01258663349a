import crypto from 'node:crypto';
import pg from 'pg';
import { parseConfig, type Config } from '../../src/config/index.ts';
import { purgeNamespace } from '../../src/cache/purge.ts';
import { connectNode } from '../../src/tools/stack/postgres-node.ts';
import { inject } from 'vitest';
import { PRIMARY_PORT, REPLICA_PORTS, REDIS_PORT } from './constants.ts';
import { waitForReplay } from './wait-for-replay.ts';

/** Both shared-stack replicas have replayed everything so far (at most 30 s each). */
const waitForReplicas = () => waitForReplay(PRIMARY_PORT, REPLICA_PORTS, 30_000);

export interface TestDatabase {
  readonly name: string;
  readonly primaryUrl: string;
  readonly replicaUrls: string[];
  /** A config pointing at this database on all three nodes, with extra env overrides. */
  config(overrides?: Record<string, string>): Config;
  /** A plain superuser client on the primary (for assertions, not for app code). */
  admin(): Promise<pg.Client>;
  /** Runs one statement as that superuser on the primary (test setup), on a connection of its own. */
  exec(text: string, params?: unknown[]): Promise<void>;
  /** Waits until both replicas have replayed everything the primary has written so far. */
  syncReplicas(): Promise<void>;
  drop(): Promise<void>;
}

const url = (port: number, db: string) => `postgres://postgres@127.0.0.1:${port}/${db}`;

/** Clones the migrated template into a fresh database for one test file. */
export async function createTestDatabase(label = 'db'): Promise<TestDatabase> {
  const name = `bgc_test_${inject('runId')}_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase().slice(0, 20)}_${crypto.randomBytes(3).toString('hex')}`;
  const c = await connectNode(PRIMARY_PORT);
  try {
    await c.query(`CREATE DATABASE "${name}" TEMPLATE ${inject('templateDb')}`);
  } finally {
    await c.end();
  }
  // The replicas get the new database by replaying WAL; on a loaded machine a test that
  // connects to them at once could find it missing. Wait until both have replayed it.
  await waitForReplicas();
  const tdb: TestDatabase = {
    name,
    primaryUrl: url(PRIMARY_PORT, name),
    replicaUrls: REPLICA_PORTS.map((p) => url(p, name)),
    config: (overrides = {}) => parseConfig({
      NODE_ENV: 'test',
      DATABASE_URL: url(PRIMARY_PORT, name),
      DATABASE_REPLICA_URLS: REPLICA_PORTS.map((p) => url(p, name)).join(','),
      REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}`,
      BGC_CACHE_NAMESPACE: `test:${name}`,
      PORT: '0',
      ADMIN_PORT: '0',
      BGC_JOBS_ENABLED: 'false',
      ...overrides,
    }),
    admin: async () => connectNode(PRIMARY_PORT, name),
    exec: async (text, params = []) => {
      const admin = await connectNode(PRIMARY_PORT, name);
      try {
        await admin.query(text, params);
      } finally {
        await admin.end();
      }
    },
    syncReplicas: () => waitForReplicas(),
    drop: async () => {
      const d = await connectNode(PRIMARY_PORT);
      try { await d.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`); } finally { await d.end(); }
      // The test's cache keys in the shared Redis (its namespace, and any sub-namespace a
      // test configured under it) go with the database.
      await purgeNamespace(`redis://127.0.0.1:${REDIS_PORT}`, `test:${name}`);
    },
  };
  return tdb;
}
