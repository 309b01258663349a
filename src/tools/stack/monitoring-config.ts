import YAML from 'yaml';

/**
 * Renders the checked-in monitoring configuration (deploy/prometheus, deploy/alertmanager)
 * into the copy a running stack uses: real target addresses and ports, the admin token file,
 * and, for the detection test, second-scale intervals. The deploy files stay the single
 * source of truth; this module only substitutes values, it never adds rules or receivers.
 */

export interface PgExporterTarget {
  /** Node name as the app's pools call it: primary, replica1, replica2. */
  readonly node: string;
  readonly role: 'primary' | 'replica';
  /** host:port of this node's postgres_exporter. */
  readonly address: string;
}

export interface PrometheusRender {
  readonly scrapeInterval?: string;
  readonly scrapeTimeout?: string;
  readonly evaluationInterval?: string;
  /** Absolute glob of the rendered rule files. */
  readonly ruleFiles: string;
  readonly alertmanager: string;
  readonly app: readonly string[];
  readonly adminTokenFile: string;
  readonly postgres: readonly PgExporterTarget[];
  readonly redis: string;
  readonly prometheus: string;
}

export interface AlertmanagerRender {
  readonly webhookUrl?: string;
  readonly groupWait?: string;
  readonly groupInterval?: string;
  readonly repeatInterval?: string;
}

type Doc = Record<string, unknown>;

function asRecord(value: unknown, what: string): Doc {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`monitoring config: ${what} is not a mapping`);
  return value as Doc;
}

function asList(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new Error(`monitoring config: ${what} is not a list`);
  return value;
}

export function renderPrometheusConfig(template: string, r: PrometheusRender): string {
  const doc = asRecord(YAML.parse(template), 'prometheus.yml');
  const global = asRecord(doc.global, 'global');
  if (r.scrapeInterval) global.scrape_interval = r.scrapeInterval;
  if (r.evaluationInterval) global.evaluation_interval = r.evaluationInterval;
  if (r.scrapeTimeout) global.scrape_timeout = r.scrapeTimeout;
  doc.rule_files = [r.ruleFiles];
  doc.alerting = { alertmanagers: [{ static_configs: [{ targets: [r.alertmanager] }] }] };
  for (const raw of asList(doc.scrape_configs, 'scrape_configs')) {
    const job = asRecord(raw, 'scrape config');
    switch (job.job_name) {
      case 'bgc-app':
        job.static_configs = [{ targets: [...r.app] }];
        job.authorization = { type: 'Bearer', credentials_file: r.adminTokenFile };
        break;
      case 'postgres':
        job.static_configs = r.postgres.map((p) => ({ targets: [p.address], labels: { node: p.node, role: p.role } }));
        break;
      case 'redis':
        job.static_configs = [{ targets: [r.redis] }];
        break;
      case 'prometheus':
        job.static_configs = [{ targets: [r.prometheus] }];
        break;
      case 'alertmanager':
        job.static_configs = [{ targets: [r.alertmanager] }];
        break;
      default:
        throw new Error(`monitoring config: unknown scrape job ${String(job.job_name)} in deploy/prometheus/prometheus.yml`);
    }
  }
  return YAML.stringify(doc);
}

export function renderAlertmanagerConfig(template: string, r: AlertmanagerRender): string {
  const doc = asRecord(YAML.parse(template), 'alertmanager.yml');
  const setTimers = (route: Doc) => {
    if (r.groupWait && 'group_wait' in route) route.group_wait = r.groupWait;
    if (r.groupInterval && 'group_interval' in route) route.group_interval = r.groupInterval;
    if (r.repeatInterval && 'repeat_interval' in route) route.repeat_interval = r.repeatInterval;
    for (const child of Array.isArray(route.routes) ? route.routes : []) setTimers(asRecord(child, 'route'));
  };
  const root = asRecord(doc.route, 'route');
  if (r.groupWait) root.group_wait = r.groupWait;
  if (r.groupInterval) root.group_interval = r.groupInterval;
  if (r.repeatInterval) root.repeat_interval = r.repeatInterval;
  setTimers(root);
  if (r.webhookUrl) {
    for (const raw of asList(doc.receivers, 'receivers')) {
      const receiver = asRecord(raw, 'receiver');
      for (const hook of Array.isArray(receiver.webhook_configs) ? receiver.webhook_configs : []) asRecord(hook, 'webhook').url = r.webhookUrl;
    }
  }
  return YAML.stringify(doc);
}

// ---------------------------------------------------------------------------------------
// Durations. The test variant of the rules scales every `for:` and every range/subquery
// window by one factor (the test scrape interval over the production one, e.g. 1 s / 15 s),
// so each rule sees the same number of samples and evaluations as in production, only
// faster. Thresholds are left alone: they are values, not durations.
// ---------------------------------------------------------------------------------------

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };
const DURATION = /^(?:\d+(?:ms|[smhdwy]))+$/;

export function parseDuration(text: string): number {
  if (!DURATION.test(text)) throw new Error(`not a Prometheus duration: "${text}"`);
  let ms = 0;
  for (const m of text.matchAll(/(\d+)(ms|[smhdwy])/g)) ms += Number(m[1]) * (UNIT_MS[m[2] ?? 's'] ?? 0);
  return ms;
}

export function formatDuration(ms: number): string {
  const whole = Math.max(0, Math.round(ms));
  return whole % 1000 === 0 ? `${whole / 1000}s` : `${whole}ms`;
}

export interface ScaleOptions {
  /** Multiply every duration by this (e.g. 1/15). */
  readonly factor: number;
  /** Smallest `for:` after scaling (a non-zero `for:` never becomes 0). */
  readonly minForMs: number;
  /** Smallest range window after scaling: rate() needs at least two samples in it. */
  readonly minRangeMs: number;
}

const RANGE = /\[((?:\d+(?:ms|[smhdwy]))+)(?::((?:\d+(?:ms|[smhdwy]))*))?\]/g;

export function scaleExpr(expr: string, o: ScaleOptions): string {
  return expr.replace(RANGE, (_all, range: string, step: string | undefined) => {
    const r = formatDuration(Math.max(parseDuration(range) * o.factor, o.minRangeMs));
    if (step === undefined) return `[${r}]`;
    if (step === '') return `[${r}:]`;
    return `[${r}:${formatDuration(Math.max(parseDuration(step) * o.factor, 1000))}]`;
  });
}

/** Returns a rules file with every `for:` and range window scaled (see above). */
export function scaleRules(rulesYaml: string, o: ScaleOptions): string {
  const doc = asRecord(YAML.parse(rulesYaml), 'rules file');
  for (const rawGroup of asList(doc.groups, 'groups')) {
    const group = asRecord(rawGroup, 'group');
    if (typeof group.interval === 'string') group.interval = formatDuration(Math.max(parseDuration(group.interval) * o.factor, 1000));
    for (const rawRule of asList(group.rules, 'rules')) {
      const rule = asRecord(rawRule, 'rule');
      if (typeof rule.expr === 'string') rule.expr = scaleExpr(rule.expr, o);
      if (typeof rule.for === 'string') {
        const ms = parseDuration(rule.for);
        rule.for = formatDuration(ms === 0 ? 0 : Math.max(ms * o.factor, o.minForMs));
      }
    }
  }
  return YAML.stringify(doc);
}
