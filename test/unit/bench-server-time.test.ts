import { describe, expect, it } from 'vitest';
import { parsePromText, PromSnapshot } from '../../src/tools/bench/prom-text.ts';
import { serverMeasures } from '../../src/tools/bench/server-metrics.ts';

const scrape = (text: string) => new PromSnapshot(parsePromText(text));

describe('bench: where a request\'s time went (server-metrics.ts)', () => {
  const before = scrape(`
bgc_http_request_duration_seconds_count{route="/a",method="GET",status_class="2xx"} 100
bgc_http_request_duration_seconds_sum{route="/a",method="GET",status_class="2xx"} 0.5
bgc_process_nodejs_eventloop_lag_p99_seconds 0.5
`);
  const after = scrape(`
bgc_http_request_duration_seconds_count{route="/a",method="GET",status_class="2xx"} 1100
bgc_http_request_duration_seconds_sum{route="/a",method="GET",status_class="2xx"} 2.5
bgc_http_request_duration_seconds_count{route="/b",method="POST",status_class="2xx"} 1000
bgc_http_request_duration_seconds_sum{route="/b",method="POST",status_class="2xx"} 6
bgc_process_nodejs_eventloop_lag_mean_seconds 0.0115
bgc_process_nodejs_eventloop_lag_p50_seconds 0.01005
bgc_process_nodejs_eventloop_lag_p99_seconds 0.042
bgc_process_nodejs_eventloop_lag_max_seconds 0.0904
`);

  it('takes the server\'s mean over the run from the histogram\'s sum and count deltas', () => {
    // (2.5 − 0.5 + 6) s over (1,000 + 1,000) requests = 4 ms.
    expect(serverMeasures(before, after, new Map(), 2000).server_mean_ms).toBe(4);
  });

  it('splits the same by route', () => {
    expect(serverMeasures(before, after, new Map(), 2000).server_time_by_route).toEqual({
      'GET /a': { requests: 1000, mean_ms: 2 },
      'POST /b': { requests: 1000, mean_ms: 6 },
    });
  });

  it('reads the event-loop delay from the last scrape, without the 10 ms timer period', () => {
    // prom-client resets its histogram at each scrape, so the last one covers the run alone.
    expect(serverMeasures(before, after, new Map(), 2000).event_loop_delay_ms).toEqual({ mean: 1.5, p50: 0.05, p99: 32, max: 80.4 });
  });

  it('says null where the server exports neither', () => {
    const bare = scrape('bgc_db_queries_total 3\n');
    const m = serverMeasures(bare, bare, new Map(), 10);
    expect(m.server_mean_ms).toBeNull();
    expect(m.event_loop_delay_ms).toBeNull();
  });
});

describe('bench: several instances behind HAProxy (PromSnapshot.merge)', () => {
  const one = (requests: number, seconds: number, lagP99: number) => scrape(`
bgc_http_request_duration_seconds_count{route="/a",method="GET",status_class="2xx"} ${requests}
bgc_http_request_duration_seconds_sum{route="/a",method="GET",status_class="2xx"} ${seconds}
bgc_process_nodejs_eventloop_lag_p99_seconds ${lagP99}
`);

  it('adds the instances\' counters and takes the worst instance\'s event loop delay', () => {
    const before = PromSnapshot.merge([one(0, 0, 0.011), one(0, 0, 0.011)]);
    const after = PromSnapshot.merge([one(1000, 2, 0.02), one(3000, 2, 0.05)]);
    const m = serverMeasures(before, after, new Map(), 4000);
    // (2 + 2) s over 4,000 requests, not either instance's mean alone.
    expect(m.server_mean_ms).toBe(1);
    expect(m.event_loop_delay_ms?.p99).toBe(40);
  });

  it('leaves a single scrape as it is', () => {
    const s = one(5, 1, 0.02);
    expect(PromSnapshot.merge([s])).toBe(s);
  });
});
