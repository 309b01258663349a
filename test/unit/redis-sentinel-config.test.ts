import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/index.ts';
import { describeRedisTarget, sentinelEndpoint } from '../../src/cache/redis-connection.ts';
import { defaultSentinelPorts, sentinelEnv, sentinelLayoutFor } from '../../src/tools/stack/sentinel/layout.ts';

describe('REDIS_SENTINELS / REDIS_SENTINEL_NAME', () => {
  it('unset: Redis at REDIS_URL directly', () => {
    const c = parseConfig({});
    expect(c.redis.sentinels).toEqual([]);
    expect(sentinelEndpoint(c.redis)).toBeUndefined();
    expect(describeRedisTarget(c.redis)).toBe('redis://127.0.0.1:63790');
  });

  it('a host:port list (spaces and empty items ignored) and the master name', () => {
    const c = parseConfig({ REDIS_SENTINELS: ' 127.0.0.1:26379, sentinel-b:26380,,10.0.0.3:26381 ', REDIS_SENTINEL_NAME: 'cache-1' });
    expect(c.redis.sentinels).toEqual([{ host: '127.0.0.1', port: 26379 }, { host: 'sentinel-b', port: 26380 }, { host: '10.0.0.3', port: 26381 }]);
    expect(c.redis.sentinelName).toBe('cache-1');
    expect(describeRedisTarget(c.redis)).toBe('master "cache-1" of sentinels 127.0.0.1:26379,sentinel-b:26380,10.0.0.3:26381');
  });

  it('refuses an item that is not host:port, or a bad name, naming the variable', () => {
    for (const bad of ['127.0.0.1', 'host:0', 'host:70000', 'a:1:2', 'http://x:1']) {
      expect(() => parseConfig({ REDIS_SENTINELS: bad }), bad).toThrow(/REDIS_SENTINELS/);
    }
    expect(() => parseConfig({ REDIS_SENTINELS: 'h:1', REDIS_SENTINEL_NAME: 'a b' })).toThrow(ConfigError);
  });
});

describe('bgc stack up --sentinel layout', () => {
  it('63791-63793 for Redis and 63794-63796 for the sentinels, moved by BGC_STACK_PORT_OFFSET', () => {
    expect(defaultSentinelPorts(0)).toEqual({ redis: [63791, 63792, 63793], sentinels: [63794, 63795, 63796] });
    const layout = sentinelLayoutFor(parseConfig({ BGC_STACK_PORT_OFFSET: '200' }));
    expect(layout.redis.map((n) => n.port)).toEqual([63991, 63992, 63993]);
    expect(sentinelEnv(layout)).toEqual({ REDIS_SENTINELS: '127.0.0.1:63994,127.0.0.1:63995,127.0.0.1:63996', REDIS_SENTINEL_NAME: 'bgc' });
    // What `up` prints is what config accepts.
    expect(parseConfig(sentinelEnv(layout)).redis.sentinels.map((s) => s.port)).toEqual([63994, 63995, 63996]);
  });
});
