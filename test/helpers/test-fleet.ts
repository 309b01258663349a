import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { Fleet } from '../../src/tools/stack/fleet/fleet.ts';
import { buildFleetLayout, type ProxyAdmission } from '../../src/tools/stack/fleet/layout.ts';
import { REDIS_PORT } from './constants.ts';
import { freePort } from './free-port.ts';
import { createTestDatabase, type TestDatabase } from './test-db.ts';

/** A real fleet for a test: N `bgc serve` behind HAProxy on free ports, on a test database of its own. */
export interface TestFleet {
  readonly tdb: TestDatabase;
  readonly fleet: Fleet;
  /** HAProxy's address: where clients go. */
  readonly base: string;
  stop(): Promise<void>;
}

export async function startTestFleet(name: string, opts: { instances: number; drainMs: number; admission?: ProxyAdmission }): Promise<TestFleet> {
  const n = opts.instances;
  const tdb = await createTestDatabase(name);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `bgc-${name.replaceAll('_', '-')}-`));
  const ports = await Promise.all(Array.from({ length: 2 + 2 * n }, () => freePort()));
  const layout = buildFleetLayout(root, {
    count: n, apiPort: ports[0] ?? 0, instancePorts: ports.slice(1, 1 + n), adminPorts: ports.slice(1 + n, 1 + 2 * n), statsPort: ports[1 + 2 * n],
    drainMs: opts.drainMs, ...(opts.admission ? { admission: opts.admission } : {}),
  });
  const fleet = new Fleet(layout, process.cwd(), {
    NODE_ENV: 'test', DATABASE_URL: tdb.primaryUrl, DATABASE_REPLICA_URLS: tdb.replicaUrls.join(','),
    REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}`, BGC_CACHE_NAMESPACE: `test:${tdb.name}`, BGC_JOBS_ENABLED: 'false', BGC_POOL_SIZE: '3',
  });
  const stop = async () => {
    await fleet.down();
    // Every process we started is gone: no pid file names a live process of ours.
    for (const i of layout.instances) expect(fleet.pidOf(i.name)).toBeUndefined();
    await tdb.drop();
    fs.rmSync(root, { recursive: true, force: true });
  };
  const started = Date.now();
  try {
    await fleet.up((l) => console.log(`[${name}] ${l}`), 180_000);
  } catch (err) {
    await stop();
    throw err;
  }
  console.log(`[${name}] up in ${Date.now() - started} ms`);
  return { tdb, fleet, base: `http://127.0.0.1:${layout.apiPort}`, stop };
}
