import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { ROOT, allowedLabels, knownSeriesNames, metricNamesInExpr, readMetricsDoc, selectorsInExpr } from '../helpers/metrics-doc.ts';

/**
 * Validates deploy/grafana without a Grafana server: dashboard JSON structure, unique uids and
 * panel ids, grid layout, provisioning files, and every PromQL expression — parsed by promtool
 * (all of them as recording rules in one `promtool check rules` call) and checked against the
 * metric contract (docs/METRICS.md), names and label names.
 */

const GRAFANA = path.join(ROOT, 'deploy', 'grafana');
const REQUIRED = ['overview', 'database', 'cache', 'replication', 'partitions'];
const PANEL_TYPES = new Set(['row', 'timeseries', 'stat', 'table', 'gauge', 'bargauge', 'text', 'heatmap']);
const DATASOURCE_UIDS = new Set(['${datasource}', 'bgc-prometheus']);

interface Target { refId?: unknown; expr?: unknown; datasource?: { uid?: unknown } }
interface Panel { id?: unknown; type?: unknown; title?: unknown; gridPos?: { x: number; y: number; w: number; h: number }; targets?: Target[]; datasource?: { uid?: unknown }; panels?: Panel[] }
interface Dashboard { uid?: unknown; title?: unknown; schemaVersion?: unknown; panels?: Panel[]; templating?: { list?: Array<{ name?: unknown; type?: unknown; query?: unknown }> } }

const dashboards = fs.readdirSync(path.join(GRAFANA, 'dashboards')).filter((f) => f.endsWith('.json')).sort()
  .map((f) => ({ file: f, json: JSON.parse(fs.readFileSync(path.join(GRAFANA, 'dashboards', f), 'utf8')) as Dashboard }));

const flatPanels = (panels: readonly Panel[]): Panel[] => panels.flatMap((p) => [p, ...flatPanels(p.panels ?? [])]);

/** Grafana's built-in and template variables, replaced by values promtool accepts. */
function substituteVariables(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$__interval|\$\{__interval\}/g, '1m')
    .replace(/\$__range/g, '1h')
    .replace(/\$\{?[a-zA-Z_][a-zA-Z0-9_]*\}?/g, '.*');
}

interface Expr { where: string; record: string; expr: string }

function allExprs(): Expr[] {
  const out: Expr[] = [];
  for (const { file, json } of dashboards) {
    const slug = String(json.uid).replace(/[^a-zA-Z0-9_]/g, '_');
    for (const p of flatPanels(json.panels ?? [])) {
      for (const t of p.targets ?? []) {
        out.push({ where: `${file} panel ${String(p.id)} "${String(p.title)}" ${String(t.refId)}`, record: `dashboard:${slug}:panel${String(p.id)}_${String(t.refId)}`, expr: substituteVariables(String(t.expr)) });
      }
    }
    for (const v of json.templating?.list ?? []) {
      if (v.type !== 'query') continue;
      const q = typeof v.query === 'object' && v.query !== null ? (v.query as { query?: unknown }).query : v.query;
      const inner = /^label_values\((.+),\s*[a-zA-Z_]+\)$/.exec(String(q))?.[1];
      if (inner) out.push({ where: `${file} variable ${String(v.name)}`, record: `dashboard:${slug}:var_${String(v.name)}`, expr: substituteVariables(inner) });
    }
  }
  return out;
}

describe('Grafana dashboards (deploy/grafana)', () => {
  it('has the five dashboards, each with a unique uid, a title and a schema version', () => {
    expect(dashboards.map((d) => d.file.replace(/\.json$/, ''))).toEqual(expect.arrayContaining(REQUIRED));
    const uids = dashboards.map((d) => d.json.uid);
    for (const u of uids) expect(typeof u === 'string' && /^[a-zA-Z0-9_-]{1,40}$/.test(u), String(u)).toBe(true);
    expect(new Set(uids).size).toBe(uids.length);
    for (const { file, json } of dashboards) {
      expect(typeof json.title === 'string' && json.title.length > 0, file).toBe(true);
      expect(typeof json.schemaVersion, file).toBe('number');
      expect(Array.isArray(json.panels) && json.panels.length > 0, file).toBe(true);
    }
  });

  it('panels have unique ids, known types, a layout inside 24 columns, and targets with refIds', () => {
    const problems: string[] = [];
    for (const { file, json } of dashboards) {
      const panels = flatPanels(json.panels ?? []);
      const ids = panels.map((p) => p.id);
      if (new Set(ids).size !== ids.length || ids.some((id) => typeof id !== 'number')) problems.push(`${file}: panel ids not unique numbers`);
      for (const p of panels) {
        const where = `${file} panel ${String(p.id)}`;
        if (!PANEL_TYPES.has(String(p.type))) problems.push(`${where}: unknown type ${String(p.type)}`);
        const g = p.gridPos;
        if (!g || g.x < 0 || g.w <= 0 || g.h <= 0 || g.x + g.w > 24 || g.y < 0) problems.push(`${where}: gridPos ${JSON.stringify(g)}`);
        if (p.type === 'row') continue;
        const targets = p.targets ?? [];
        if (targets.length === 0) problems.push(`${where}: no targets`);
        const refIds = targets.map((t) => t.refId);
        if (new Set(refIds).size !== refIds.length || refIds.some((r) => typeof r !== 'string' || r === '')) problems.push(`${where}: refIds ${JSON.stringify(refIds)}`);
        for (const t of targets) if (typeof t.expr !== 'string' || t.expr.trim() === '') problems.push(`${where}: empty expr`);
        for (const ds of [p.datasource, ...targets.map((t) => t.datasource)]) {
          if (ds && !DATASOURCE_UIDS.has(String(ds.uid))) problems.push(`${where}: datasource uid ${String(ds.uid)}`);
        }
      }
      const vars = (json.templating?.list ?? []).map((v) => v.name);
      if (!vars.includes('datasource')) problems.push(`${file}: no datasource variable`);
    }
    expect(problems).toEqual([]);
  });

  it('provisioning files point Grafana at the Prometheus datasource and the dashboards folder', () => {
    const ds = YAML.parse(fs.readFileSync(path.join(GRAFANA, 'provisioning', 'datasources', 'prometheus.yml'), 'utf8')) as { apiVersion: number; datasources: Array<{ uid: string; type: string; url: string }> };
    expect(ds.apiVersion).toBe(1);
    expect(ds.datasources.find((d) => d.uid === 'bgc-prometheus')?.type).toBe('prometheus');
    const dash = YAML.parse(fs.readFileSync(path.join(GRAFANA, 'provisioning', 'dashboards', 'bgc.yml'), 'utf8')) as { apiVersion: number; providers: Array<{ type: string; options: { path: string } }> };
    expect(dash.apiVersion).toBe(1);
    expect(dash.providers.length).toBeGreaterThan(0);
    for (const p of dash.providers) { expect(p.type).toBe('file'); expect(p.options.path.length).toBeGreaterThan(0); }
  });

  it('every expression parses (promtool check rules, one call for all of them)', () => {
    const exprs = allExprs();
    expect(exprs.length).toBeGreaterThan(50);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-dash-'));
    try {
      const file = path.join(dir, 'dashboards.rules.yml');
      fs.writeFileSync(file, YAML.stringify({ groups: [{ name: 'dashboards', rules: exprs.map((e) => ({ record: e.record, expr: e.expr })) }] }));
      const res = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8', timeout: 60_000 });
      if (res.error) throw new Error(`promtool not runnable (Debian package "prometheus"): ${res.error.message}`);
      expect(`${res.stdout}${res.stderr}`, 'promtool output').toContain(`SUCCESS: ${exprs.length} rules found`);
      expect(res.status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every expression uses only metrics and labels from docs/METRICS.md', () => {
    const doc = readMetricsDoc();
    const known = knownSeriesNames(doc);
    const problems: string[] = [];
    for (const e of allExprs()) {
      const names = metricNamesInExpr(e.expr);
      if (names.length === 0 && !/vector\(|time\(\)/.test(e.expr)) problems.push(`${e.where}: no metric found in ${e.expr}`);
      for (const n of names) if (!known.has(n)) problems.push(`${e.where}: unknown metric ${n}`);
      for (const s of selectorsInExpr(e.expr)) {
        const allowed = allowedLabels(doc, s.metric);
        for (const l of s.labels) if (allowed && !allowed.has(l)) problems.push(`${e.where}: ${s.metric} has no label ${l}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
