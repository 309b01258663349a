import { describe, expect, it } from 'vitest';
import { proxyRefusalTimes } from '../../src/tools/bench/haproxy-log.ts';

describe('proxyRefusalTimes (HAProxy request log)', () => {
  it('counts only the 503s no server answered, split by whether they queued, with their times', () => {
    const lines = [
      '200 14 0 13 api1', // served
      '503 3 0 2 api1', // the instance's own 503 (it answered: Tr >= 0)
      '503 0 -1 -1 <NOSRV>', // queue full: refused at once
      '503 1 -1 -1 <NOSRV>',
      '503 501 500 -1 api1', // waited out `timeout queue`
      '[WARNING]  (123) : Server instances/api1 is UP', // HAProxy's own output
      '',
    ];
    expect(proxyRefusalTimes(lines)).toEqual({
      count: 3, at_once: 2, after_queueing: 1, within_1_ms: 2, within_5_ms: 2, within_25_ms: 2, p99_ms: 501, unparsed: 1,
    });
  });

  it('reports no p99 when nothing was refused', () => {
    expect(proxyRefusalTimes(['200 2 0 1 api1']).p99_ms).toBeNull();
  });
});
