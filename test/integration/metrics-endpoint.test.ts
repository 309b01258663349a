import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime, type Runtime } from '../../src/app/runtime.ts';
import { defineQuery } from '../../src/catalog/types.ts';
import { systemQueries } from '../../src/db/system-queries.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { appMetrics, readMetricsDoc } from '../helpers/metrics-doc.ts';

/**
 * The admin port's /metrics after a short workload exposes every family in docs/METRICS.md,
 * with the documented type; every family documented as present after requests (or always, or
 * with replicas) has samples. Families documented "after first event" have samples only once
 * their event happened: this test causes a failing catalog query; the others (a background
 * job run, a GC, a partition maintenance success) are checked for their # TYPE line only.
 */

// A test-only catalog entry that always fails (division by zero), to produce query errors.
const failing = defineQuery({ name: 'monitoring_test.fail', description: 'Fails on purpose.', target: 'primary', sample: [], sql: 'SELECT 1 / 0 AS boom' });
const CAUSED_EVENTS = new Set(['bgc_db_query_errors_total']);

let tdb: TestDatabase;
let runtime: Runtime;
let admin: pg.Client;

beforeAll(async () => {
  tdb = await createTestDatabase('metrics');
  admin = await tdb.admin();
  runtime = await startRuntime(tdb.config());
}, 60_000);

afterAll(async () => {
  await runtime?.close();
  await admin?.end();
  await tdb?.drop();
});

interface Scrape { types: Map<string, string>; samples: Set<string> }

function parseExposition(text: string): Scrape {
  const types = new Map<string, string>();
  const samples = new Set<string>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t?.[1] && t[2]) types.set(t[1], t[2]);
    else if (line && !line.startsWith('#')) samples.add(/^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0] ?? '');
  }
  return { types, samples };
}

describe('admin /metrics exposes the metric contract', () => {
  it('after a short workload every documented family is there, with samples where the doc says so', async () => {
    const api = `http://127.0.0.1:${runtime.ports.api}`;
    for (let i = 0; i < 5; i++) {
      expect((await fetch(`${api}/healthz`)).status).toBe(200);
      await fetch(`${api}/readyz`); // system.ping on the primary
      expect((await fetch(`${api}/no-such-route`)).status).toBe(404);
      await runtime.deps.db.query(systemQueries.replayedPast, ['0/0']); // a replica-routed read
      await expect(runtime.deps.db.query(failing, [])).rejects.toThrow(/division by zero/);
    }
    const res = await fetch(`http://127.0.0.1:${runtime.ports.admin}/metrics`);
    expect(res.status).toBe(200);
    const scrape = parseExposition(await res.text());

    const problems: string[] = [];
    for (const m of appMetrics(readMetricsDoc())) {
      const type = scrape.types.get(m.name);
      if (type !== m.type) { problems.push(`${m.name}: # TYPE ${type ?? 'missing'}, doc says ${m.type}`); continue; }
      const needsSamples = m.present !== 'after first event' || CAUSED_EVENTS.has(m.name);
      const sampleName = m.type === 'histogram' || m.type === 'summary' ? `${m.name}_count` : m.name;
      if (needsSamples && !scrape.samples.has(sampleName)) problems.push(`${m.name}: no samples (doc: ${m.present ?? '?'})`);
    }
    expect(problems).toEqual([]);
  });

  it('labels the workload as the doc describes: route pattern, status class, catalog name and role', async () => {
    const text = await (await fetch(`http://127.0.0.1:${runtime.ports.admin}/metrics`)).text();
    expect(text).toMatch(/bgc_http_request_duration_seconds_count\{route="\/healthz",method="GET",status_class="2xx"\} [1-9]/);
    expect(text).toMatch(/bgc_http_request_duration_seconds_count\{route="unmatched",method="GET",status_class="4xx"\} [1-9]/);
    // A replica-target read; under heavy lag on the shared stack the router may send it to the primary.
    expect(text).toMatch(/bgc_db_query_duration_seconds_count\{query="system\.replayed_past",role="(replica|primary)"\} [1-9]/);
    expect(text).toMatch(/bgc_db_query_errors_total\{query="monitoring_test\.fail",role="primary"\} 5/);
    expect(text).toMatch(/bgc_db_pool_connections\{node="primary",role="primary",state="total"\} [1-9]/);
    expect(text).toMatch(/bgc_replica_available\{node="replica1"\} [01]/);
    expect(text).toMatch(/bgc_replica_lag_bytes\{node="replica2"\} \d/);
  });
});
