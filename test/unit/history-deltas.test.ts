import { describe, it, expect } from 'vitest';
import { computeStatementDeltas, catalogNameOf, counterDelta, type StatementSample, type StatementCounters } from '../../src/ops/history/deltas.ts';

const c = (calls: number, time: number): StatementCounters => ({ calls, totalExecTime: time, rows: calls, sharedBlksHit: calls * 2, sharedBlksRead: 0, tempBlksWritten: 0 });
const s = (queryid: string, calls: number, time: number): StatementSample => ({ queryid, query: `/* a.${queryid} */ SELECT 1`, ...c(calls, time) });

describe('statement deltas', () => {
  it('keeps only a baseline on the first snapshot', () => {
    const r = computeStatementDeltas([s('1', 5, 10)], { dealloc: 0, statsReset: 'T0' }, { info: undefined, counters: new Map() });
    expect(r).toMatchObject({ hasBaseline: false, deltas: [] });
  });

  it('subtracts, marks new entries, drops unmoved ones and sorts by delta time', () => {
    const r = computeStatementDeltas(
      [s('1', 15, 30), s('2', 4, 100), s('3', 9, 9)],
      { dealloc: 0, statsReset: 'T0' },
      { info: { dealloc: 0, statsReset: 'T0' }, counters: new Map([['1', c(5, 10)], ['3', c(9, 9)]]) },
    );
    expect(r.resetDetected).toBe(false);
    expect(r.deltas.map((d) => [d.queryid, d.kind, d.delta.calls, d.delta.totalExecTime])).toEqual([['2', 'new', 4, 100], ['1', 'normal', 10, 20]]);
  });

  it('a changed stats_reset makes every delta a reset equal to the cumulative counts', () => {
    const r = computeStatementDeltas([s('1', 3, 6)], { dealloc: 2, statsReset: 'T1' }, { info: { dealloc: 50, statsReset: 'T0' }, counters: new Map([['1', c(100, 200)]]) });
    expect(r).toMatchObject({ fullReset: true, resetDetected: true, deallocDelta: 2 });
    expect(r.deltas[0]).toMatchObject({ kind: 'reset', delta: { calls: 3, totalExecTime: 6 } });
  });

  it('calls going down is an eviction when deallocations happened, else a per-entry reset', () => {
    const base = { counters: new Map([['1', c(100, 200)]]) };
    const evicted = computeStatementDeltas([s('1', 3, 6)], { dealloc: 7, statsReset: 'T0' }, { ...base, info: { dealloc: 4, statsReset: 'T0' } });
    expect(evicted).toMatchObject({ fullReset: false, resetDetected: false, deallocDelta: 3 });
    expect(evicted.deltas[0]).toMatchObject({ kind: 'evicted', delta: { calls: 3 } });
    const reset = computeStatementDeltas([s('1', 3, 6)], { dealloc: 4, statsReset: 'T0' }, { ...base, info: { dealloc: 4, statsReset: 'T0' } });
    expect(reset).toMatchObject({ fullReset: false, resetDetected: true, deallocDelta: 0 });
    expect(reset.deltas[0]).toMatchObject({ kind: 'reset', delta: { calls: 3 } });
  });

  it('counterDelta treats a decrease as a counter reset and missing values as unknown', () => {
    expect(counterDelta(10, 4)).toBe(6);
    expect(counterDelta(3, 40)).toBe(3);
    expect(counterDelta(3, null)).toBeNull();
  });

  it('parses the catalog name from the leading comment only', () => {
    expect(catalogNameOf('/* chat.inbox */ SELECT 1')).toBe('chat.inbox');
    expect(catalogNameOf('  /*history.node_stats*/SELECT 1')).toBe('history.node_stats');
    expect(catalogNameOf('SELECT 1 /* chat.inbox */')).toBeNull();
    expect(catalogNameOf('/* pre-ping */ SELECT 1')).toBeNull();
  });
});
