import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFleet, type TestFleet } from '../helpers/test-fleet.ts';
import type { Fleet } from '../../src/tools/stack/fleet/fleet.ts';

/**
 * The cross-instance probes of test/integration/cache-coherence.test.ts (two runtimes in one
 * process) run again on a real fleet: 3 `bgc serve` processes behind HAProxy, every request
 * through the proxy, so each instance has its own L1, bus subscriber and database listener
 * and a client cannot pick its instance. HAProxy names the instance that answered in
 * X-BGC-Instance (src/tools/stack/fleet/haproxy-config.ts); each probe reads until every
 * instance other than the writer's has answered (bounded), and every one of those reads is
 * checked, not only the last:
 *  - invalidation: a profile update answered by instance W, then another user's reads on the
 *    other instances (each holding the old view in its cache) never return the old bio;
 *  - logout: a token revoked on W is refused on every instance by the very next request (the
 *    logout is answered once every instance acknowledged dropping it, acked-invalidation.ts);
 *  - read-your-writes: a post created on W is in its author's next feed page on every instance.
 *  - the login limit per client address sees the address HAProxy saw, not one the client
 *    claims in its own X-Forwarded-For (last: it leaves 127.0.0.1 limited).
 */
const INSTANCES = 3;
/** Reads allowed to reach every other instance (leastconn rotates ties, so it takes 2–4). */
const MAX_READS_TO_COVER = 60;

let tf: TestFleet;
let fleet: Fleet;
let base: string;

beforeAll(async () => {
  tf = await startTestFleet('fleet_coherence', { instances: INSTANCES, drainMs: 3_000 });
  fleet = tf.fleet;
  base = tf.base;
}, 240_000);

afterAll(async () => { await tf?.stop(); }, 120_000);

interface Answer<T> { status: number; body: T; instance: string }

async function call<T>(method: 'GET' | 'POST' | 'PUT', url: string, opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${url}`, {
    method, headers, signal: AbortSignal.timeout(10_000),
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, instance: res.headers.get('x-bgc-instance') ?? '' };
}

let seq = 0;
async function register(prefix: string): Promise<{ id: string; token: string }> {
  seq += 1;
  const username = `${prefix}_${process.pid}_${seq}`;
  const res = await call<{ token: string; user: { id: string } }>('POST', '/api/auth/register', { body: { email: `${username}@example.test`, username, password: 'correct Horse 42' } });
  expect(res.status).toBe(201);
  return { id: res.body.user.id, token: res.body.token };
}

const names = () => fleet.layout.instances.map((i) => i.name);

/**
 * Sends `read` until each instance in `mustCover` has answered at least `times` times
 * (bounded); returns every answer, so the caller checks all of them.
 */
async function readAcross<T>(read: () => Promise<Answer<T>>, mustCover: readonly string[], times = 1): Promise<Answer<T>[]> {
  const out: Answer<T>[] = [];
  const seen = new Map<string, number>();
  while (!mustCover.every((n) => (seen.get(n) ?? 0) >= times)) {
    if (out.length >= MAX_READS_TO_COVER) {
      throw new Error(`${out.length} reads through HAProxy reached only ${JSON.stringify(Object.fromEntries(seen))}; wanted ${mustCover.join(', ')} ×${times}`);
    }
    const a = await read();
    expect(names()).toContain(a.instance);
    out.push(a);
    seen.set(a.instance, (seen.get(a.instance) ?? 0) + 1);
  }
  return out;
}

function tally(answers: ReadonlyArray<{ instance: string }>): Record<string, number> {
  const t: Record<string, number> = {};
  for (const a of answers) t[a.instance] = (t[a.instance] ?? 0) + 1;
  return t;
}

describe('cross-instance coherence through HAProxy (3 instances)', () => {
  it('a profile update on one instance: reads on the others never return the old value', async () => {
    const alice = await register('alice');
    const bob = await register('bob');
    const url = `/api/profiles/${alice.id}`;
    const rounds = 15;
    const writers: string[] = [];
    let crossReads = 0;
    let stale = 0;
    let ownStale = 0;
    const staleSamples: string[] = [];
    const started = performance.now();
    for (let r = 0; r < rounds; r++) {
      // Bob's reads put Alice's current profile in every instance's cache (twice each: the
      // second read of each is a hit there).
      await readAcross(() => call<{ bio: string | null }>('GET', url, { token: bob.token }), names(), 2);
      const bio = `round ${r} of ${process.pid}`;
      const put = await call<{ bio: string }>('PUT', '/api/profiles/me', { token: alice.token, body: { bio } });
      expect(put.status).toBe(200);
      writers.push(put.instance);
      // Alice's own next read, wherever it lands (read-your-writes through the cache).
      const own = await call<{ bio: string }>('GET', url, { token: alice.token });
      if (own.body.bio !== bio) ownStale++;
      // Bob's next reads, until every other instance has answered.
      const others = names().filter((n) => n !== put.instance);
      const reads = await readAcross(() => call<{ bio: string }>('GET', url, { token: bob.token }), others);
      for (const a of reads) {
        expect(a.status).toBe(200);
        if (a.instance !== put.instance) crossReads++;
        if (a.body.bio !== bio) { stale++; if (staleSamples.length < 5) staleSamples.push(`round ${r}: written on ${put.instance}, ${a.instance} answered "${a.body.bio}"`); }
      }
    }
    const ms = performance.now() - started;
    console.log(`[fleet-coherence] invalidation: ${rounds} profile updates (written on ${JSON.stringify(tally(writers.map((instance) => ({ instance }))))}), `
      + `${crossReads} reads by another user on an instance other than the writer's right after the update: ${stale} stale ${JSON.stringify(staleSamples)}; `
      + `the writer's own next read: ${ownStale} stale; ${ms.toFixed(0)} ms`);
    // The updates really were answered by different instances, and reads crossed over.
    expect(new Set(writers).size).toBeGreaterThan(1);
    expect(crossReads).toBeGreaterThanOrEqual(rounds * (INSTANCES - 1));
    expect(stale).toBe(0);
    expect(ownStale).toBe(0);
  }, 180_000);

  it('a logout on one instance makes the token fail on every instance at once', async () => {
    const rounds = 8;
    let accepted = 0;
    let refusedOnOthers = 0;
    let slowestLogoutMs = 0;
    const writers: string[] = [];
    const started = performance.now();
    for (let r = 0; r < rounds; r++) {
      const user = await register('erin');
      // Every instance resolves the token twice, so every instance holds the session cached.
      const warm = await readAcross(() => call('GET', '/api/auth/session', { token: user.token }), names(), 2);
      expect(warm.every((a) => a.status === 200)).toBe(true);
      const sent = performance.now();
      const out = await call<{ revoked: boolean }>('POST', '/api/auth/logout', { token: user.token });
      slowestLogoutMs = Math.max(slowestLogoutMs, performance.now() - sent);
      expect(out.status).toBe(200);
      expect(out.body.revoked).toBe(true);
      writers.push(out.instance);
      // The very next requests, until every instance (the writer's too) has answered. The
      // logout was answered only after every instance acknowledged dropping the session
      // (src/cache/acked-invalidation.ts), so none of them may accept it.
      const after = await readAcross(() => call('GET', '/api/auth/session', { token: user.token }), names());
      for (const a of after) {
        if (a.status !== 401) accepted++;
        else if (a.instance !== out.instance) refusedOnOthers++;
      }
    }
    const ms = performance.now() - started;
    console.log(`[fleet-coherence] logout: ${rounds} logouts (answered by ${JSON.stringify(tally(writers.map((instance) => ({ instance }))))}), `
      + `${refusedOnOthers} requests on other instances right after refused, ${accepted} accepted; slowest logout ${slowestLogoutMs.toFixed(0)} ms; ${ms.toFixed(0)} ms`);
    expect(new Set(writers).size).toBeGreaterThan(1);
    expect(refusedOnOthers).toBeGreaterThanOrEqual(rounds * (INSTANCES - 1));
    expect(accepted).toBe(0);
  }, 180_000);

  it('read-your-writes: a post created on one instance is in its author\'s next feed page on every instance', async () => {
    const carol = await register('carol');
    const rounds = 15;
    let crossReads = 0;
    let missing = 0;
    const writers: string[] = [];
    const samples: string[] = [];
    const started = performance.now();
    for (let r = 0; r < rounds; r++) {
      const post = await call<{ id: string }>('POST', '/api/feed', { token: carol.token, body: { content: `post ${r} of ${process.pid}` } });
      expect(post.status).toBe(201);
      writers.push(post.instance);
      const reads = await readAcross(
        () => call<{ items: Array<{ id: string }> }>('GET', '/api/feed?type=following&limit=5', { token: carol.token }),
        // Every instance, the writer's too (which also shifts leastconn's rotation, so the
        // next post lands on another instance).
        names(),
      );
      for (const a of reads) {
        expect(a.status).toBe(200);
        if (a.instance !== post.instance) crossReads++;
        if (a.body.items[0]?.id !== post.body.id) { missing++; if (samples.length < 5) samples.push(`round ${r}: created on ${post.instance}, ${a.instance} answered without it`); }
      }
    }
    const ms = performance.now() - started;
    console.log(`[fleet-coherence] read-your-writes: ${rounds} posts (created on ${JSON.stringify(tally(writers.map((instance) => ({ instance }))))}), `
      + `${crossReads} reads of the author's feed on another instance right after: ${missing} without the new post ${JSON.stringify(samples)}; ${ms.toFixed(0)} ms`);
    expect(new Set(writers).size).toBeGreaterThan(1);
    expect(crossReads).toBeGreaterThanOrEqual(rounds * (INSTANCES - 1));
    expect(missing).toBe(0);
  }, 180_000);

  it('the login limit per address counts the address HAProxy saw, whatever X-Forwarded-For the client sends', async () => {
    // BGC_LOGIN_RATE_LIMIT_IP's default: 50 failed logins per address in the window. Each
    // failure below claims another address; all come from 127.0.0.1. Before, the instances
    // read the claim (HAProxy appended the real address after it, and 127.0.0.1 is trusted),
    // so each claimed address had one failure and the limit never applied.
    const perAddress = 50;
    const started = Date.now();
    const statuses: number[] = [];
    for (let i = 0; i <= perAddress; i++) {
      const res = await call<{ error?: { code: string } }>('POST', '/api/auth/login', {
        body: { email: `nobody_${process.pid}_${i}@example.test`, password: 'not the password 1' },
        headers: { 'x-forwarded-for': `10.77.${Math.floor(i / 250)}.${(i % 250) + 1}` },
      });
      statuses.push(res.status);
      if (res.status === 429) break;
    }
    console.log(`[fleet-coherence] failed logins with a made-up X-Forwarded-For each: ${JSON.stringify(tally(statuses.map((s) => ({ instance: String(s) }))))} in ${Date.now() - started} ms`);
    expect(statuses.slice(0, perAddress).every((s) => s === 401)).toBe(true);
    expect(statuses[perAddress]).toBe(429);
  }, 120_000);
});
