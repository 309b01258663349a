import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime, type Runtime } from '../../src/app/runtime.ts';
import { createLogger } from '../../src/logging/logger.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

/**
 * No secret reaches the logs: a runtime at LOG_LEVEL=trace in development (request logging
 * on) writes into a captured pino stream while users register, log in (rightly and
 * wrongly), make authenticated requests, hit 4xx errors, log out, and finally hit 5xx
 * errors with credentials in flight (the primary pool closed under them). No line may contain a
 * password, a session token, the token's sha256 (hex or base64: the session cache key and
 * the stored hash), or the admin token.
 */
let tdb: TestDatabase;
let rt: Runtime;
const lines: string[] = [];
const ADMIN_TOKEN = crypto.randomBytes(20).toString('hex');

beforeAll(async () => {
  tdb = await createTestDatabase('sec_logs');
  const config = tdb.config({ NODE_ENV: 'development', LOG_LEVEL: 'trace', ADMIN_TOKEN, BGC_POOL_SIZE: '2', BGC_CACHE_WARM_COUNT: '0' });
  rt = await startRuntime(config, { listen: false, logger: createLogger(config, { write: (line: string) => { lines.push(line); } }) });
});
afterAll(async () => {
  await rt?.close();
  await tdb?.drop();
});

type Json = Record<string, unknown>;
async function call(method: 'GET' | 'POST' | 'PUT', url: string, body?: Json, token?: string, headers: Record<string, string> = {}) {
  const res = await rt.app.inject({
    method, url,
    headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { payload: JSON.stringify(body) } : {}),
  });
  return { status: res.statusCode, body: res.body.length ? (res.json() as Json) : {} };
}

describe('logs', () => {
  it('never contain a password, a session token or its hash, or the admin token, even at trace level', async () => {
    const password = `Secret pass ${crypto.randomBytes(6).toString('hex')}`;
    const wrongPassword = `Wrong guess ${crypto.randomBytes(6).toString('hex')}`;
    const email = `logs_${crypto.randomBytes(3).toString('hex')}@example.test`;
    const reg = await call('POST', '/api/auth/register', { email, username: email.split('@')[0], password });
    expect(reg.status).toBe(201);
    const first = reg.body.token as string;
    const login = await call('POST', '/api/auth/login', { email, password }, undefined, { 'user-agent': 'logs-test' });
    expect(login.status).toBe(200);
    const token = login.body.token as string;
    expect((await call('POST', '/api/auth/login', { email, password: wrongPassword })).status).toBe(401);
    expect((await call('GET', '/api/auth/session', undefined, token)).status).toBe(200);
    expect((await call('PUT', '/api/profiles/me', { bio: 'hello' }, token)).status).toBe(200);
    expect((await call('GET', '/api/feed?limit=abc', undefined, token)).status).toBe(400);
    expect((await call('POST', '/api/feed', { content: 'a\u0000b' }, token)).status).toBe(400);
    const unknown = crypto.randomBytes(32).toString('base64url');
    expect((await call('GET', '/api/auth/session', undefined, unknown)).status).toBe(401);
    expect((await call('POST', '/api/auth/register', { email, username: 'someone_else', password })).status).toBe(409);
    const admin = await rt.admin.inject({ method: 'GET', url: '/admin/api/status', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'x-admin-token': ADMIN_TOKEN } });
    expect(admin.statusCode).toBe(200);
    expect((await call('POST', '/api/auth/logout', undefined, token)).status).toBe(200);
    expect((await call('GET', '/api/auth/session', undefined, token)).status).toBe(401);
    // Error paths log the error object at level error: make the database fail under a login
    // (credentials in the body) and under an authenticated request (token in the header).
    const third = (await call('POST', '/api/auth/login', { email, password })).body.token as string;
    expect((await call('GET', '/api/auth/session', undefined, third)).status).toBe(200);
    await rt.deps.db.primary.close();
    expect((await call('POST', '/api/auth/login', { email, password })).status).toBe(503);
    expect((await call('PUT', '/api/profiles/me', { bio: 'x' }, third)).status).toBe(503);
    expect(lines.some((l) => l.includes('"level":50'))).toBe(true);

    const sha = (s: string) => crypto.createHash('sha256').update(s, 'utf8').digest();
    const secrets: Record<string, string> = { password, wrongPassword, ADMIN_TOKEN };
    for (const [name, tok] of Object.entries({ first, token, third, unknown })) {
      secrets[name] = tok;
      secrets[`${name} sha256 hex`] = sha(tok).toString('hex');
      secrets[`${name} sha256 base64`] = sha(tok).toString('base64');
      secrets[`${name} sha256 bytea`] = `\\x${sha(tok).toString('hex')}`;
    }
    expect(lines.length, 'trace logging produced lines').toBeGreaterThan(20);
    const leaks = Object.entries(secrets).flatMap(([name, secret]) => lines.filter((l) => l.includes(secret)).map((l) => `${name}: ${l.slice(0, 300)}`));
    expect(leaks).toEqual([]);
    console.log(`[security] ${lines.length} log lines at trace level checked for ${Object.keys(secrets).length} secrets: none found`);
  });
});
