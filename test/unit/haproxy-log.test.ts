import { describe, expect, it } from 'vitest';
import { proxyRefusalTimes, refusalsPerSecond } from '../../src/tools/bench/haproxy-log.ts';

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

  it('parses lines that carry the request start too', () => {
    expect(proxyRefusalTimes(['503 0 -1 -1 <NOSRV> 1796529067 605 0 1697 0']).at_once).toBe(1);
  });
});

describe('refusalsPerSecond (HAProxy request log)', () => {
  it('counts refusals by the second each request started: accept date + Th + Ti + TR', () => {
    const lines = [
      '200 5 0 4 api1 1000 900 0 50 0', // starts at 1,000.950 s: second 0
      '503 0 -1 -1 <NOSRV> 1000 100 0 1000 0', // the same keep-alive client idle 1 s: 1,001.100 → second 0
      '503 0 -1 -1 <NOSRV> 1000 100 0 1900 0', // 1,002.000 → second 1
      '503 2 0 1 api1 1000 100 0 1950 0', // the instance's own 503 (Tr ≥ 0): not the proxy's
      '503 0 -1 -1 <NOSRV> 1003 0 1 0 0', // 1,003.001 → second 2
      '200 14 0 13 api1', // an older line without the start: left out
      '[WARNING]  (123) : Server instances/api1 is UP',
      '',
    ];
    expect(refusalsPerSecond(lines)).toEqual([1, 1, 1]);
  });

  it('takes the log of an overload run of 200,000 requests (more than a call can take as arguments)', () => {
    const lines = Array.from({ length: 200_000 }, (_, i) => `503 0 -1 -1 <NOSRV> ${2000 - Math.floor(i / 100_000)} 0 0 0 0`);
    expect(refusalsPerSecond(lines)).toEqual([100_000, 100_000]);
  });

  it('is empty when no line says when it started', () => {
    expect(refusalsPerSecond(['503 0 -1 -1 <NOSRV>'])).toEqual([]);
  });
});
