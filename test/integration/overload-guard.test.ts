import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime, type Runtime } from '../../src/app/runtime.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

/**
 * Admission control (src/http/overload-guard.ts) on the real stack: with at most 3
 * requests in progress, a burst of 40 database-backed requests gets some fast 503
 * OVERLOADED answers with Retry-After and the error shape, every other request succeeds,
 * health probes are never refused, and the count returns to zero afterwards (no leak:
 * sequential requests all pass).
 */
let tdb: TestDatabase;
let rt: Runtime;
let token: string;

beforeAll(async () => {
  tdb = await createTestDatabase('overload_guard');
  rt = await startRuntime(tdb.config({ BGC_MAX_INFLIGHT_REQUESTS: '3' }), { listen: false });
  const res = await rt.app.inject({
    method: 'POST', url: '/api/auth/register', headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ email: `guard_${process.pid}@example.test`, username: `guard_${process.pid}`, password: 'correct Horse 42' }),
  });
  expect(res.statusCode).toBe(201);
  token = (JSON.parse(res.body) as { token: string }).token;
});

afterAll(async () => {
  await rt?.close();
  await tdb?.drop();
});

const feed = () => rt.app.inject({ method: 'GET', url: '/api/feed?type=global', headers: { authorization: `Bearer ${token}` } });

describe('overload guard (BGC_MAX_INFLIGHT_REQUESTS)', () => {
  it('refuses what is beyond the limit with 503 OVERLOADED at once, serves the rest, and never leaks a slot', async () => {
    const burst = await Promise.all([
      ...Array.from({ length: 40 }, () => feed()),
      rt.app.inject({ method: 'GET', url: '/healthz' }),
    ]);
    const health = burst.pop();
    expect(health?.statusCode).toBe(200);
    const refused = burst.filter((r) => r.statusCode === 503);
    const served = burst.filter((r) => r.statusCode === 200);
    console.log(`[overload] burst of 40 with limit 3: ${served.length} served, ${refused.length} refused`);
    expect(refused.length + served.length).toBe(40);
    expect(refused.length).toBeGreaterThan(0);
    expect(served.length).toBeGreaterThanOrEqual(3);
    for (const r of refused) {
      expect(r.headers['retry-after']).toBeDefined();
      expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'OVERLOADED' } });
    }
    // Every slot came back: one at a time, nothing is refused.
    for (let i = 0; i < 10; i++) expect((await feed()).statusCode).toBe(200);
  });
});
