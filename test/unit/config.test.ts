import { describe, it, expect } from 'vitest';
import { parseConfig, poolCapacity, ConfigError } from '../../src/config/index.ts';

describe('configuration', () => {
  it('defaults to the local stack with two replicas', () => {
    const c = parseConfig({});
    expect(c.database.primaryUrl).toBe('postgres://postgres@127.0.0.1:54320/bgc');
    expect(c.database.replicaUrls).toHaveLength(2);
    expect(c.redis.url).toBe('redis://127.0.0.1:63790');
    expect(c.http.port).toBe(3000);
    expect(c.http.adminPort).toBe(3001);
    expect(c.pool).toMatchObject({ size: 10, maxOverflow: 20 });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.pool)).toBe(true);
  });

  it('derives the pool once: tuned settings, or node-postgres defaults in the baseline mode', () => {
    const tuned = parseConfig({ BGC_POOL_SIZE: '7', BGC_POOL_MAX_OVERFLOW: '5' }).pool;
    expect([tuned.size, tuned.maxOverflow, poolCapacity(tuned)]).toEqual([7, 5, 12]);
    const baseline = parseConfig({ BGC_BASELINE: 'true', BGC_POOL_SIZE: '7' }).pool;
    expect([baseline.size, baseline.maxOverflow, poolCapacity(baseline)]).toEqual([0, 10, 10]);
    expect(baseline.maxLifetimeSeconds).toBe(0);
  });

  it('names every bad variable at once', () => {
    let caught: unknown;
    try {
      parseConfig({ PORT: 'abc', DATABASE_URL: 'not a url', NODE_ENV: 'staging', BGC_POOL_SIZE: '-1' });
    } catch (err) { caught = err; }
    expect(caught).toBeInstanceOf(ConfigError);
    const msg = (caught as Error).message;
    for (const v of ['PORT', 'DATABASE_URL', 'NODE_ENV', 'BGC_POOL_SIZE']) expect(msg).toContain(v);
  });

  it('refuses PORT equal to ADMIN_PORT and a trusted-proxy entry that is no address, before anything starts', () => {
    // Before: the second listen failed, or Fastify threw, after the pools and Redis were open.
    expect(() => parseConfig({ PORT: '4000', ADMIN_PORT: '4000' })).toThrow(/PORT and ADMIN_PORT are both 4000/);
    expect(parseConfig({ PORT: '0', ADMIN_PORT: '0' }).http).toMatchObject({ port: 0, adminPort: 0 });
    // The admin port needs no token outside production: it stays on 127.0.0.1 whatever HOST says.
    expect(parseConfig({ HOST: '0.0.0.0' }).http).toMatchObject({ host: '0.0.0.0', adminHost: '127.0.0.1' });
    expect(parseConfig({ HOST: '0.0.0.0', NODE_ENV: 'production', ADMIN_TOKEN: 'a-long-production-token' }).http).toMatchObject({ adminHost: '0.0.0.0' });
    expect(parseConfig({ HOST: '0.0.0.0', ADMIN_HOST: '10.0.0.5' }).http).toMatchObject({ adminHost: '10.0.0.5' });
    expect(() => parseConfig({ BGC_TRUST_PROXY: 'foo' })).toThrow(/BGC_TRUST_PROXY: "foo"/);
    expect(() => parseConfig({ BGC_TRUST_PROXY: '10.0.0.0/33' })).toThrow(/BGC_TRUST_PROXY/);
    expect(parseConfig({ BGC_TRUST_PROXY: '127.0.0.1, 10.0.0.0/8, ::1, fd00::/8, loopback' }).http).toBeDefined();
    expect(parseConfig({ BGC_TRUST_PROXY: '2' }).trustProxy).toBe(2);
  });

  it('rejects a malformed replica URL list', () => {
    expect(() => parseConfig({ DATABASE_URL: 'postgres://a@h/db', DATABASE_REPLICA_URLS: 'postgres://a@h/db, nope' })).toThrow(/DATABASE_REPLICA_URLS/);
  });

  it('uses no replicas when only DATABASE_URL is set', () => {
    expect(parseConfig({ DATABASE_URL: 'postgres://a@h/db' }).database.replicaUrls).toEqual([]);
  });

  it('production turns SQL statement logging off and refuses the default admin token', () => {
    expect(() => parseConfig({ NODE_ENV: 'production' })).toThrow(/ADMIN_TOKEN/);
    const c = parseConfig({ NODE_ENV: 'production', ADMIN_TOKEN: 'a-long-production-secret', LOG_SQL: 'true' });
    expect(c.log.sql).toBe(false);
    expect(parseConfig({ NODE_ENV: 'development', LOG_SQL: 'true' }).log.sql).toBe(true);
  });
});
