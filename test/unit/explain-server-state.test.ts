import { describe, it, expect } from 'vitest';
import { misestimateFindings, serverStateFunction, serverStateNotes } from '../../src/tools/explain/flags.ts';
import type { PlanNode } from '../../src/tools/explain/plan.ts';

/**
 * Issue 14: on a server whose pg_stat_statements held a few hundred entries, the audit
 * flagged dashboard.live_statements with an unjustified 372× under-estimate on its
 * Function Scan. The plan below is the shape `bgc explain --out` wrote for that entry
 * (PostgreSQL 15, EXPLAIN ANALYZE VERBOSE), with the measured row counts.
 */
function node(type: string, plan: number, actual: number, extra: Record<string, unknown> = {}, kids: PlanNode[] = []): PlanNode {
  return { 'Node Type': type, 'Plan Rows': plan, 'Actual Rows': actual, 'Actual Loops': 1, ...extra, Plans: kids };
}

function liveStatementsPlan(functionName: string, schema: string): PlanNode {
  return node('Limit', 1, 10, {}, [
    node('Seq Scan', 1, 1, { 'Parent Relationship': 'InitPlan', 'Relation Name': 'pg_database', Schema: 'pg_catalog' }),
    node('Sort', 1, 10, { 'Parent Relationship': 'Outer' }, [
      node('Aggregate', 1, 19, { 'Parent Relationship': 'Outer' }, [
        node('Sort', 2, 743, { 'Parent Relationship': 'Outer' }, [
          node('Function Scan', 2, 743, { 'Parent Relationship': 'Outer', 'Function Name': functionName, Schema: schema }),
        ]),
      ]),
    ]),
  ]);
}

describe('misestimates on PostgreSQL server-state functions', () => {
  it('does not flag the Function Scan over pg_stat_statements, nor the Sort that inherits its rows', () => {
    const root = liveStatementsPlan('pg_stat_statements', 'public');
    expect(misestimateFindings(root, new Map())).toEqual([]);
  });

  it('says in a note what it did not judge, with the measured rows', () => {
    const notes = serverStateNotes(liveStatementsPlan('pg_stat_statements', 'public'));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain('pg_stat_statements() returned 743 rows against an estimate of 2');
  });

  it('still flags the same error on a function the app defines', () => {
    const findings = misestimateFindings(liveStatementsPlan('bgc_expand_terms', 'public'), new Map());
    expect(findings.map((f) => f.detail)).toEqual([
      'Function Scan: estimated 2 rows, actual 743 over 1 loop(s) (372× under-estimate; 1 node(s) above inherit it)',
    ]);
    expect(serverStateNotes(liveStatementsPlan('bgc_expand_terms', 'public'))).toEqual([]);
  });

  it('recognises only Function Scans of pg_-prefixed functions', () => {
    expect(serverStateFunction({ 'Node Type': 'Function Scan', 'Function Name': 'pg_stat_get_activity', Schema: 'pg_catalog' })).toBe('pg_stat_get_activity');
    expect(serverStateFunction({ 'Node Type': 'Function Scan', 'Function Name': 'unnest', Schema: 'pg_catalog' })).toBeUndefined();
    expect(serverStateFunction({ 'Node Type': 'Seq Scan', 'Relation Name': 'pg_stat_statements_info' })).toBeUndefined();
  });

  it('still flags a misestimate that starts elsewhere in a plan that also reads server state', () => {
    const root = node('Hash Join', 5, 50_000, {}, [
      node('Seq Scan', 5, 50_000, { 'Parent Relationship': 'Outer', 'Relation Name': 'statement_stats', Schema: 'monitoring' }),
      node('Hash', 2, 743, { 'Parent Relationship': 'Inner' }, [
        node('Function Scan', 2, 743, { 'Parent Relationship': 'Outer', 'Function Name': 'pg_stat_statements', Schema: 'public' }),
      ]),
    ]);
    expect(misestimateFindings(root, new Map()).map((f) => f.detail)).toEqual([
      'Seq Scan on monitoring.statement_stats: estimated 5 rows, actual 50,000 over 1 loop(s) (10000× under-estimate; 1 node(s) above inherit it)',
    ]);
  });
});
