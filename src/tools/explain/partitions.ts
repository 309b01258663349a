import { num, scannedRelation, walk, type PlanNode } from './plan.ts';
import type { RelationFacts } from './relations.ts';

/** How much of one partitioned table a plan touches. */
export interface PartitionUsage {
  /** The partitioned (root) table. */
  readonly table: string;
  /** Leaf partitions of the table. */
  readonly total: number;
  /**
   * Distinct partitions that appear in the plan. Partitions pruned at plan time, and at
   * executor start-up ("Subplans Removed"), do not appear; this is what the no-pruning
   * flag judges.
   */
  readonly inPlan: number;
  /** Of those, partitions actually read (loops > 0); undefined without ANALYZE. */
  readonly executed: number | undefined;
}

export interface PartitionSummary {
  readonly usage: PartitionUsage[];
  /** Sum of "Subplans Removed" over all Append/MergeAppend nodes: run-time (start-up) pruning. */
  readonly subplansRemoved: number;
}

/**
 * Counts, per partitioned table, the partitions a plan scans. A table read several times
 * in one statement (two CTEs, say) counts the union of its partitions: one unpruned read
 * is enough to make the whole statement read every month.
 */
export function partitionSummary(root: PlanNode, facts: ReadonlyMap<string, RelationFacts>, analyzed: boolean): PartitionSummary {
  const inPlan = new Map<string, Set<string>>();
  const executed = new Map<string, Set<string>>();
  const totals = new Map<string, number>();
  let subplansRemoved = 0;
  walk(root, ({ node }) => {
    subplansRemoved += num(node, 'Subplans Removed') ?? 0;
    const rel = scannedRelation(node);
    const f = rel === undefined ? undefined : facts.get(rel);
    if (!rel || !f?.root) return;
    totals.set(f.root, f.rootLeaves ?? 0);
    add(inPlan, f.root, rel);
    if ((num(node, 'Actual Loops') ?? 0) > 0) add(executed, f.root, rel);
  });
  const usage = [...inPlan.entries()]
    .map(([table, rels]) => ({
      table,
      total: totals.get(table) ?? 0,
      inPlan: rels.size,
      executed: analyzed ? (executed.get(table)?.size ?? 0) : undefined,
    }))
    .sort((a, b) => a.table.localeCompare(b.table));
  return { usage, subplansRemoved };
}

function add(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key) ?? new Set<string>();
  set.add(value);
  map.set(key, set);
}

/** "messages 2/16 (1 read)" — the short form used in tables and text output. */
export function formatUsage(u: PartitionUsage): string {
  const read = u.executed !== undefined && u.executed !== u.inPlan ? `, ${u.executed} read` : '';
  return `${u.table} ${u.inPlan}/${u.total}${read}`;
}
