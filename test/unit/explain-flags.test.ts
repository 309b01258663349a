import { describe, expect, it } from 'vitest';
import { AUDIT_LIMITS, misestimateFindings, pruningFindings, seqScanFindings, spillFindings } from '../../src/tools/explain/flags.ts';
import type { PlanNode } from '../../src/tools/explain/plan.ts';
import type { RelationFacts } from '../../src/tools/explain/relations.ts';
import type { PartitionUsage } from '../../src/tools/explain/partitions.ts';

/**
 * The EXPLAIN audit's flags (src/tools/explain/flags.ts) on hand-built plans in PostgreSQL's JSON
 * shape: what is flagged and, as much, what is not. Server-state functions have their own
 * file (explain-server-state.test.ts); the audit of every catalog entry on a seeded
 * database is test/integration/explain-catalog.test.ts.
 */
function node(type: string, extra: Record<string, unknown> = {}, kids: PlanNode[] = []): PlanNode {
  return { 'Node Type': type, ...extra, Plans: kids };
}
const analyzed = (type: string, plan: number, actual: number, extra: Record<string, unknown> = {}, kids: PlanNode[] = []) =>
  node(type, { 'Plan Rows': plan, 'Actual Rows': actual, 'Actual Loops': 1, ...extra }, kids);

function facts(entries: Record<string, number>, source: RelationFacts['rowsSource'] = 'reltuples'): Map<string, RelationFacts> {
  return new Map(Object.entries(entries).map(([name, rows]) => [name, { name, rows, rowsSource: source, root: undefined, rootLeaves: undefined }]));
}

describe('seq_scan', () => {
  const scan = (rel: string, schema = 'public') => node('Seq Scan', { 'Relation Name': rel, Schema: schema, Filter: '(is_active)' });

  it('flags a Seq Scan on a relation above the threshold, naming it and its filter', () => {
    const found = seqScanFindings(node('Hash Join', {}, [scan('users'), node('Hash', {}, [scan('chat_rooms')])]), facts({ users: 100_000, chat_rooms: 40 }));
    expect(found).toHaveLength(1);
    expect(found[0]?.flag).toBe('seq_scan');
    expect(found[0]?.detail).toContain('Seq Scan on users');
    expect(found[0]?.detail).toContain('Filter: (is_active)');
  });

  it('does not flag at the threshold itself, nor a relation it has no facts for', () => {
    expect(seqScanFindings(scan('users'), facts({ users: AUDIT_LIMITS.seqScanRows }))).toEqual([]);
    expect(seqScanFindings(scan('users'), facts({}))).toEqual([]);
  });

  it('keys a relation outside public by its schema', () => {
    expect(seqScanFindings(scan('reports', 'monitoring'), facts({ 'monitoring.reports': 50_000 }, 'bounded_count'))[0]?.detail).toContain('(counted)');
  });
});

const usage = (total: number, inPlan: number): PartitionUsage => ({ table: 'messages', total, inPlan, executed: undefined });

describe('no_pruning', () => {
  it('flags a time-bounded entry that keeps every partition of a table in its plan', () => {
    expect(pruningFindings(true, [usage(16, 16)])[0]?.flag).toBe('no_pruning');
  });
  it('accepts pruning, single-partition tables and entries that are not time-bounded', () => {
    expect(pruningFindings(true, [usage(16, 2)])).toEqual([]);
    expect(pruningFindings(true, [usage(1, 1)])).toEqual([]);
    expect(pruningFindings(false, [usage(16, 16)])).toEqual([]);
  });
});

describe('disk_spill', () => {
  it('flags an external sort and a batched hash, once each', () => {
    const plan = node('Hash Join', { 'Temp Written Blocks': 900 }, [
      node('Sort', { 'Sort Method': 'external merge', 'Sort Space Type': 'Disk', 'Sort Space Used': 5120, 'Temp Written Blocks': 640 }),
      node('Hash', { 'Hash Batches': 4, 'Temp Written Blocks': 0 }),
    ]);
    const found = spillFindings(plan);
    expect(found.map((f) => f.detail.split(':')[0])).toEqual(['Sort', 'Hash']);
    expect(found[0]?.detail).toContain('external merge');
    expect(found[1]?.detail).toContain('Hash Batches: 4');
  });

  it('does not flag an in-memory sort or a single-batch hash', () => {
    expect(spillFindings(node('Sort', { 'Sort Method': 'quicksort', 'Sort Space Type': 'Memory' }, [node('Hash', { 'Hash Batches': 1 })]))).toEqual([]);
  });
});

describe('misestimate', () => {
  it('flags where the error starts, not the parent that inherits it', () => {
    const plan = analyzed('Aggregate', 50, 20_000, {}, [analyzed('Index Scan', 10, 20_000, { 'Relation Name': 'messages', Schema: 'public' })]);
    const found = misestimateFindings(plan, facts({ messages: 1_000_000 }));
    expect(found).toHaveLength(1);
    expect(found[0]?.detail).toMatch(/^Index Scan/);
    expect(found[0]?.detail).toContain('1 node(s) above inherit it');
  });

  it('counts loops: 1 row estimated per loop over 500 loops that return 1 each is no error', () => {
    expect(misestimateFindings(node('Index Scan', { 'Plan Rows': 1, 'Actual Rows': 1, 'Actual Loops': 500 }), facts({}))).toEqual([]);
  });

  it('forgives an over-estimate under a Limit (it stops early), never an under-estimate', () => {
    const over = analyzed('Limit', 10, 10, {}, [analyzed('Seq Scan', 100_000, 10, { 'Relation Name': 'users', Schema: 'public' })]);
    expect(misestimateFindings(over, facts({ users: 100_000 }))).toEqual([]);
    const under = analyzed('Limit', 10, 10, {}, [analyzed('Index Scan', 10, 50_000, { 'Relation Name': 'users', Schema: 'public' })]);
    expect(misestimateFindings(under, facts({ users: 100_000 }))[0]?.flag).toBe('misestimate');
  });

  it('ignores small nodes below the floor and errors within the factor', () => {
    expect(misestimateFindings(analyzed('Seq Scan', 1, 99, { 'Relation Name': 'users' }), facts({ users: 100_000 }))).toEqual([]);
    expect(misestimateFindings(analyzed('Seq Scan', 100, 10_000, { 'Relation Name': 'users' }), facts({ users: 100_000 }))).toEqual([]);
    expect(misestimateFindings(analyzed('Seq Scan', 100, 10_001, { 'Relation Name': 'users' }), facts({ users: 100_000 }))).toHaveLength(1);
  });
});
