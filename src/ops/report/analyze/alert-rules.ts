import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

/**
 * The alerting configuration as shipped in deploy/ (Prometheus rules, scrape and evaluation
 * intervals, Alertmanager group_wait): SC-013 and SC-014 are properties of this configuration,
 * which the promtool unit tests in deploy/prometheus/tests exercise. The report states them
 * from the files, and says so.
 */
export interface AlertConfig {
  readonly rules: ReadonlyArray<{ readonly alert: string; readonly forSeconds: number }>;
  readonly scrapeSeconds: number;
  readonly evaluationSeconds: number;
  readonly groupWaitSeconds: number;
}

/** Problem families DESIGN §6 and SC-013 name, matched against our alert names. */
export const CRITICAL_FAMILIES: ReadonlyArray<{ readonly family: string; readonly pattern: RegExp }> = [
  { family: 'PostgreSQL down', pattern: /^PostgresDown$/ },
  { family: 'replica down or lagging', pattern: /Replica(Down|Lagging|NotStreaming)/ },
  { family: 'pool saturation', pattern: /PoolSaturated/ },
  { family: 'slow queries', pattern: /QuerySlow|SlowQuer/ },
  { family: 'Redis down', pattern: /^RedisDown$/ },
];

export function parseDuration(s: unknown): number {
  if (typeof s !== 'string') return 0;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) {
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n / 1000 : m[2] === 's' ? n : m[2] === 'm' ? n * 60 : m[2] === 'h' ? n * 3600 : n * 86_400;
  }
  return total;
}

function readYaml(file: string): unknown {
  try {
    return YAML.parse(fs.readFileSync(file, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function field(obj: unknown, key: string): unknown {
  return obj && typeof obj === 'object' ? (obj as Record<string, unknown>)[key] : undefined;
}

export function readAlertConfig(projectRoot: string): AlertConfig | undefined {
  const dir = path.join(projectRoot, 'deploy', 'prometheus', 'rules');
  if (!fs.existsSync(dir)) return undefined;
  const rules: Array<{ alert: string; forSeconds: number }> = [];
  for (const f of fs.readdirSync(dir).filter((x) => /\.ya?ml$/.test(x)).sort()) {
    const groups = field(readYaml(path.join(dir, f)), 'groups');
    if (!Array.isArray(groups)) continue;
    for (const g of groups) {
      const list = field(g, 'rules');
      if (!Array.isArray(list)) continue;
      for (const r of list) {
        const alert = field(r, 'alert');
        if (typeof alert === 'string') rules.push({ alert, forSeconds: parseDuration(field(r, 'for')) });
      }
    }
  }
  const prom = field(readYaml(path.join(projectRoot, 'deploy', 'prometheus', 'prometheus.yml')), 'global');
  const am = field(readYaml(path.join(projectRoot, 'deploy', 'alertmanager', 'alertmanager.yml')), 'route');
  return {
    rules,
    // Prometheus defaults are 1m; Alertmanager's group_wait default is 30s.
    scrapeSeconds: parseDuration(field(prom, 'scrape_interval')) || 60,
    evaluationSeconds: parseDuration(field(prom, 'evaluation_interval')) || 60,
    groupWaitSeconds: parseDuration(field(am, 'group_wait')) || 30,
  };
}

/** Worst-case seconds from a problem starting to the notification, for the slowest critical rule. */
export function detectionBudget(cfg: AlertConfig): { seconds: number; missing: string[]; slowest: string | null } {
  let worst = 0;
  let slowest: string | null = null;
  const missing: string[] = [];
  for (const f of CRITICAL_FAMILIES) {
    const matches = cfg.rules.filter((r) => f.pattern.test(r.alert));
    if (matches.length === 0) { missing.push(f.family); continue; }
    // The fastest rule of a family detects it; the slowest family bounds the budget.
    const best = matches.reduce((a, r) => (r.forSeconds < a.forSeconds ? r : a));
    const total = cfg.scrapeSeconds + cfg.evaluationSeconds + best.forSeconds + cfg.groupWaitSeconds;
    if (total > worst) { worst = total; slowest = best.alert; }
  }
  return { seconds: worst, missing, slowest };
}
