import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { LoginRateLimiter } from '../../src/cache/rate-limit.ts';
import { REDIS_PORT } from '../helpers/constants.ts';
import { freePort } from '../helpers/free-port.ts';
import { expectError, registerUser, startTestApp, type TestApp, type TestUser } from '../helpers/app.ts';

/**
 * Login rate limiting in Redis (src/cache/rate-limit.ts): failed logins per client address
 * and per account, 429 with Retry-After past the limit, shared Redis keys without emails in
 * clear, expiry of the window, and fail-open when Redis is unreachable. BGC_TRUST_PROXY
 * lets the test choose the client address with X-Forwarded-For.
 */
let t: TestApp;
let ann: TestUser;
let bob: TestUser;

const PER_IP = 6;
const PER_ACCOUNT = 3;

beforeAll(async () => {
  t = await startTestApp('sec_ratelimit', {
    BGC_LOGIN_RATE_LIMIT_IP: String(PER_IP), BGC_LOGIN_RATE_LIMIT_ACCOUNT: String(PER_ACCOUNT), BGC_LOGIN_RATE_WINDOW_S: '120',
    BGC_TRUST_PROXY: 'true', BGC_CACHE_WARM_COUNT: '0',
  });
  [ann, bob] = await Promise.all([registerUser(t, 'rl_ann'), registerUser(t, 'rl_bob')]);
});
afterAll(async () => {
  await t?.close();
});

const login = (email: string, password: string, ip: string) =>
  t.call<{ token?: string }>('POST', '/api/auth/login', { body: { email, password }, headers: { 'x-forwarded-for': ip } });

function expectLimited(res: Awaited<ReturnType<typeof login>>): void {
  expectError(res, 429, 'RATE_LIMITED');
  const retryAfter = Number(res.headers['retry-after']);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(120);
}

describe('login rate limiting', () => {
  it('per account: after 3 failed logins from different addresses, even the right password gets 429 with Retry-After; other accounts are unaffected', async () => {
    for (let i = 0; i < PER_ACCOUNT; i++) expectError(await login(ann.email, `wrong password ${i}`, `10.1.0.${i + 1}`), 401, 'INVALID_CREDENTIALS');
    expectLimited(await login(ann.email, ann.password, '10.1.0.99'));
    // The account key is the normalised email: case and spaces do not escape it.
    expectLimited(await login(`  ${ann.email.toUpperCase()} `, ann.password, '10.1.0.98'));
    const other = await login(bob.email, bob.password, '10.1.0.1');
    expect(other.status).toBe(200);
  });

  it('a registration replay checks the password under the same limits (before: unlimited guesses through /register)', async () => {
    const username = `rl_carl_${process.pid}`;
    const body = { email: `${username}@example.test`, username, password: 'correct Horse 42' };
    const register = (password: string, ip: string) => t.call<{ token?: string }>('POST', '/api/auth/register',
      { body: { ...body, password }, headers: { 'x-forwarded-for': ip, 'idempotency-key': `reg-${username}` } });
    expect((await register(body.password, '10.9.0.1')).status).toBe(201);
    // Someone who knows the key tries passwords: each wrong one is a failed login of the account.
    for (let i = 0; i < PER_ACCOUNT; i++) expectError(await register(`wrong password ${i}`, `10.9.1.${i + 1}`), 422, 'IDEMPOTENCY_KEY_REUSED');
    expectLimited(await register(body.password, '10.9.1.99'));
    expectLimited(await login(body.email, body.password, '10.9.1.98'));
  });

  it('per account: spellings PostgreSQL matches to the same email count against the same account', async () => {
    const iris = await registerUser(t, 'rl_iris');
    expect(iris.email).toContain('i');
    // PostgreSQL's lower('İ') is 'i' (JavaScript's is 'i' and a combining dot): each of these finds Iris.
    const spellings = [iris.email.replace('i', 'İ'), iris.email.replace(/i/g, 'İ'), iris.email.toUpperCase().replace('I', 'İ')];
    for (const [i, email] of spellings.entries()) expectError(await login(email, `wrong password ${i}`, `10.6.0.${i + 1}`), 401, 'INVALID_CREDENTIALS');
    expectLimited(await login(iris.email, iris.password, '10.6.0.99'));
  });

  it('per address: after 6 failed logins from one address (any accounts), it gets 429; another address logs in', async () => {
    const ip = '10.2.0.7';
    for (let i = 0; i < PER_IP; i++) expectError(await login(`nobody${i}@example.test`, 'wrong password 1', ip), 401, 'INVALID_CREDENTIALS');
    expectLimited(await login(bob.email, bob.password, ip));
    expect((await login(bob.email, bob.password, '10.2.0.8')).status).toBe(200);
  });

  it('counts failures only: 20 successful logins from one address all succeed, and a success clears the account\'s failures', async () => {
    for (let i = 0; i < 20; i++) expect((await login(bob.email, bob.password, '10.3.0.1')).status).toBe(200);
    const carol = await registerUser(t, 'rl_carol');
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < PER_ACCOUNT - 1; i++) expectError(await login(carol.email, 'wrong password 9', `10.3.${round}.${i + 10}`), 401, 'INVALID_CREDENTIALS');
      expect((await login(carol.email, carol.password, '10.3.9.9')).status).toBe(200);
    }
  });

  it('a burst of parallel guesses for one account: at most the limit are checked, the rest refused before any hash', async () => {
    const dave = await registerUser(t, 'rl_dave');
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => login(dave.email, `wrong password ${i}`, `10.5.0.${i + 1}`)));
    const checked = burst.filter((r) => r.status === 401).length;
    const refused = burst.filter((r) => r.status === 429).length;
    console.log(`20 parallel guesses for one account (limit ${PER_ACCOUNT}): ${checked} checked (401), ${refused} refused (429)`);
    expect(checked).toBe(PER_ACCOUNT);
    expect(refused).toBe(20 - PER_ACCOUNT);
    expectLimited(await login(dave.email, dave.password, '10.5.1.1'));
  });

  it('malformed attempts (schema errors) are not counted and never reach the limiter', async () => {
    const ip = '10.4.0.1';
    for (let i = 0; i < PER_IP * 2; i++) {
      expectError(await t.call('POST', '/api/auth/login', { body: { email: 'x@example.test' }, headers: { 'x-forwarded-for': ip } }), 400, 'VALIDATION_FAILED');
    }
    expect((await login(bob.email, bob.password, ip)).status).toBe(200);
  });

  it('keeps its counters in Redis under the namespace, with an expiry and without any email in clear', async () => {
    const redis = new Redis({ port: REDIS_PORT, host: '127.0.0.1', lazyConnect: true });
    await redis.connect();
    try {
      const keys = await redis.keys(`${t.rt.deps.config.cache.namespace}:ratelimit:login:*`);
      expect(keys.length).toBeGreaterThan(3);
      expect(keys.filter((k) => k.includes('@'))).toEqual([]);
      for (const k of keys) {
        const ttl = await redis.pttl(k);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(120_000);
      }
    } finally { redis.disconnect(); }
  });
});

describe('the limiter itself', () => {
  it('a window ends: refused at the limit, allowed again once the window has passed', async () => {
    const config = t.tdb.config({ BGC_CACHE_NAMESPACE: `${t.rt.deps.config.cache.namespace}:window`, BGC_LOGIN_RATE_LIMIT_ACCOUNT: '2', BGC_LOGIN_RATE_LIMIT_IP: '0', BGC_LOGIN_RATE_WINDOW_S: '1' });
    const limiter = new LoginRateLimiter(config);
    try {
      const key = { ip: '10.9.9.9', email: 'window@example.test' };
      expect(await limiter.waitReady(2_000)).toBe(true);
      // Two wrong passwords: each attempt stays counted.
      expect(await limiter.begin(key)).toEqual({ limited: undefined, counted: true });
      expect(await limiter.begin(key)).toEqual({ limited: undefined, counted: true });
      const refused = await limiter.begin(key);
      expect(refused.limited).toMatchObject({ scope: 'account', retryAfterSeconds: 1 });
      await new Promise((r) => setTimeout(r, 1_200));
      expect((await limiter.begin(key)).limited).toBeUndefined();
    } finally { await limiter.close(); }
  });

  it('takes back what a success or another error counted; never below zero, never past a window', async () => {
    const ns = `${t.rt.deps.config.cache.namespace}:takeback`;
    const config = t.tdb.config({ BGC_CACHE_NAMESPACE: ns, BGC_LOGIN_RATE_LIMIT_ACCOUNT: '2', BGC_LOGIN_RATE_LIMIT_IP: '2', BGC_LOGIN_RATE_WINDOW_S: '60' });
    const limiter = new LoginRateLimiter(config);
    const redis = new Redis({ port: REDIS_PORT, host: '127.0.0.1' });
    try {
      expect(await limiter.waitReady(2_000)).toBe(true);
      const key = { ip: '10.7.7.7', email: 'takeback@example.test' };
      for (let i = 0; i < 5; i++) await limiter.succeeded(key, await limiter.begin(key));
      for (let i = 0; i < 5; i++) await limiter.abandoned(key, await limiter.begin(key));
      expect((await limiter.begin(key)).limited).toBeUndefined();
      const counters = await redis.keys(`${ns}:ratelimit:login:*`);
      const values = await Promise.all(counters.map((k) => redis.get(k)));
      expect(values.map(Number).every((n) => n <= 1)).toBe(true);
      // A take-back after the window ended creates nothing.
      await redis.del(...counters);
      await limiter.abandoned(key, { limited: undefined, counted: true });
      expect(await redis.keys(`${ns}:ratelimit:login:*`)).toEqual([]);
    } finally {
      redis.disconnect();
      await limiter.close();
    }
  });

  it('fails open: with Redis unreachable nothing is refused and nothing throws', async () => {
    const config = t.tdb.config({ REDIS_URL: `redis://127.0.0.1:${await freePort()}`, BGC_LOGIN_RATE_LIMIT_ACCOUNT: '1', BGC_LOGIN_RATE_LIMIT_IP: '1' });
    const limiter = new LoginRateLimiter(config);
    try {
      const key = { ip: '10.8.8.8', email: 'open@example.test' };
      for (let i = 0; i < 5; i++) {
        const admission = await limiter.begin(key);
        expect(admission).toEqual({ limited: undefined, counted: false });
        await limiter.abandoned(key, admission);
      }
    } finally { await limiter.close(); }
  });
});
