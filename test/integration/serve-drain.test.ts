import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { freePort } from '../helpers/free-port.ts';
import { REDIS_PORT } from '../helpers/constants.ts';

/**
 * Graceful drain of `bgc serve` (src/tools/cli/commands/serve.ts, BGC_DRAIN_MS): on SIGTERM the
 * instance fails /readyz at once but keeps serving; a client that behaves like a load
 * balancer (health-checks /readyz, stops sending when it fails) keeps 8 keep-alive
 * connections busy with database-backed requests throughout, and not one request fails;
 * the process exits 0 only after the drain period.
 */
let tdb: TestDatabase;
beforeAll(async () => { tdb = await createTestDatabase('serve_drain'); });
afterAll(async () => { await tdb?.drop(); });

const DRAIN_MS = 1_500;

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`${what} not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('bgc serve: graceful drain on SIGTERM', () => {
  it('fails /readyz first, serves through the drain period, fails 0 keep-alive requests, exits 0', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const child = spawn(process.execPath, [path.resolve('bin/bgc.js'), 'serve'], {
      env: {
        ...process.env, NODE_ENV: 'test', DATABASE_URL: tdb.primaryUrl, DATABASE_REPLICA_URLS: tdb.replicaUrls.join(','),
        REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}`, PORT: String(port), ADMIN_PORT: String(await freePort()), BGC_JOBS_ENABLED: 'false',
        BGC_CACHE_NAMESPACE: `test:${tdb.name}`, BGC_DRAIN_MS: String(DRAIN_MS),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let sigtermAt = 0;
    try {
      await until('/readyz 200', 90_000, async () => ((await fetch(`${base}/readyz`)).ok ? true : undefined));
      const reg = await fetch(`${base}/api/auth/register`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: `drain_${process.pid}@example.test`, username: `drain_${process.pid}`, password: 'correct Horse 42' }),
      });
      expect(reg.status).toBe(201);
      const { token } = (await reg.json()) as { token: string };

      // The "load balancer": 8 keep-alive connections, each sending one request after another
      // until a /readyz check fails (HAProxy: inter 100 ms, fall 1 here).
      let sending = true;
      let inflight = 0;
      const results: Array<{ status: number; error?: string; at: number }> = [];
      const worker = async () => {
        while (sending) {
          inflight++;
          try {
            const res = await fetch(`${base}/api/feed?type=global`, { headers: { authorization: `Bearer ${token}` } });
            await res.arrayBuffer();
            results.push({ status: res.status, at: performance.now() });
          } catch (err) {
            results.push({ status: 0, error: err instanceof Error ? `${err.message} ${String(err.cause)}` : String(err), at: performance.now() });
          } finally { inflight--; }
        }
      };
      const workers = Array.from({ length: 8 }, () => worker());
      let readyFailedAt = 0;
      const checker = (async () => {
        while (sending) {
          await new Promise((r) => setTimeout(r, 100));
          const res = await fetch(`${base}/readyz`).catch(() => undefined);
          if (sigtermAt > 0 && res?.status !== 200) { readyFailedAt = performance.now(); sending = false; }
          await res?.arrayBuffer();
        }
      })();
      await until('some requests answered', 30_000, async () => (results.length >= 20 ? true : undefined));
      const inflightAtSignal = inflight;
      sigtermAt = performance.now();
      child.kill('SIGTERM');
      await Promise.all([...workers, checker]);
      const afterSignal = results.filter((r) => r.at > sigtermAt).length;
      const failed = results.filter((r) => r.status !== 200);
      console.log(`[drain] ${results.length} requests, ${inflightAtSignal} in flight at SIGTERM, ${afterSignal} answered after it; `
        + `/readyz failed ${(readyFailedAt - sigtermAt).toFixed(0)} ms after SIGTERM; failed: ${failed.length} ${JSON.stringify(failed.slice(0, 3))}`);
      expect(inflightAtSignal).toBeGreaterThan(0);
      expect(afterSignal).toBeGreaterThanOrEqual(inflightAtSignal);
      expect(failed).toEqual([]);
      // The balancer saw the drain before the server stopped accepting.
      expect(readyFailedAt - sigtermAt).toBeLessThan(DRAIN_MS);
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), DRAIN_MS + 30_000))]);
    const exitMs = performance.now() - sigtermAt;
    if (code === 'timeout') child.kill('SIGKILL');
    console.log(`[drain] exited ${String(code)} ${exitMs.toFixed(0)} ms after SIGTERM (drain period ${DRAIN_MS} ms)`);
    expect(code, output).toBe(0);
    expect(exitMs).toBeGreaterThanOrEqual(DRAIN_MS);
  });
});
