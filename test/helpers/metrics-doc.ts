import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

/**
 * Reads the metric contract (docs/METRICS.md) and the postgres_exporter custom queries, for the
 * monitoring tests: metrics-contract, metrics-endpoint, alert-rules and grafana-dashboards.
 */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary';

export interface DocMetric {
  readonly name: string;
  readonly type: MetricType;
  readonly labels: readonly string[];
  /** The `##`/`###` heading the row sits under. */
  readonly section: string;
  /** App table only: source file and when samples appear. */
  readonly source?: string;
  readonly present?: string;
}

const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary']);

export function readMetricsDoc(file = path.join(ROOT, 'docs', 'METRICS.md')): DocMetric[] {
  const out: DocMetric[] = [];
  let h2 = '';
  let section = '';
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const heading = /^(#{2,3}) (.+)$/.exec(line);
    if (heading) {
      if (heading[1] === '##') h2 = heading[2] ?? '';
      section = heading[1] === '##' ? h2 : `${h2} / ${heading[2] ?? ''}`;
      continue;
    }
    if (!line.startsWith('| `')) continue;
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    const name = /^`([^`]+)`$/.exec(cells[0] ?? '')?.[1];
    const type = cells[1] ?? '';
    if (!name || !TYPES.has(type)) continue; // e.g. the label-values table
    const labels = [...(cells[2] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '').filter((l) => l !== '…');
    const isApp = h2 === 'App metrics';
    out.push({
      name, type: type as MetricType, labels, section,
      ...(isApp ? { source: /`([^`]+)`/.exec(cells[3] ?? '')?.[1] ?? '', present: cells[4] ?? '' } : {}),
    });
  }
  return out;
}

export const appMetrics = (doc: readonly DocMetric[]): DocMetric[] => doc.filter((m) => m.section === 'App metrics');

/** Every series name a query may use: each family, plus _bucket/_sum/_count for histograms and summaries. */
export function knownSeriesNames(doc: readonly DocMetric[]): Set<string> {
  const names = new Set<string>();
  for (const m of doc) {
    names.add(m.name);
    if (m.type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
    if (m.type === 'summary') for (const s of ['_sum', '_count']) names.add(m.name + s);
  }
  return names;
}

interface QueryColumn { usage: string; description?: string }

/** The metrics postgres_exporter derives from queries.yaml: <namespace>_<column> for each non-label column. */
export function exporterCustomMetrics(file = path.join(ROOT, 'deploy', 'postgres-exporter', 'queries.yaml')): Array<{ name: string; type: MetricType; labels: string[] }> {
  const doc = YAML.parse(fs.readFileSync(file, 'utf8')) as Record<string, { metrics: Array<Record<string, QueryColumn>> }>;
  const out: Array<{ name: string; type: MetricType; labels: string[] }> = [];
  for (const [ns, q] of Object.entries(doc)) {
    const cols = q.metrics.flatMap((m) => Object.entries(m));
    const labels = cols.filter(([, c]) => c.usage === 'LABEL').map(([n]) => n);
    for (const [col, c] of cols) {
      if (c.usage === 'LABEL' || c.usage === 'DISCARD') continue;
      out.push({ name: `${ns}_${col}`, type: c.usage === 'COUNTER' ? 'counter' : c.usage === 'HISTOGRAM' ? 'histogram' : 'gauge', labels });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// PromQL name extraction. Not a parser (promtool parses; see the tests): it removes string
// literals, label matchers, range windows, grouping clauses and numbers, then keeps the
// identifiers that are not keywords or function calls. That leaves the metric names.
// ---------------------------------------------------------------------------------------

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan']);

export function metricNamesInExpr(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\b(?:group_left|group_right)\b/g, ' ')
    .replace(/(?<![a-zA-Z_:0-9])\d+(?:\.\d+)?(?:e[+-]?\d+)?/gi, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = stripped.slice((m.index ?? 0) + m[0].length);
    if (/^\s*\(/.test(after) || KEYWORDS.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names];
}

/** Each `metric{label="..."}` selector with the label names it matches on. */
export function selectorsInExpr(expr: string): Array<{ metric: string; labels: string[] }> {
  const out: Array<{ metric: string; labels: string[] }> = [];
  for (const m of expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[^}"]|"(?:[^"\\]|\\.)*")*)\}/g)) {
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"/g)].map((l) => l[1] ?? '');
    out.push({ metric: m[1] ?? '', labels });
  }
  return out;
}

/** Labels Prometheus adds to every scraped series (prometheus.yml target labels). */
export const TARGET_LABELS = ['job', 'instance', 'node', 'role'] as const;

/** Label names a selector on `series` may use: its documented labels, target labels, and le for buckets. */
export function allowedLabels(doc: readonly DocMetric[], series: string): Set<string> | undefined {
  const base = doc.find((m) => m.name === series) ?? doc.find((m) => ['_bucket', '_sum', '_count'].some((s) => series === m.name + s));
  if (!base) return undefined;
  const allowed = new Set<string>([...base.labels, ...TARGET_LABELS]);
  if (series.endsWith('_bucket')) allowed.add('le');
  if (!base.name.startsWith('bgc_')) allowed.add('server'); // postgres_exporter's own label
  return allowed;
}
