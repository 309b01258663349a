import { describe, expect, it } from 'vitest';
import { commandsPerRequest, parseCommandStats } from '../../src/tools/bench/redis-commands.ts';

const INFO_BEFORE = [
  '# Commandstats',
  'cmdstat_get:calls=100,usec=300,usec_per_call=3.00,rejected_calls=0,failed_calls=0',
  'cmdstat_set:calls=40,usec=200,usec_per_call=5.00,rejected_calls=0,failed_calls=0',
  'cmdstat_info:calls=7,usec=900,usec_per_call=128.57,rejected_calls=0,failed_calls=0',
  'cmdstat_config|get:calls=2,usec=20,usec_per_call=10.00,rejected_calls=0,failed_calls=0',
].join('\r\n');
const INFO_AFTER = [
  '# Commandstats',
  'cmdstat_get:calls=1100,usec=3300,usec_per_call=3.00,rejected_calls=0,failed_calls=0',
  'cmdstat_set:calls=540,usec=2700,usec_per_call=5.00,rejected_calls=0,failed_calls=0',
  'cmdstat_evalsha:calls=100,usec=2100,usec_per_call=21.00,rejected_calls=0,failed_calls=0',
  'cmdstat_info:calls=9,usec=1200,usec_per_call=133.33,rejected_calls=0,failed_calls=0',
  'cmdstat_client|setname:calls=1,usec=2,usec_per_call=2.00,rejected_calls=0,failed_calls=0',
].join('\r\n');

describe('Redis commands per request (bench)', () => {
  it('reads INFO commandstats, leaving out the bench\'s own INFO and CONFIG', () => {
    expect(Object.fromEntries(parseCommandStats(INFO_BEFORE))).toEqual({ get: 100, set: 40 });
    expect(parseCommandStats('# Commandstats\r\n').size).toBe(0);
  });

  it('divides what ran between two readings by the requests, busiest first', () => {
    const use = commandsPerRequest(parseCommandStats(INFO_BEFORE), parseCommandStats(INFO_AFTER), 1_000);
    // 1,000 GET + 500 SET + 100 EVALSHA + 1 CLIENT SETNAME over 1,000 requests.
    expect(use).toEqual({ per_request: 1.601, top: { get: 1, set: 0.5, evalsha: 0.1, 'client|setname': 0.001 } });
    expect(Object.keys(use?.top ?? {})).toEqual(['get', 'set', 'evalsha', 'client|setname']);
  });

  it('has no figure without requests, and never counts a counter that went back (a Redis restart) as negative', () => {
    expect(commandsPerRequest(parseCommandStats(INFO_BEFORE), parseCommandStats(INFO_AFTER), 0)).toBeUndefined();
    expect(commandsPerRequest(parseCommandStats(INFO_AFTER), parseCommandStats(INFO_BEFORE), 10)).toEqual({ per_request: 0, top: {} });
  });
});
