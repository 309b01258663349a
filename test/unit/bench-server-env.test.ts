import { describe, expect, it } from 'vitest';
import { parseServerEnv, resolveOptions } from '../../src/tools/cli/commands/bench.ts';

describe('bgc bench --server-env', () => {
  it('passes BGC_* settings to the server under test', () => {
    expect(parseServerEnv('BGC_SEND_GROUP_IN_FLIGHT=4, BGC_SEND_GROUP_MAX=32')).toEqual({ BGC_SEND_GROUP_IN_FLIGHT: '4', BGC_SEND_GROUP_MAX: '32' });
    expect(resolveOptions({ workload: 'send', serverEnv: 'BGC_CACHE_PAGE_TTL_MS=0' }, 'bench').serverEnv).toEqual({ BGC_CACHE_PAGE_TTL_MS: '0' });
    expect(resolveOptions({ workload: 'send' }, 'bench').serverEnv).toBeUndefined();
  });

  it('--instances: servers behind the fleet\'s HAProxy, so only with --haproxy', () => {
    expect(resolveOptions({ workload: 'mixed' }, 'bench').instances).toBe(1);
    expect(resolveOptions({ workload: 'mixed', haproxy: true, instances: '3' }, 'bench').instances).toBe(3);
    expect(() => resolveOptions({ workload: 'mixed', instances: '2' }, 'bench')).toThrow(/--instances needs --haproxy/);
    expect(() => resolveOptions({ workload: 'mixed', haproxy: true, instances: '9' }, 'bench')).toThrow(/--instances must be a positive integer ≤ 8/);
  });

  it('refuses names the bench owns and pairs without a name', () => {
    expect(() => parseServerEnv('DATABASE_URL=postgres://elsewhere')).toThrow(/BGC_\* names, got "DATABASE_URL=postgres:\/\/elsewhere"/);
    expect(() => parseServerEnv('=4')).toThrow(/NAME=value/);
    expect(() => parseServerEnv('BGC_SEND_GROUP_MAX')).toThrow(/NAME=value/);
  });
});
