import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { scaleExpr, scaleRules } from '../../src/tools/stack/monitoring-config.ts';
import { MonitoringStack } from '../../src/tools/stack/monitoring.ts';
import { ROOT, allowedLabels, knownSeriesNames, metricNamesInExpr, readMetricsDoc, selectorsInExpr } from '../helpers/metrics-doc.ts';

/**
 * The alerting contract: promtool accepts the rules and passes their unit tests; every alert
 * has a runbook in docs/OPERATIONS.md and promtool tests for firing, pending and not firing;
 * rules use only metrics from docs/METRICS.md; the Prometheus and Alertmanager configs check;
 * and the scaled test variant (alert-detection test) is valid too.
 */

const PROM = path.join(ROOT, 'deploy', 'prometheus');
const RULE_FILES = fs.readdirSync(path.join(PROM, 'rules')).filter((f) => f.endsWith('.yml')).sort().map((f) => path.join(PROM, 'rules', f));
const TEST_FILES = fs.readdirSync(path.join(PROM, 'tests')).filter((f) => f.endsWith('.yml')).sort().map((f) => path.join(PROM, 'tests', f));

interface Rule { alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
interface AlertTest { alertname: string; exp_alerts?: unknown[] }
interface ExprTest { expr: string; exp_samples?: unknown[] }
interface TestGroup { alert_rule_test?: AlertTest[]; promql_expr_test?: ExprTest[] }

function tool(bin: string, args: string[], cwd = ROOT): { code: number | null; out: string } {
  const res = spawnSync(bin, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  if (res.error) throw new Error(`${bin} not runnable (Debian packages prometheus / prometheus-alertmanager): ${res.error.message}`);
  return { code: res.status, out: `${res.stdout}${res.stderr}` };
}

const rules: Rule[] = RULE_FILES.flatMap((f) => (YAML.parse(fs.readFileSync(f, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules));
const alerts = rules.filter((r): r is Rule & { alert: string } => typeof r.alert === 'string');
const testGroups: TestGroup[] = TEST_FILES.flatMap((f) => (YAML.parse(fs.readFileSync(f, 'utf8')) as { tests: TestGroup[] }).tests);

describe('alert rules (deploy/prometheus)', () => {
  it('promtool check rules accepts every rules file', () => {
    expect(RULE_FILES.length).toBeGreaterThan(0);
    const res = tool('promtool', ['check', 'rules', ...RULE_FILES]);
    expect(res.out).not.toMatch(/FAILED/);
    expect(res.code, res.out).toBe(0);
  });

  it('promtool test rules passes every unit test', () => {
    const res = tool('promtool', ['test', 'rules', ...TEST_FILES], path.join(PROM, 'tests'));
    expect(res.out).not.toMatch(/FAILED/);
    expect(res.code, res.out).toBe(0);
  });

  it('covers the alerts the monitoring issue asks for', () => {
    const names = new Set(alerts.map((a) => a.alert));
    for (const required of [
      'PostgresDown', 'PostgresReplicaDown', 'PostgresReplicaLagging', 'PostgresTooManyConnections', 'BgcDbPoolSaturated',
      'BgcCatalogQuerySlow', 'BgcHttp5xxRate', 'PostgresLongTransaction', 'PostgresDeadlocks', 'PostgresLowBufferCacheHitRatio',
      'BgcCacheHitRatioLow', 'RedisDown', 'RedisNearMaxmemory', 'RedisEvicting', 'PartitionsNotPremade',
      'PartitionMaintenanceFailing', 'PartitionMaintenanceStale', 'PostgresWalGrowing', 'PostgresDiskGrowth', 'BgcAppDown',
    ]) expect(names.has(required), required).toBe(true);
    expect(names.size).toBe(alerts.length); // no duplicate alert names
  });

  it('every alert has a severity, a for: duration, and a runbook link to its docs/OPERATIONS.md entry', () => {
    for (const a of alerts) {
      expect(['critical', 'warning'], a.alert).toContain(a.labels?.severity);
      expect(a.for, `${a.alert} needs for: (a pending state)`).toMatch(/^[1-9]\d*[smh]/);
      expect(a.annotations?.runbook_url, a.alert).toBe(`docs/OPERATIONS.md#${a.alert.toLowerCase()}`);
      expect(a.annotations?.summary, a.alert).toBeTruthy();
      expect(a.annotations?.description, a.alert).toBeTruthy();
    }
  });

  it('every alert has a runbook entry: meaning, a command to confirm, and what to do', () => {
    const ops = fs.readFileSync(path.join(ROOT, 'docs', 'OPERATIONS.md'), 'utf8');
    const start = ops.indexOf('\n## Alerts and runbooks');
    expect(start, 'docs/OPERATIONS.md has an "Alerts and runbooks" section').toBeGreaterThan(-1);
    const next = ops.indexOf('\n## ', start + 5);
    const section = ops.slice(start, next === -1 ? undefined : next);
    const missing: string[] = [];
    for (const a of alerts) {
      const at = section.indexOf(`\n### ${a.alert}\n`);
      if (at === -1) { missing.push(`${a.alert}: no "### ${a.alert}" heading`); continue; }
      const end = section.indexOf('\n### ', at + 5);
      const entry = section.slice(at, end === -1 ? undefined : end);
      for (const part of ['**Meaning**', '**Confirm**', '**Action**', '```']) if (!entry.includes(part)) missing.push(`${a.alert}: no ${part}`);
    }
    expect(missing).toEqual([]);
  });

  it('every alert has promtool tests for firing, pending and not firing', () => {
    const firing = new Set<string>();
    const notFiring = new Set<string>();
    const pending = new Set<string>();
    for (const g of testGroups) {
      for (const t of g.alert_rule_test ?? []) ((t.exp_alerts ?? []).length > 0 ? firing : notFiring).add(t.alertname);
      for (const t of g.promql_expr_test ?? []) {
        const m = /^ALERTS\{alertname="([^"]+)",alertstate="pending"/.exec(t.expr.replace(/\s/g, ''));
        if (m?.[1] && (t.exp_samples ?? []).length > 0) pending.add(m[1]);
      }
    }
    const gaps: string[] = [];
    for (const a of alerts) {
      if (!firing.has(a.alert)) gaps.push(`${a.alert}: no firing test`);
      if (!notFiring.has(a.alert)) gaps.push(`${a.alert}: no not-firing test`);
      if (!pending.has(a.alert)) gaps.push(`${a.alert}: no pending test`);
    }
    expect(gaps).toEqual([]);
  });

  it('rules use only metrics and labels listed in docs/METRICS.md', () => {
    const doc = readMetricsDoc();
    const known = knownSeriesNames(doc);
    const problems: string[] = [];
    for (const r of rules) {
      for (const n of metricNamesInExpr(r.expr)) if (!known.has(n)) problems.push(`${r.alert ?? r.record}: unknown metric ${n}`);
      for (const s of selectorsInExpr(r.expr)) {
        const allowed = allowedLabels(doc, s.metric);
        for (const l of s.labels) if (allowed && !allowed.has(l)) problems.push(`${r.alert ?? r.record}: ${s.metric} has no label ${l}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('prometheus.yml and alertmanager.yml check', () => {
    const p = tool('promtool', ['check', 'config', '--syntax-only', path.join(PROM, 'prometheus.yml')]);
    expect(p.code, p.out).toBe(0);
    const a = tool('amtool', ['check-config', path.join(ROOT, 'deploy', 'alertmanager', 'alertmanager.yml')]);
    expect(a.code, a.out).toBe(0);
  });

  it('the configs MonitoringStack renders (production and test timings) pass promtool and amtool in full', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-monrender-'));
    try {
      const variants = [
        { name: 'production', opts: {} },
        { name: 'test', opts: { scrapeInterval: '1s', evaluationInterval: '1s', ruleDurationScale: 1 / 15, webhookUrl: 'http://127.0.0.1:1/hook', groupWait: '0s', groupInterval: '1s', repeatInterval: '1h' } },
      ];
      for (const v of variants) {
        const stack = new MonitoringStack(parseConfig({ NODE_ENV: 'test' }), { dir: path.join(dir, v.name), appTargets: ['127.0.0.1:3001', '127.0.0.1:3011'], ...v.opts });
        fs.mkdirSync(stack.dir, { recursive: true });
        stack.renderConfig();
        const p = tool('promtool', ['check', 'config', path.join(stack.dir, 'prometheus.yml')]);
        expect(p.code, p.out).toBe(0);
        expect(p.out, v.name).toContain(`SUCCESS: ${RULE_FILES.length} rule files found`);
        const ruleCount = [...p.out.matchAll(/SUCCESS: (\d+) rules found/g)].reduce((n, m) => n + Number(m[1]), 0);
        expect(ruleCount, v.name).toBe(rules.length);
        const a = tool('amtool', ['check-config', path.join(stack.dir, 'alertmanager.yml')]);
        expect(a.code, a.out).toBe(0);
        const prom = YAML.parse(fs.readFileSync(path.join(stack.dir, 'prometheus.yml'), 'utf8')) as { global: Record<string, string>; scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }> };
        expect(prom.scrape_configs.find((j) => j.job_name === 'bgc-app')?.static_configs[0]?.targets).toEqual(['127.0.0.1:3001', '127.0.0.1:3011']);
        expect(prom.scrape_configs.find((j) => j.job_name === 'postgres')?.static_configs.length).toBe(3);
        expect(prom.global.scrape_interval).toBe(v.name === 'test' ? '1s' : '15s');
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the scaled test variant scales for: and windows and still passes promtool check rules', () => {
    const o = { factor: 1 / 15, minForMs: 1000, minRangeMs: 4000 };
    expect(scaleExpr('rate(x[5m]) > 0 and rate(y[1m])', o)).toBe('rate(x[20s]) > 0 and rate(y[4s])');
    expect(scaleExpr('predict_linear(s[6h:5m], 86400)', o)).toBe('predict_linear(s[1440s:20s], 86400)');
    expect(scaleExpr('x{a=~"[0-9]+"}[30s]', o)).toBe('x{a=~"[0-9]+"}[4s]');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-rules-'));
    try {
      const files = RULE_FILES.map((f) => {
        const out = path.join(dir, path.basename(f));
        const scaled = scaleRules(fs.readFileSync(f, 'utf8'), o);
        fs.writeFileSync(out, scaled);
        for (const r of (YAML.parse(scaled) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules)) {
          if (r.for) expect(r.for, r.alert).toMatch(/^\d+m?s$/);
        }
        return out;
      });
      const res = tool('promtool', ['check', 'rules', ...files]);
      expect(res.code, res.out).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
