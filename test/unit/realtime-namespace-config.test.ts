import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';

/**
 * Real-time channels and presence keys live under a prefix that does not change when the
 * cache namespace's version is bumped to reset the cache (docs/OPERATIONS.md), so a rolling
 * restart from bgc:v1 to bgc:v2 does not split delivery between old and new instances.
 */
const ns = (env: Record<string, string>) => parseConfig({ NODE_ENV: 'test', ...env }).realtime.namespace;

describe('BGC_REALTIME_NAMESPACE', () => {
  it('defaults to the cache namespace without its version', () => {
    expect(ns({})).toBe('bgc');
    expect(ns({ BGC_CACHE_NAMESPACE: 'bgc:v1' })).toBe(ns({ BGC_CACHE_NAMESPACE: 'bgc:v2' }));
    expect(ns({ BGC_CACHE_NAMESPACE: 'test:some_db' })).toBe('test:some_db');
  });

  it('can be set', () => {
    expect(ns({ BGC_CACHE_NAMESPACE: 'bgc:v3', BGC_REALTIME_NAMESPACE: 'chat' })).toBe('chat');
    expect(() => parseConfig({ NODE_ENV: 'test', BGC_REALTIME_NAMESPACE: 'bad space' })).toThrow(/BGC_REALTIME_NAMESPACE/);
  });
});
