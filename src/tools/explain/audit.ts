import type { QueryDef } from '../../catalog/types.ts';
import type { Database } from '../../db/database.ts';
import { explainOn, type PlanMode } from '../../db/explain-runner.ts';
import { SERVER_FACTS_SQL } from './explain.sql.ts';
import { AUDIT_LIMITS, misestimateFindings, pruningFindings, seqScanFindings, serverStateNotes, spillFindings, type Finding } from './flags.ts';
import { partitionSummary } from './partitions.ts';
import { allNodes, num, parseExplainDocument, relationRef, type PlanNode, type RelationRef } from './plan.ts';
import { RelationCatalog, type RelationFacts } from './relations.ts';
import { summarize, type AuditReport, type BufferCounts, type EntryReport, type JudgedFinding } from './report.ts';
import { displayParam, resolveSample } from './sample.ts';
import { planShape } from './shape.ts';

export interface AuditOptions {
  /** EXPLAIN ANALYZE (default) or plan only. */
  readonly analyze?: boolean;
  /** custom (default): planned for the sample values; generic: force_generic_plan, as a prepared statement may get. */
  readonly planMode?: PlanMode;
  /** Settings applied with SET LOCAL around each EXPLAIN (e.g. `{ work_mem: '64kB' }`). */
  readonly settings?: Readonly<Record<string, string>>;
  /** The statement timeout of each EXPLAIN; generous, the app's own is meant for requests. */
  readonly timeoutMs?: number;
  /** Run each EXPLAIN once unmeasured first, on the same connection (warm caches). */
  readonly warmup?: boolean;
  readonly onProgress?: (message: string) => void;
}

export interface AuditResult {
  readonly report: AuditReport;
  /** Full EXPLAIN JSON documents by entry name, for `--out DIR`. */
  readonly documents: ReadonlyMap<string, unknown>;
}

const DEFAULT_TIMEOUT_MS = 120_000;

/** Audits the given catalog entries one after another (FR-008): one EXPLAIN at a time. */
export async function runAudit(db: Database, defs: readonly QueryDef[], opts: AuditOptions = {}): Promise<AuditResult> {
  const relations = new RelationCatalog(db, AUDIT_LIMITS.seqScanRows);
  const entries: EntryReport[] = [];
  const documents = new Map<string, unknown>();
  const server = await db.withPrimaryClient((c) => c.query<{ database: string; version: string }>(SERVER_FACTS_SQL));
  for (const [i, def] of defs.entries()) {
    opts.onProgress?.(`[${i + 1}/${defs.length}] ${def.name}`);
    const { report, document } = await auditEntry(db, def, relations, opts);
    entries.push(report);
    if (document !== undefined) documents.set(def.name, document);
  }
  return {
    report: {
      database: server.rows[0]?.database ?? '?',
      serverVersion: server.rows[0]?.version ?? '?',
      generatedAt: new Date().toISOString(),
      analyzed: opts.analyze ?? true,
      planMode: opts.planMode ?? 'custom',
      warmup: opts.warmup ?? false,
      entries,
      summary: summarize(entries),
    },
    documents,
  };
}

export async function auditEntry(
  db: Database,
  def: QueryDef,
  relations: RelationCatalog,
  opts: AuditOptions = {},
): Promise<{ report: EntryReport; document: unknown }> {
  const analyze = opts.analyze ?? true;
  const base = {
    name: def.name, description: def.description, target: def.target, timeBounded: def.timeBounded,
    writes: def.writes, sql: def.text, analyzed: analyze,
  };
  const empty = {
    node: null, shape: [], rows: null, estimatedRows: null, buffers: null, planningMs: null, executionMs: null,
    partitions: [], subplansRemoved: 0, findings: [], notes: [],
  };
  // With no standby configured the app never sends a standby-only entry anywhere; running it
  // on the primary would only fail on recovery functions (55000) and say nothing about a plan.
  if (def.standbyOnly && db.replicas.length === 0) {
    const skipped = 'not audited: only ever sent to a standby, and no standby is configured (DATABASE_REPLICA_URLS)';
    return { report: { ...base, ...empty, params: [], error: null, skipped }, document: undefined };
  }
  let params: unknown[] = [];
  try {
    params = await resolveSample(db, def);
    const result = await explainOn(db, {
      role: def.target, text: def.text, params, analyze, planMode: opts.planMode,
      settings: opts.settings, timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, warmup: opts.warmup,
    });
    const doc = parseExplainDocument(result.document);
    const refs = allNodes(doc.root).map(relationRef).filter((r): r is RelationRef => r !== undefined);
    const facts = await relations.facts(refs);
    const parts = partitionSummary(doc.root, facts, doc.analyzed);
    const findings: Finding[] = [
      ...seqScanFindings(doc.root, facts),
      ...pruningFindings(def.timeBounded, parts.usage),
      ...(doc.analyzed ? spillFindings(doc.root) : []),
      ...(doc.analyzed ? misestimateFindings(doc.root, facts) : []),
    ];
    const report: EntryReport = {
      ...base,
      node: result.node,
      params: params.map(displayParam),
      shape: planShape(doc.root, facts),
      rows: doc.analyzed ? (num(doc.root, 'Actual Rows') ?? null) : null,
      estimatedRows: num(doc.root, 'Plan Rows') ?? null,
      buffers: doc.analyzed ? buffersOf(doc.root) : null,
      planningMs: doc.planningMs ?? null,
      executionMs: doc.executionMs ?? null,
      partitions: parts.usage,
      subplansRemoved: parts.subplansRemoved,
      findings: findings.map((f) => judge(def, f)),
      notes: [...notesFor(facts), ...(doc.analyzed ? serverStateNotes(doc.root) : [])],
      error: null,
      skipped: null,
    };
    return { report, document: result.document };
  } catch (err) {
    const code = err && typeof err === 'object' && 'code' in err && typeof err.code === 'string' ? `[${err.code}] ` : '';
    const message = err instanceof Error ? err.message : String(err);
    const report: EntryReport = { ...base, ...empty, params: params.map(displayParam), error: `${code}${message}`, skipped: null };
    return { report, document: undefined };
  }
}

/** A flag is justified only by a non-empty written reason for that very flag. */
function judge(def: QueryDef, f: Finding): JudgedFinding {
  const text = def.justify[f.flag]?.trim();
  return text ? { ...f, justified: true, justification: text } : { ...f, justified: false };
}

/** Facts a reader needs to trust the plan: tables the planner had no statistics for. */
function notesFor(facts: ReadonlyMap<string, RelationFacts>): string[] {
  const unanalyzed = [...facts.values()].filter((f) => f.rowsSource === 'bounded_count').map((f) => f.name).sort();
  return unanalyzed.length > 0 ? [`never analyzed (planner used default estimates): ${unanalyzed.join(', ')}`] : [];
}

function buffersOf(root: PlanNode): BufferCounts {
  return {
    sharedHit: num(root, 'Shared Hit Blocks') ?? 0,
    sharedRead: num(root, 'Shared Read Blocks') ?? 0,
    tempWritten: num(root, 'Temp Written Blocks') ?? 0,
  };
}
