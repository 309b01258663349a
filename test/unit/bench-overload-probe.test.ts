import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from '../../src/tools/bench/histogram.ts';
import type { LoadResult } from '../../src/tools/bench/load/types.ts';
import { probeData, probeFigures } from '../../src/tools/bench/scenarios/overload.ts';
import type { BenchData } from '../../src/tools/bench/data/bench-data.ts';

function histogram(values: readonly number[]): ReturnType<LatencyHistogram['snapshot']> {
  const h = new LatencyHistogram();
  for (const v of values) h.record(v);
  return h.snapshot();
}

function result(p: { ok: number[]; refused: number[]; other404: number; socketErrors: number; timeouts: number }): LoadResult {
  const all = [...p.ok, ...p.refused];
  return {
    type: 'result', mode: 'open', engine: 'test', elapsedMs: 15_000,
    responses: all.length + p.other404, non2xx: p.refused.length + p.other404, socketErrors: p.socketErrors, timeouts: p.timeouts,
    statusCounts: { 200: p.ok.length, 503: p.refused.length, 404: p.other404 },
    histogram: histogram(all), okHistogram: histogram(p.ok), refusedHistogram: histogram(p.refused),
    perOp: {}, unsent: 0, peakOpenConnections: 8, generatorLagP99Ms: 22.6, sampleErrors: [],
  };
}

describe('the overload probe client', () => {
  it('times its refusals apart from its successful answers, and counts other failures on their own', () => {
    const refused = Array.from({ length: 200 }, (_, i) => (i < 196 ? 0.4 : 12));
    const f = probeFigures(result({ ok: Array.from({ length: 500 }, () => 40), refused, other404: 3, socketErrors: 1, timeouts: 2 }));
    expect(f.answered).toBe(703);
    expect(f.refused).toBe(200);
    expect(f.refused_p50_ms).toBeLessThan(1);
    expect(f.refused_p99_ms).toBeGreaterThan(5); // the 4 slow refusals are the top 2%
    expect(f.ok_p99_ms).toBeGreaterThan(30);
    expect(f.errors_other).toBe(3 + 1 + 2);
    expect(f.generator_lag_p99_ms).toBe(22.6);
  });

  it('has no refusal figures when it was never refused', () => {
    const f = probeFigures(result({ ok: [1, 2, 3], refused: [], other404: 0, socketErrors: 0, timeouts: 0 }));
    expect(f.refused).toBe(0);
    expect(f.refused_p99_ms).toBeNull();
  });

  it('carries only a few actors and profiles, without their conversations and groups', () => {
    const actors = Array.from({ length: 300 }, (_, i) => ({ id: `a${i}`, token: `t${i}`, conversations: ['c'], hidden: [`h${i}`], groups: ['g'] }));
    const data = { actors, profileIds: Array.from({ length: 100_000 }, (_, i) => `p${i}`), galleryOwners: ['x'], recentPosts: [], rooms: ['r'], search: { places: [], interests: [], roles: [], words: [], metadataFilters: [] } } satisfies BenchData;
    const small = probeData(data);
    expect(small.actors).toHaveLength(20);
    expect(small.actors[0]).toEqual({ id: 'a0', token: 't0', conversations: [], hidden: ['h0'], groups: [] });
    expect(small.profileIds).toHaveLength(500);
    expect(small.profileIds[0]).toBe('p0');
    expect(small.rooms).toEqual([]);
  });
});
