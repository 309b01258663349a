/**
 * A typed view of `EXPLAIN (FORMAT JSON)` output. PostgreSQL's JSON plan is a tree of
 * objects whose keys depend on the node type and the options used, so nodes stay plain
 * records and are read through small accessors instead of a fixed interface that would
 * silently lie about keys a given server version does not print.
 */
export type PlanNode = Readonly<Record<string, unknown>>;

export interface ExplainDocument {
  readonly root: PlanNode;
  readonly planningMs: number | undefined;
  readonly executionMs: number | undefined;
  /** Whether the plan carries actual row counts (EXPLAIN ANALYZE). */
  readonly analyzed: boolean;
}

export class PlanFormatError extends Error {
  readonly code = 'EXPLAIN_BAD_PLAN';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads the single-element array EXPLAIN (FORMAT JSON) returns. */
export function parseExplainDocument(doc: unknown): ExplainDocument {
  const first: unknown = Array.isArray(doc) ? doc[0] : doc;
  if (!isRecord(first) || !isRecord(first.Plan)) throw new PlanFormatError('EXPLAIN returned no JSON plan');
  const root = first.Plan;
  return {
    root,
    planningMs: typeof first['Planning Time'] === 'number' ? first['Planning Time'] : undefined,
    executionMs: typeof first['Execution Time'] === 'number' ? first['Execution Time'] : undefined,
    analyzed: typeof root['Actual Loops'] === 'number',
  };
}

export function num(node: PlanNode, key: string): number | undefined {
  const v = node[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function str(node: PlanNode, key: string): string | undefined {
  const v = node[key];
  return typeof v === 'string' ? v : undefined;
}

export function nodeType(node: PlanNode): string {
  return str(node, 'Node Type') ?? '?';
}

export function children(node: PlanNode): PlanNode[] {
  const plans = node.Plans;
  return Array.isArray(plans) ? plans.filter(isRecord) : [];
}

/** Nested objects of a node other than its children (Workers, incremental-sort groups). */
export function nestedDetails(node: PlanNode): PlanNode[] {
  const out: PlanNode[] = [];
  for (const [key, value] of Object.entries(node)) {
    if (key === 'Plans') continue;
    if (isRecord(value)) out.push(value);
    else if (Array.isArray(value)) out.push(...value.filter(isRecord));
  }
  return out;
}

/** A relation as a plan names it (VERBOSE plans carry the schema). */
export interface RelationRef {
  /** How the audit shows and keys it: schema-qualified unless in public. */
  readonly key: string;
  readonly schema: string | undefined;
  readonly name: string;
}

export function relationRef(node: PlanNode): RelationRef | undefined {
  const name = str(node, 'Relation Name');
  if (name === undefined) return undefined;
  const schema = str(node, 'Schema');
  return { key: schema && schema !== 'public' ? `${schema}.${name}` : name, schema, name };
}

/** The table a scan node reads, if it reads one (ModifyTable names its target, not a scan). */
export function scannedRelation(node: PlanNode): string | undefined {
  if (nodeType(node) === 'ModifyTable') return undefined;
  return relationRef(node)?.key;
}

export interface Visit {
  readonly node: PlanNode;
  readonly depth: number;
  /** From the root down to the parent. */
  readonly ancestors: readonly PlanNode[];
}

/** Depth-first, parents before children. Plans are finite trees; depth is bounded by them. */
export function walk(root: PlanNode, visit: (v: Visit) => void): void {
  const go = (node: PlanNode, ancestors: PlanNode[]): void => {
    visit({ node, depth: ancestors.length, ancestors });
    const next = [...ancestors, node];
    for (const child of children(node)) go(child, next);
  };
  go(root, []);
}

export function allNodes(root: PlanNode): PlanNode[] {
  const out: PlanNode[] = [];
  walk(root, (v) => out.push(v.node));
  return out;
}

/** Total rows a node produced over all its loops, or undefined without ANALYZE. */
export function actualTotalRows(node: PlanNode): number | undefined {
  const rows = num(node, 'Actual Rows');
  const loops = num(node, 'Actual Loops');
  return rows === undefined || loops === undefined ? undefined : rows * loops;
}
