import { actualTotalRows, children, nodeType, num, relationRef, scannedRelation, str, type PlanNode } from './plan.ts';
import type { RelationFacts } from './relations.ts';

const MAX_LINES = 60;

const AGG_NAMES: Readonly<Record<string, string>> = { Plain: 'Aggregate', Sorted: 'GroupAggregate', Hashed: 'HashAggregate', Mixed: 'MixedAggregate' };

interface Shaped {
  /** Identity for collapsing siblings: partitions of one table compare equal. */
  readonly key: string;
  readonly label: string;
  readonly groupLabel: string;
  readonly rows: number | undefined;
  readonly loops: number | undefined;
  readonly kids: Shaped[];
}

/**
 * The plan as a compact indented tree of node types: one line per node, scans with their
 * table and index, and identical sibling scans of partitions folded into one "×N" line
 * (an Append over twelve months reads as one line, not twelve).
 */
export function planShape(root: PlanNode, facts: ReadonlyMap<string, RelationFacts>): string[] {
  const lines: string[] = [];
  const emit = (g: Group, depth: number): void => {
    if (lines.length >= MAX_LINES) return;
    const label = g.count > 1 ? `${g.shape.groupLabel} ×${g.count}` : g.shape.label;
    lines.push(`${'  '.repeat(depth)}${label}${stats(g)}`);
    for (const kid of fold(g.shape.kids)) emit(kid, depth + 1);
  };
  const top = shapeOf(root, facts);
  emit({ shape: top, count: 1, rows: top.rows, neverExecuted: top.loops === 0 }, 0);
  const total = countNodes(root);
  if (lines.length >= MAX_LINES && total > MAX_LINES) lines.push(`… ${total - MAX_LINES} more nodes (see the full plan)`);
  return lines;
}

/** Consecutive siblings with the same key, folded: their count and summed rows. */
interface Group { readonly shape: Shaped; count: number; rows: number | undefined; neverExecuted: boolean }

function stats(g: Group): string {
  if (g.rows === undefined) return '';
  if (g.neverExecuted) return '  (never executed)';
  const loops = g.count === 1 ? g.shape.loops : undefined;
  return `  (rows ${Math.round(g.rows).toLocaleString('en-US')}${loops !== undefined && loops > 1 ? `, loops ${loops}` : ''})`;
}

function countNodes(node: PlanNode): number {
  return 1 + children(node).reduce((s, c) => s + countNodes(c), 0);
}

function fold(kids: readonly Shaped[]): Group[] {
  const out: Group[] = [];
  for (const k of kids) {
    const last = out[out.length - 1];
    if (last && last.shape.key === k.key) {
      last.count += 1;
      last.rows = last.rows === undefined || k.rows === undefined ? undefined : last.rows + k.rows;
      last.neverExecuted = last.neverExecuted && k.loops === 0;
    } else {
      out.push({ shape: k, count: 1, rows: k.rows, neverExecuted: k.loops === 0 });
    }
  }
  return out;
}

function shapeOf(node: PlanNode, facts: ReadonlyMap<string, RelationFacts>): Shaped {
  const kids = children(node).map((c) => shapeOf(c, facts));
  const base = baseLabel(node);
  const role = str(node, 'Parent Relationship');
  const subName = str(node, 'Subplan Name');
  const prefix = subName ? `${subName}: ` : role === 'InitPlan' || role === 'SubPlan' ? `${role}: ` : '';
  const rel = scannedRelation(node);
  const root = rel ? facts.get(rel)?.root : undefined;
  const index = str(node, 'Index Name');
  const other = str(node, 'CTE Name') ?? str(node, 'Function Name');
  const relPart = rel ? ` on ${rel}` : other ? ` on ${other}` : '';
  const idxPart = index ? ` using ${index}` : '';
  // Partition indexes are named <partition>_<columns>_idx: fold the month out of the name.
  const groupRel = root ? ` on ${root} partitions` : relPart;
  const groupIdx = index && rel && root && index.startsWith(`${rel}_`) ? ` using ${root}_*_${index.slice(rel.length + 1)}` : idxPart;
  const kidKeys = kids.map((k) => k.key).join(',');
  return {
    key: `${prefix}${base}${groupRel}${groupIdx}[${kidKeys}]`,
    label: `${prefix}${base}${relPart}${idxPart}`,
    groupLabel: `${prefix}${base}${groupRel}${groupIdx}`,
    rows: actualTotalRows(node),
    loops: num(node, 'Actual Loops'),
    kids,
  };
}

function baseLabel(node: PlanNode): string {
  const type = nodeType(node);
  if (type === 'ModifyTable') return `${str(node, 'Operation') ?? type} on ${relationRef(node)?.key ?? '?'}`;
  if (type === 'Aggregate') return AGG_NAMES[str(node, 'Strategy') ?? 'Plain'] ?? type;
  const join = str(node, 'Join Type');
  const parallel = node['Parallel Aware'] === true ? 'Parallel ' : '';
  const removed = num(node, 'Subplans Removed');
  const suffix = removed ? ` (${removed} subplans removed)` : '';
  return `${parallel}${type}${join && join !== 'Inner' ? ` ${join}` : ''}${suffix}`;
}
