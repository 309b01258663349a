import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime } from '../../src/app/runtime.ts';
import { createLogger } from '../../src/logging/logger.ts';
import { expectError, registerUser, startTestApp, type PageBody, type TestApp, type TestUser } from '../helpers/app.ts';

/**
 * HTTP-level security (docs/SECURITY.md): security headers, CORS, the admin token in
 * production, the password policy, token checks that fail closed, and authorization
 * cases beyond test/integration/api-authorization.test.ts (revoked, expired and
 * deactivated sessions; no impersonation through the body; cursors do not open doors).
 */
const ALLOWED = 'https://app.example.test';
let t: TestApp;
let ann: TestUser;
let ben: TestUser;
let eve: TestUser;

beforeAll(async () => {
  t = await startTestApp('sec_http', { BGC_CORS_ORIGINS: `${ALLOWED},http://localhost:5173`, BGC_CACHE_WARM_COUNT: '0' });
  [ann, ben, eve] = await Promise.all([registerUser(t, 'sh_ann'), registerUser(t, 'sh_ben'), registerUser(t, 'sh_eve')]);
});
afterAll(async () => {
  await t?.close();
});

describe('security headers', () => {
  it('every response, success or error, carries them', async () => {
    for (const res of [
      await t.app.inject({ method: 'GET', url: '/healthz' }),
      await t.app.inject({ method: 'GET', url: `/api/profiles/${ann.id}`, headers: { authorization: `Bearer ${ann.token}` } }),
      await t.app.inject({ method: 'GET', url: '/api/feed' }),
      await t.app.inject({ method: 'GET', url: '/nowhere' }),
      await t.app.inject({ method: 'GET', url: '/docs' }),
    ]) {
      expect(res.headers).toMatchObject({
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-store',
        'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
        'cross-origin-resource-policy': 'same-origin',
      });
      expect(res.headers['x-powered-by']).toBeUndefined();
      // HSTS only in production (behind TLS); see the production runtime test below.
      expect(res.headers['strict-transport-security']).toBeUndefined();
    }
  });
});

describe('CORS', () => {
  it('an allowed origin gets its own origin back (never *), can read X-BGC-LSN, and its preflight is answered', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/feed', headers: { origin: ALLOWED, authorization: `Bearer ${ann.token}`, 'content-type': 'application/json' }, payload: '{"content":"from the web app"}' });
    expect(res.statusCode).toBe(201);
    expect(res.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
    expect(String(res.headers['access-control-expose-headers'])).toContain('X-BGC-LSN');
    expect(String(res.headers.vary)).toContain('Origin');
    const pre = await t.app.inject({ method: 'OPTIONS', url: '/api/feed', headers: { origin: ALLOWED, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
    expect(pre.statusCode).toBe(204);
    expect(pre.headers).toMatchObject({ 'access-control-allow-origin': ALLOWED, 'access-control-allow-methods': 'GET, POST, PUT, DELETE' });
    expect(String(pre.headers['access-control-allow-headers'])).toContain('authorization');
    // A browser may send Idempotency-Key on creating POSTs and read whether the answer was a replay.
    expect(String(pre.headers['access-control-allow-headers'])).toContain('idempotency-key');
    expect(String(res.headers['access-control-expose-headers'])).toContain('Idempotent-Replayed');
  });

  it('any other origin gets no CORS header, and its preflight is refused with 403 FORBIDDEN', async () => {
    for (const origin of ['https://evil.example', 'https://app.example.test.evil.example', 'null', 'http://app.example.test']) {
      const res = await t.app.inject({ method: 'GET', url: '/api/feed', headers: { origin, authorization: `Bearer ${ann.token}` } });
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
      const pre = await t.app.inject({ method: 'OPTIONS', url: '/api/feed', headers: { origin, 'access-control-request-method': 'GET' } });
      expect(pre.statusCode).toBe(403);
      expect(pre.json().error.code).toBe('FORBIDDEN');
      expect(pre.headers['access-control-allow-origin']).toBeUndefined();
    }
  });

  it('refuses a misconfigured origin list at start-up', () => {
    expect(() => t.tdb.config({ BGC_CORS_ORIGINS: 'https://ok.example,https://bad.example/path,*' })).toThrow(/BGC_CORS_ORIGINS/);
  });
});

describe('the admin port in production', () => {
  it('refuses /metrics and the admin API without the token (401), serves them with it, compares without throwing on any length', async () => {
    const adminToken = crypto.randomBytes(24).toString('hex');
    const config = t.tdb.config({ NODE_ENV: 'production', ADMIN_TOKEN: adminToken, LOG_LEVEL: 'silent', BGC_POOL_SIZE: '1', BGC_CACHE_WARM_COUNT: '0' });
    const rt = await startRuntime(config, { logger: createLogger(config) });
    try {
      const url = (p: string) => `http://127.0.0.1:${rt.ports.admin}${p}`;
      const status = (p: string, headers: Record<string, string> = {}) => fetch(url(p), { headers }).then((r) => r.status);
      expect(await status('/metrics')).toBe(401);
      expect(await status('/admin/api/status')).toBe(401);
      for (const wrong of [adminToken.slice(0, -1), `${adminToken}x`, adminToken.slice(0, -1) + (adminToken.endsWith('a') ? 'b' : 'a'), 'x', 'dev-admin-token']) {
        expect(await status('/metrics', { authorization: `Bearer ${wrong}` })).toBe(401);
      }
      expect(await status('/metrics', { authorization: `Bearer ${adminToken}` })).toBe(200);
      expect(await status('/admin/api/status', { 'x-admin-token': adminToken })).toBe(200);
      expect(await status('/metrics', { authorization: `Basic ${Buffer.from(`prometheus:${adminToken}`).toString('base64')}` })).toBe(200);
      // HSTS on the public API in production.
      const api = await fetch(`http://127.0.0.1:${rt.ports.api}/healthz`);
      expect(api.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
    } finally { await rt.close(); }
  });

  it('production refuses to start with the default or a short admin token', () => {
    expect(() => t.tdb.config({ NODE_ENV: 'production' })).toThrow(/ADMIN_TOKEN/);
    expect(() => t.tdb.config({ NODE_ENV: 'production', ADMIN_TOKEN: 'short' })).toThrow(/ADMIN_TOKEN/);
  });
});

describe('password policy', () => {
  it('refuses short, single-class, over-long passwords and the email or user name; accepts a long mixed one', async () => {
    const register = (password: string, username = `pw_${crypto.randomBytes(4).toString('hex')}`, email = `${username}@example.test`) =>
      t.call('POST', '/api/auth/register', { body: { email, username, password } });
    expectError(await register('Short 1'), 400, 'WEAK_PASSWORD');
    expectError(await register('onlylowercaseletters'), 400, 'WEAK_PASSWORD');
    expectError(await register('1234567890123'), 400, 'WEAK_PASSWORD');
    expectError(await register(`Aa1${'x'.repeat(200)}`), 400, 'WEAK_PASSWORD');
    expectError(await register('Pw_Check_User1', 'pw_check_user1'), 400, 'WEAK_PASSWORD');
    expectError(await register('pw_mail_5@example.test', 'pw_mail_5', 'pw_mail_5@example.test'), 400, 'WEAK_PASSWORD');
    expect((await register('correct Horse battery')).status).toBe(201);
  });
});

describe('sessions fail closed', () => {
  it('a token one character off, truncated, extended or in another scheme is refused', async () => {
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    for (const token of [flip(ann.token, 0), flip(ann.token, ann.token.length - 1), ann.token.slice(0, -1), `${ann.token}A`, ann.token.toUpperCase()]) {
      expectError(await t.call('GET', '/api/auth/session', { token }), 401, 'UNAUTHENTICATED');
    }
    expectError(await t.call('GET', '/api/auth/session', { headers: { authorization: `Token ${ann.token}` } }), 401, 'UNAUTHENTICATED');
  });

  it('a logged-out token is refused at once, on every route', async () => {
    const login = await t.call<{ token: string }>('POST', '/api/auth/login', { body: { email: ben.email, password: ben.password } });
    const token = login.body.token;
    expect((await t.call('GET', '/api/chat/conversations', { token })).status).toBe(200);
    expect((await t.call('POST', '/api/auth/logout', { token })).status).toBe(200);
    for (const [method, url] of [['GET', '/api/chat/conversations'], ['GET', '/api/auth/session'], ['GET', `/api/profiles/${ann.id}`], ['POST', '/api/auth/logout']] as const) {
      expectError(await t.call(method, url, { token }), 401, 'UNAUTHENTICATED');
    }
  });

  it('an expired session and a deactivated user are refused within a second (database-driven invalidation)', async () => {
    const a = await t.call<{ token: string; user: { id: string } }>('POST', '/api/auth/login', { body: { email: ben.email, password: ben.password } });
    const victim = await registerUser(t, 'sh_gone');
    expect((await t.call('GET', '/api/auth/session', { token: a.body.token })).status).toBe(200);
    expect((await t.call('GET', '/api/auth/session', { token: victim.token })).status).toBe(200);
    const admin = await t.tdb.admin();
    try {
      await admin.query(`UPDATE sessions SET expires_at = now() - interval '1 second' WHERE token_hash = sha256(convert_to($1, 'UTF8'))`, [a.body.token]);
      await admin.query('UPDATE users SET is_active = false WHERE id = $1', [victim.id]);
    } finally { await admin.end(); }
    const refused = async (token: string) => {
      for (let i = 0; i < 40; i++) {
        if ((await t.call('GET', '/api/auth/session', { token })).status === 401) return true;
        await new Promise((r) => setTimeout(r, 50));
      }
      return false;
    };
    expect(await refused(a.body.token)).toBe(true);
    expect(await refused(victim.token)).toBe(true);
  });
});

describe('authorization beyond membership', () => {
  it('no impersonation: ids in the body are refused, and a message\'s sender is always the caller', async () => {
    const conv = await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: ann.token, body: { recipient_id: ben.id } });
    for (const extra of [{ sender_id: ben.id }, { user_id: ben.id }, { author_id: ben.id }]) {
      expectError(await t.call('POST', `/api/chat/conversations/${conv.body.id}/messages`, { token: ann.token, body: { content: 'x', ...extra } }), 400, 'VALIDATION_FAILED');
      expectError(await t.call('POST', '/api/feed', { token: ann.token, body: { content: 'x', ...extra } }), 400, 'VALIDATION_FAILED');
      expectError(await t.call('PUT', '/api/profiles/me', { token: ann.token, body: { bio: 'x', ...extra } }), 400, 'VALIDATION_FAILED');
    }
    const sent = await t.call<{ sender_id: string }>('POST', `/api/chat/conversations/${conv.body.id}/messages`, { token: ann.token, body: { content: 'mine' } });
    expect(sent.body.sender_id).toBe(ann.id);
  });

  it('a member\'s cursor does not let a non-member page through the conversation', async () => {
    const conv = await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: ann.token, body: { recipient_id: ben.id } });
    let annLsn: string | undefined;
    for (let i = 0; i < 3; i++) {
      annLsn = (await t.call('POST', `/api/chat/conversations/${conv.body.id}/messages`, { token: ann.token, body: { content: `secret ${i}` } })).lsn ?? annLsn;
    }
    // Ben reads Ann's messages at her last write's position (X-BGC-LSN): without it a lagging
    // replica could show fewer than three and no next page (a CI run under load).
    const page = await t.call<PageBody<unknown>>('GET', `/api/chat/conversations/${conv.body.id}/history?limit=1`, { token: ben.token, lsn: annLsn });
    expect(page.body.next_cursor).not.toBeNull();
    expectError(await t.call('GET', `/api/chat/conversations/${conv.body.id}/history?limit=1&cursor=${page.body.next_cursor}`, { token: eve.token }), 403, 'FORBIDDEN');
  });

  it('nobody accepts a friend request on someone else\'s behalf', async () => {
    const req = await t.call('POST', `/api/social/friend-request/${ben.id}`, { token: ann.token });
    expect(req.status).toBe(200);
    // Eve was not asked: there is nothing for her to accept, and Ben's request stays pending.
    expectError(await t.call('POST', `/api/social/friend-request/${ann.id}/accept`, { token: eve.token }), 404, 'NOT_FOUND');
    const rel = await t.call<PageBody<{ user: { id: string }; status: string; direction: string }>>('GET', '/api/social/relationships', { token: ben.token, lsn: req.lsn });
    expect(rel.body.items.find((r) => r.user.id === ann.id)).toMatchObject({ status: 'pending', direction: 'incoming' });
  });
});

describe('requests the HTTP parser refuses', () => {
  /** Writes raw bytes to the listening server and reads until it closes the connection. */
  async function rawExchange(port: number, request: string): Promise<string> {
    const net = await import('node:net');
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
      socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', reject);
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
  }

  it('headers over the limit get 431 and bytes that are not HTTP get 400, both in the API\'s error shape', async () => {
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const port = (t.app.server.address() as { port: number }).port;
    const huge = await rawExchange(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(huge).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(huge.slice(huge.indexOf('\r\n\r\n') + 4))).toEqual({ error: { code: 'HEADERS_TOO_LARGE', message: 'The request headers are too large' } });
    expect(huge.toLowerCase()).toContain('x-content-type-options: nosniff');
    const garbage = await rawExchange(port, 'NOT HTTP AT ALL\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(garbage.slice(garbage.indexOf('\r\n\r\n') + 4)).error.code).toBe('VALIDATION_FAILED');
  });
});
