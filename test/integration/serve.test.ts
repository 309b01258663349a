import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { freePort } from '../helpers/free-port.ts';
import { REDIS_PORT } from '../helpers/constants.ts';

let tdb: TestDatabase;
let admin: pg.Client;

beforeAll(async () => {
  tdb = await createTestDatabase('serve');
  admin = await tdb.admin();
});
afterAll(async () => {
  await admin.end();
  await tdb.drop();
});

async function waitFor(url: string, timeoutMs: number): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return res;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`${url} not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('bgc serve', () => {
  it('exits non-zero when a start-up step fails after the pools opened (the admin port taken)', async () => {
    const port = await freePort();
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const adminPort = (busy.address() as net.AddressInfo).port;
    const child = spawn(process.execPath, [path.resolve('bin/bgc.js'), 'serve'], {
      env: {
        ...process.env, NODE_ENV: 'test', DATABASE_URL: tdb.primaryUrl, DATABASE_REPLICA_URLS: tdb.replicaUrls.join(','),
        REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}`, PORT: String(port), ADMIN_PORT: String(adminPort), BGC_JOBS_ENABLED: 'false',
        BGC_CACHE_NAMESPACE: `test:${tdb.name}:busy`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    const t0 = Date.now();
    try {
      // Before: the API port served, /readyz never turned ready, and the process never exited.
      const code = await Promise.race([
        new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c))),
        new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 30_000)),
      ]);
      console.log(`serve with its admin port taken: exit ${String(code)} after ${Date.now() - t0} ms`);
      expect(code, output.slice(-2_000)).not.toBe('hung');
      expect(code).not.toBe(0);
      expect(output).toMatch(/EADDRINUSE/);
    } finally {
      child.kill('SIGKILL');
      await new Promise<void>((r) => busy.close(() => r()));
    }
  }, 60_000);

  it('answers /healthz and /readyz with both replicas streaming, and shuts down cleanly on SIGTERM', async () => {
    const port = await freePort();
    const adminPort = await freePort();
    const child = spawn(process.execPath, [path.resolve('bin/bgc.js'), 'serve'], {
      env: {
        ...process.env, NODE_ENV: 'test', DATABASE_URL: tdb.primaryUrl, DATABASE_REPLICA_URLS: tdb.replicaUrls.join(','),
        REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}`, PORT: String(port), ADMIN_PORT: String(adminPort), BGC_JOBS_ENABLED: 'false',
        BGC_CACHE_NAMESPACE: `test:${tdb.name}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(`http://127.0.0.1:${port}/healthz`, 60_000);
      await waitFor(`http://127.0.0.1:${port}/readyz`, 30_000);
      // Replicas join rotation after the router's first healthy probes (one poll at start-up,
      // more if the machine is busy), so the check waits for that, bounded, then asserts.
      type Readyz = { ready: boolean; primary: { ok: boolean }; replicas: Array<{ state: string }> };
      let body: Readyz;
      const deadline = Date.now() + 20_000;
      do {
        body = (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as Readyz;
        if (body.replicas.every((r) => r.state === 'streaming')) break;
        await new Promise((r) => setTimeout(r, 250));
      } while (Date.now() < deadline);
      expect(body.ready).toBe(true);
      expect(body.primary.ok).toBe(true);
      expect(body.replicas.map((r) => r.state)).toEqual(['streaming', 'streaming']);
      const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
      expect(metrics).toContain('bgc_db_pool_connections');
      const conns = await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'bgc-api'`, [tdb.name]);
      expect(conns.rows[0]?.n).toBeGreaterThanOrEqual(10);
    } finally {
      child.kill('SIGTERM');
    }
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))]);
    if (code === 'timeout') child.kill('SIGKILL');
    expect(code, output).toBe(0);
    const after = await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'bgc-api'`, [tdb.name]);
    expect(after.rows[0]?.n).toBe(0);
  });
});
