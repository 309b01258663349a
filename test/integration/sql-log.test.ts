import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { startRuntime, type Runtime } from '../../src/app/runtime.ts';
import { createLogger } from '../../src/logging/logger.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

/**
 * LOG_SQL (issue 14): parsed and documented, but nothing read it. Now the db layer writes one
 * "sql" line per statement with its catalog name and parameters, secrets redacted. The real
 * runtime runs on a test database with LOG_SQL=true, its pino output captured: in development
 * the lines appear (and carry no password hash or token hash); in production config forces
 * the log off and no line appears, at the same log level.
 */
let tdb: TestDatabase;
let admin: pg.Client;
const ADMIN_TOKEN = crypto.randomBytes(20).toString('hex');

type Line = Record<string, unknown>;

async function withRuntime(env: Record<string, string>, fn: (rt: Runtime) => Promise<void>): Promise<Line[]> {
  const config = tdb.config({ LOG_SQL: 'true', LOG_LEVEL: 'info', ADMIN_TOKEN, BGC_POOL_SIZE: '2', BGC_POOL_MAX_OVERFLOW: '4', BGC_CACHE_WARM_COUNT: '0', ...env });
  const raw: string[] = [];
  const rt = await startRuntime(config, { listen: false, logger: createLogger(config, { write: (line: string) => { raw.push(line); } }) });
  try {
    await fn(rt);
  } finally {
    await rt.close();
  }
  return raw.map((l) => JSON.parse(l) as Line);
}

async function registerAndLogin(rt: Runtime, email: string, password: string): Promise<string> {
  const json = { 'content-type': 'application/json' };
  const reg = await rt.app.inject({ method: 'POST', url: '/api/auth/register', headers: json, payload: JSON.stringify({ email, username: email.split('@')[0], password }) });
  expect(reg.statusCode, reg.body).toBe(201);
  const login = await rt.app.inject({ method: 'POST', url: '/api/auth/login', headers: json, payload: JSON.stringify({ email, password }) });
  expect(login.statusCode, login.body).toBe(200);
  return (login.json() as { token: string }).token;
}

/** What the database stored for the user: the values that must never reach a log line. */
async function storedSecrets(email: string): Promise<string[]> {
  const { rows } = await admin.query<{ password_hash: string; token_hash: Buffer }>(
    `SELECT u.password_hash, s.token_hash FROM users u JOIN sessions s ON s.user_id = u.id WHERE lower(u.email) = lower($1)`, [email]);
  expect(rows.length).toBeGreaterThanOrEqual(2);
  return rows.flatMap((r) => [r.password_hash, r.token_hash.toString('hex'), r.token_hash.toString('base64'), r.token_hash.toString('base64url')]);
}

beforeAll(async () => {
  tdb = await createTestDatabase('sql_log');
  admin = await tdb.admin();
});
afterAll(async () => {
  await admin?.end();
  await tdb?.drop();
});

describe('LOG_SQL=true', () => {
  it('in development logs each statement with its catalog name, secrets redacted', async () => {
    const email = `sqllog_dev_${crypto.randomBytes(3).toString('hex')}@example.test`;
    const password = `Dev pass ${crypto.randomBytes(6).toString('hex')}`;
    let token = '';
    const lines = await withRuntime({ NODE_ENV: 'development' }, async (rt) => {
      expect(rt.deps.config.log.sql).toBe(true);
      token = await registerAndLogin(rt, email, password);
    });
    const sql = lines.filter((l) => l.msg === 'sql');
    const names = new Set(sql.map((l) => l.query));
    for (const name of ['auth.register', 'auth.find_user_by_email', 'auth.login_session']) expect(names, name).toContain(name);
    const register = sql.find((l) => l.query === 'auth.register');
    expect(register).toMatchObject({ node: 'primary', rows: 1 });
    expect(typeof register?.ms).toBe('number');
    expect(String(register?.sql)).toMatch(/^\/\* auth\.register \*\/ WITH u AS/);
    const params = register?.params as unknown[];
    expect(params[1]).toBe(email);
    expect(params[3]).toBe('[redacted]');
    expect(params[5]).toBe('[redacted]');
    const login = sql.find((l) => l.query === 'auth.login_session');
    expect((login?.params as unknown[])[2]).toBe('[redacted]');
    const text = lines.map((l) => JSON.stringify(l)).join('\n');
    for (const secret of [password, token, ...(await storedSecrets(email))]) expect(text.includes(secret), 'a secret in the log').toBe(false);
  });

  it('in production is forced off: no statement line at the same level', async () => {
    const email = `sqllog_prod_${crypto.randomBytes(3).toString('hex')}@example.test`;
    const lines = await withRuntime({ NODE_ENV: 'production' }, async (rt) => {
      expect(rt.deps.config.log.sql).toBe(false);
      await registerAndLogin(rt, email, `Prod pass ${crypto.randomBytes(6).toString('hex')}`);
    });
    expect(lines.filter((l) => l.msg === 'sql')).toEqual([]);
    expect(lines.some((l) => 'query' in l || 'sql' in l)).toBe(false);
  });
});
