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

/** What `bgc serve` logs (info) as it calls runtime.close(), in the same synchronous step (src/tools/cli/commands/serve.ts). */
const CLOSING_LINE = 'shutting down: finishing in-flight requests, closing pools';

/** `bgc serve` as a child process with BGC_DRAIN_MS = `drainMs`, and any other settings in `env`. */
async function startServe(drainMs: number, env: Record<string, string> = {}) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [path.resolve('bin/bgc.js'), 'serve'], {
    env: {
      ...process.env, NODE_ENV: 'test', DATABASE_URL: tdb.primaryUrl, DATABASE_REPLICA_URLS: tdb.replicaUrls.join(','),
      REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}`, PORT: String(port), ADMIN_PORT: String(await freePort()), BGC_JOBS_ENABLED: 'false',
      BGC_CACHE_NAMESPACE: `test:${tdb.name}`, BGC_DRAIN_MS: String(drainMs), ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { text: '' };
  child.stdout.on('data', (d: Buffer) => { out.text += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out.text += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { base, child, exited, output: () => out.text };
}

/** Registers a user through the API; its token. */
async function register(base: string, label: string): Promise<string> {
  const reg = await fetch(`${base}/api/auth/register`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `${label}_${process.pid}@example.test`, username: `${label}_${process.pid}`, password: 'correct Horse 42' }),
  });
  expect(reg.status).toBe(201);
  return ((await reg.json()) as { token: string }).token;
}

describe('bgc serve: graceful drain on SIGTERM', () => {
  it('fails /readyz first, serves through the drain period, fails 0 keep-alive requests, exits 0', async () => {
    const { base, child, exited, output } = await startServe(DRAIN_MS);
    let sigtermAt = 0;
    try {
      await until('/readyz 200', 90_000, async () => ((await fetch(`${base}/readyz`)).ok ? true : undefined));
      const token = await register(base, 'drain');

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
      // A second signal during the drain (npm forwarding it, Ctrl-C twice) must not cut it short.
      setTimeout(() => child.kill('SIGTERM'), 100).unref();
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
    expect(code, output()).toBe(0);
    expect(exitMs).toBeGreaterThanOrEqual(DRAIN_MS);
  });

  it('without a drain period: a request in flight when the server closes is answered 200 with Connection: close; the process exits at once', async () => {
    // Info level: the line that shows close() has begun (NODE_ENV=test logs warnings only).
    const { base, child, exited, output } = await startServe(0, { LOG_LEVEL: 'info' });
    let sigtermAt: number;
    let answer: { status: number; connection: string | null } | undefined;
    const admin = await tdb.admin();
    try {
      await until('/readyz 200', 90_000, async () => ((await fetch(`${base}/readyz`)).ok ? true : undefined));
      const token = await register(base, 'drain0');
      const me = await (await fetch(`${base}/api/auth/session`, { headers: { authorization: `Bearer ${token}` } })).json() as { user: { id: string } };
      // A profile update held on its row lock, so it is still in flight when close() starts.
      await admin.query('BEGIN');
      await admin.query('SELECT 1 FROM profiles WHERE user_id = $1 FOR UPDATE', [me.user.id]);
      const update = fetch(`${base}/api/profiles/me`, {
        method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ bio: 'closing' }),
      }).then(async (res) => { await res.arrayBuffer(); return { status: res.status, connection: res.headers.get('connection') }; });
      await until('the update waits on the row lock', 10_000, async () => {
        const { rows } = await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
        return (rows[0]?.n ?? 0) > 0 ? true : undefined;
      });
      sigtermAt = performance.now();
      child.kill('SIGTERM');
      // close() has begun once the child logged it (the log line and the call are one synchronous
      // step, so the update's answer cannot be handled before it); the update is still waiting.
      const closing = await until('the child to begin closing', 10_000, async () => (output().includes(CLOSING_LINE) ? performance.now() : undefined));
      console.log(`[drain] the child began closing ${(closing - sigtermAt).toFixed(0)} ms after SIGTERM`);
      await admin.query('COMMIT');
      // The client keeps an idle connection open afterwards if the answer lets it (Keep-Alive: timeout=65).
      answer = await update;
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    } finally {
      await admin.end();
    }
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
    const exitMs = performance.now() - sigtermAt;
    if (code === 'timeout') child.kill('SIGKILL');
    console.log(`[drain] no drain period: the update in flight at close answered ${answer?.status} (Connection: ${answer?.connection}); exited ${String(code)} ${exitMs.toFixed(0)} ms after SIGTERM`);
    // Before: it answered keep-alive, the idle connection held server.close() open, and the
    // forced exit came 15 s later with code 1.
    expect(answer).toEqual({ status: 200, connection: 'close' });
    expect(code, output()).toBe(0);
    expect(exitMs).toBeLessThan(10_000);
  });
});
