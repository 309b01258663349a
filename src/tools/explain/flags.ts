import type { ExplainFlag } from '../../catalog/types.ts';
import { children, nestedDetails, nodeType, num, scannedRelation, str, walk, type PlanNode } from './plan.ts';
import type { RelationFacts } from './relations.ts';
import type { PartitionUsage } from './partitions.ts';

/** One thing the audit objects to, before it is matched against the entry's justifications. */
export interface Finding {
  readonly flag: ExplainFlag;
  readonly detail: string;
}

/** The thresholds of the audit (FR-008, SC-006); constants, so every run judges alike. */
export const AUDIT_LIMITS = {
  /** A Seq Scan on a relation with more rows than this is flagged (DESIGN §6). */
  seqScanRows: 10_000,
  /** Actual and estimated rows further apart than this factor are flagged. */
  misestimateFactor: 100,
  /** …but only when the larger of the two reaches this many rows: tiny nodes are noise. */
  misestimateFloor: 100,
} as const;

/** A Seq Scan on any relation above the row threshold (partitions judged by their own size). */
export function seqScanFindings(root: PlanNode, facts: ReadonlyMap<string, RelationFacts>): Finding[] {
  const out: Finding[] = [];
  walk(root, ({ node }) => {
    if (nodeType(node) !== 'Seq Scan') return;
    const rel = scannedRelation(node);
    const f = rel === undefined ? undefined : facts.get(rel);
    if (!rel || !f || f.rows <= AUDIT_LIMITS.seqScanRows) return;
    const filter = str(node, 'Filter');
    const size = f.rowsSource === 'reltuples' ? `~${Math.round(f.rows).toLocaleString('en-US')} rows (reltuples)` : `> ${AUDIT_LIMITS.seqScanRows.toLocaleString('en-US')} rows (counted)`;
    out.push({ flag: 'seq_scan', detail: `Seq Scan on ${rel}, ${size}${filter ? `, Filter: ${filter}` : ''}` });
  });
  return out;
}

/** A time-bounded entry must leave some partitions of every partitioned table it reads. */
export function pruningFindings(timeBounded: boolean, usage: readonly PartitionUsage[]): Finding[] {
  if (!timeBounded) return [];
  return usage
    .filter((u) => u.total > 1 && u.inPlan >= u.total)
    .map((u) => ({ flag: 'no_pruning' as const, detail: `all ${u.total} partitions of ${u.table} are in the plan: no partition was pruned` }));
}

/** Sorts, hashes and aggregates that went to disk, and any node that wrote temp blocks itself. */
export function spillFindings(root: PlanNode): Finding[] {
  const out: Finding[] = [];
  walk(root, ({ node }) => {
    const reasons = new Set<string>();
    for (const part of [node, ...nestedDetails(node)]) {
      const method = str(part, 'Sort Method');
      if (method?.startsWith('external')) reasons.add(`Sort Method: ${method}`);
      if (str(part, 'Sort Space Type') === 'Disk') reasons.add(`sort used ${num(part, 'Sort Space Used') ?? '?'} kB of disk`);
      const methods = part['Sort Methods Used'];
      if (Array.isArray(methods) && methods.some((m) => typeof m === 'string' && m.startsWith('external'))) reasons.add('incremental sort used an external sort');
      const batches = num(part, 'Hash Batches');
      if (batches !== undefined && batches > 1) reasons.add(`Hash Batches: ${batches}`);
      const aggBatches = num(part, 'HashAgg Batches');
      if (aggBatches !== undefined && aggBatches > 1) reasons.add(`HashAgg Batches: ${aggBatches}`);
      const disk = num(part, 'Disk Usage');
      if (disk !== undefined && disk > 0) reasons.add(`Disk Usage: ${disk} kB`);
    }
    // Buffer counts include the children's: what a node wrote beyond them is its own spill
    // (this also catches tuplestores of CTEs, materialize and window nodes).
    // A Hash Join writes the outer side's batch files for its Hash child's batches: one
    // spill, reported once, on the Hash node.
    const batchedHash = children(node).some((c) => nodeType(c) === 'Hash' && (num(c, 'Hash Batches') ?? 1) > 1);
    const written = num(node, 'Temp Written Blocks');
    if (written !== undefined && written > 0 && !batchedHash) {
      const own = written - children(node).reduce((s, c) => s + (num(c, 'Temp Written Blocks') ?? 0), 0);
      if (own > 0) reasons.add(`wrote ${own} temp blocks`);
    }
    if (reasons.size > 0) out.push({ flag: 'disk_spill', detail: `${describe(node)}: ${[...reasons].join('; ')}` });
  });
  return out;
}

/**
 * Row estimates off by more than the factor (per node, loops-aware: the per-loop estimate
 * times the loops against the rows actually produced). Rules that keep the flag about real
 * planning errors rather than noise:
 *  - the larger of estimate and actual, per loop, must reach the floor (a 1-row-per-loop
 *    lookup run 500 times that finds nothing is not a misestimate);
 *  - a node that can stop early (under a Limit, the inner side of a semi/anti join, a
 *    subplan, a merge join) legitimately returns fewer rows than planned for a full run,
 *    so only under-estimates count there;
 *  - an error is reported where it starts: parents that merely inherit a child's error in
 *    the same direction are counted in the detail, not flagged again;
 *  - nodes fed only by small relations that were never analyzed are left out: their
 *    estimate is PostgreSQL's no-statistics default (ten pages), not a statistics error;
 *    the entry lists those relations in its notes instead;
 *  - never-executed nodes, and bitmap AND/OR (which report no rows), are skipped;
 *  - a Function Scan of one of PostgreSQL's own server-state functions (see
 *    `serverStateFunction`) is not judged, nor are the nodes above that inherit its error:
 *    its row count is the server's current state (how many statements pg_stat_statements
 *    tracks, how many backends are connected), for which no statistics exist and no
 *    ANALYZE, index or rewrite can give the planner a better number than the function's
 *    constant ROWS. Judging it would fail the audit of the app's monitoring reads on how
 *    busy the server has been, not on anything in the statement.
 */
export function misestimateFindings(root: PlanNode, facts: ReadonlyMap<string, RelationFacts>): Finding[] {
  const ctes = cteSubplans(root);
  const candidates = new Map<PlanNode, Misestimate>();
  walk(root, ({ node, ancestors }) => {
    const m = misestimateOf(node, ancestors);
    // A Bitmap Index Scan names only its index: its table is the Bitmap Heap Scan above it.
    const source = nodeType(node) === 'Bitmap Index Scan' ? [...ancestors].reverse().find((a) => nodeType(a) === 'Bitmap Heap Scan') ?? node : node;
    if (m && !fedOnlyByUnanalyzed(source, ctes, facts)) candidates.set(node, m);
  });
  const out: Finding[] = [];
  walk(root, ({ node, ancestors }) => {
    const m = candidates.get(node);
    if (!m) return;
    // Inherited from below: a child, or for a CTE Scan the CTE's own plan, is off the same way.
    const cte = nodeType(node) === 'CTE Scan' ? ctes.get(str(node, 'CTE Name') ?? '') : undefined;
    const sources = cte ? [...children(node), cte] : children(node);
    if (sources.some((c) => candidates.get(c)?.dir === m.dir)) return;
    if (serverStateFunction(node) !== undefined) return;
    let inherited = 0;
    for (let i = ancestors.length - 1; i >= 0; i--) {
      const a = ancestors[i];
      if (!a || candidates.get(a)?.dir !== m.dir) break;
      inherited++;
    }
    const above = inherited > 0 ? `; ${inherited} node(s) above inherit it` : '';
    out.push({
      flag: 'misestimate',
      detail: `${describe(node)}: estimated ${fmt(m.estimate)} rows, actual ${fmt(m.actual)} over ${m.loops} loop(s) (${Math.round(m.ratio)}× ${m.dir}-estimate${above})`,
    });
  });
  return out;
}

/**
 * The function a Function Scan reads when it is one of PostgreSQL's server-state functions:
 * by PostgreSQL's naming, the `pg_`-prefixed set-returning functions behind the statistics
 * and system views (pg_stat_statements, pg_stat_get_activity, pg_lock_status,
 * pg_show_all_settings, pg_partition_tree …). App functions do not carry that prefix, so a
 * function the app defines is still judged like any other node.
 */
export function serverStateFunction(node: PlanNode): string | undefined {
  if (nodeType(node) !== 'Function Scan') return undefined;
  const fn = str(node, 'Function Name');
  return fn?.startsWith('pg_') ? fn : undefined;
}

/** Notes for the server-state Function Scans whose row error the audit did not judge, so the waiver is visible. */
export function serverStateNotes(root: PlanNode): string[] {
  const out: string[] = [];
  walk(root, ({ node, ancestors }) => {
    const fn = serverStateFunction(node);
    const m = fn === undefined ? undefined : misestimateOf(node, ancestors);
    if (fn && m) {
      out.push(`${fn}() returned ${fmt(m.actual)} rows against an estimate of ${fmt(m.estimate)}: its size is the server's state, not table statistics, so it is not judged as a misestimate`);
    }
  });
  return out;
}

interface Misestimate { readonly dir: 'under' | 'over'; readonly estimate: number; readonly actual: number; readonly loops: number; readonly ratio: number }

function misestimateOf(node: PlanNode, ancestors: readonly PlanNode[]): Misestimate | undefined {
  const type = nodeType(node);
  if (type === 'BitmapAnd' || type === 'BitmapOr') return undefined;
  const loops = num(node, 'Actual Loops');
  const actualPerLoop = num(node, 'Actual Rows');
  const estimatePerLoop = num(node, 'Plan Rows');
  if (!loops || actualPerLoop === undefined || estimatePerLoop === undefined) return undefined;
  if (Math.max(actualPerLoop, estimatePerLoop) < AUDIT_LIMITS.misestimateFloor) return undefined;
  const actual = actualPerLoop * loops;
  const estimate = estimatePerLoop * loops;
  const ratio = Math.max(actual, estimate) / Math.max(Math.min(actual, estimate), 1);
  if (ratio <= AUDIT_LIMITS.misestimateFactor) return undefined;
  if (actual < estimate && mayStopEarly(node, ancestors)) return undefined;
  return { dir: actual > estimate ? 'under' : 'over', estimate, actual, loops, ratio };
}

/** CTE name → the subplan that computes it, so a CTE Scan can be traced to its tables. */
function cteSubplans(root: PlanNode): Map<string, PlanNode> {
  const out = new Map<string, PlanNode>();
  walk(root, ({ node }) => {
    const name = str(node, 'Subplan Name');
    if (name?.startsWith('CTE ')) out.set(name.slice(4), node);
  });
  return out;
}

/** Tables a node's rows come from: its subtree's scans, through CTE Scans into their CTEs. */
export function feedingRelations(node: PlanNode, ctes: ReadonlyMap<string, PlanNode>, seen = new Set<PlanNode>()): Set<string> {
  const out = new Set<string>();
  if (seen.has(node)) return out;
  seen.add(node);
  walk(node, ({ node: n }) => {
    const rel = scannedRelation(n);
    if (rel) out.add(rel);
    const cte = nodeType(n) === 'CTE Scan' ? ctes.get(str(n, 'CTE Name') ?? '') : undefined;
    if (cte) for (const r of feedingRelations(cte, ctes, seen)) out.add(r);
  });
  return out;
}

function fedOnlyByUnanalyzed(node: PlanNode, ctes: ReadonlyMap<string, PlanNode>, facts: ReadonlyMap<string, RelationFacts>): boolean {
  const rels = [...feedingRelations(node, ctes)];
  return rels.length > 0 && rels.every((r) => isSmallUnanalyzed(facts.get(r)));
}

/** Never analyzed (reltuples = -1) and, by a bounded count, no bigger than the seq-scan threshold. */
export function isSmallUnanalyzed(f: RelationFacts | undefined): boolean {
  return f !== undefined && f.rowsSource === 'bounded_count' && f.rows <= AUDIT_LIMITS.seqScanRows;
}

function mayStopEarly(node: PlanNode, ancestors: readonly PlanNode[]): boolean {
  const path = [...ancestors, node];
  for (let i = 0; i < path.length; i++) {
    const a = path[i];
    if (!a) continue;
    const type = nodeType(a);
    const rel = str(a, 'Parent Relationship');
    if (type === 'Limit' || type === 'Merge Join' || rel === 'SubPlan' || rel === 'InitPlan') return true;
    const join = str(a, 'Join Type');
    // The inner side of a semi/anti join stops at the first match.
    const next = path[i + 1];
    if ((join === 'Semi' || join === 'Anti') && next && str(next, 'Parent Relationship') === 'Inner') return true;
  }
  return false;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** "Seq Scan on users", "Hash Join", "Sort" — how a finding names its node. */
export function describe(node: PlanNode): string {
  const rel = scannedRelation(node);
  const idx = str(node, 'Index Name');
  return `${nodeType(node)}${rel ? ` on ${rel}` : ''}${idx ? ` using ${idx}` : ''}`;
}
