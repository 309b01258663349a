import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics/registry.ts';
import { ROOT, appMetrics, exporterCustomMetrics, readMetricsDoc } from '../helpers/metrics-doc.ts';

/**
 * docs/METRICS.md is the metric contract. This test builds the app's registry the way the
 * runtime does (Metrics plus every src/metrics/*.metrics.ts registration function) and compares
 * names, types and label names with the doc's "App metrics" table in both directions; and the
 * doc's custom postgres_exporter table with deploy/postgres-exporter/queries.yaml.
 */

interface CodeMetric { name: string; type: string; labels: string[] }

/** Registration functions: `register…Metrics(metrics)` or `…MetricsFor(metrics)` (src/metrics/*.metrics.ts). */
const REGISTRATION = /^(register\w*Metrics|\w+MetricsFor)$/;

async function codeMetrics(): Promise<{ metrics: CodeMetric[]; files: string[] }> {
  const metrics = new Metrics();
  const dir = path.join(ROOT, 'src', 'metrics');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.metrics.ts')).sort();
  for (const f of files) {
    const mod = (await import(path.join(dir, f))) as Record<string, unknown>;
    const fns = Object.entries(mod).filter(([name, v]) => REGISTRATION.test(name) && typeof v === 'function');
    if (fns.length === 0) throw new Error(`src/metrics/${f} exports no registration function (register…Metrics or …MetricsFor)`);
    for (const [, fn] of fns) (fn as (m: Metrics) => unknown)(metrics);
  }
  const out: CodeMetric[] = [];
  for (const m of metrics.registry.getMetricsAsArray()) {
    const labels = (m as unknown as { labelNames?: readonly string[] }).labelNames ?? [];
    out.push({ name: m.name, type: String(m.type), labels: [...labels].sort() });
  }
  return { metrics: out, files };
}

describe('metric contract (docs/METRICS.md)', () => {
  const doc = readMetricsDoc();
  const docApp = appMetrics(doc);

  it('the doc lists app metrics, each once', () => {
    expect(docApp.length).toBeGreaterThan(20);
    const names = docApp.map((m) => m.name);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
    for (const m of docApp) expect(m.name, m.name).toMatch(/^bgc_[a-z0-9_]+$/);
  });

  it('every metric in code is in the doc with the same type and labels, and the other way round', async () => {
    const { metrics: code, files } = await codeMetrics();
    const byName = new Map(code.map((m) => [m.name, m]));
    const docByName = new Map(docApp.map((m) => [m.name, m]));
    const missingFromDoc = code.filter((m) => !docByName.has(m.name)).map((m) => m.name);
    const missingFromCode = docApp.filter((m) => !byName.has(m.name)).map((m) => `${m.name} (${m.source ?? '?'})`);
    expect(missingFromDoc, 'exported by the app but not in docs/METRICS.md').toEqual([]);
    expect(missingFromCode, `in docs/METRICS.md but not registered (metrics files found: ${files.join(', ') || 'none'})`).toEqual([]);
    const mismatches: string[] = [];
    for (const d of docApp) {
      const c = byName.get(d.name);
      if (!c) continue;
      if (c.type !== d.type) mismatches.push(`${d.name}: type ${c.type} in code, ${d.type} in doc`);
      const docLabels = [...d.labels].sort();
      if (c.labels.join(',') !== docLabels.join(',')) mismatches.push(`${d.name}: labels [${c.labels.join(', ')}] in code, [${docLabels.join(', ')}] in doc`);
    }
    expect(mismatches).toEqual([]);
  });

  it('every source file named in the doc exists', () => {
    const sources = [...new Set(docApp.map((m) => m.source ?? ''))];
    for (const s of sources) expect(fs.existsSync(path.join(ROOT, s)), s).toBe(true);
  });

  it("the doc's custom postgres_exporter table matches deploy/postgres-exporter/queries.yaml", () => {
    const fromYaml = exporterCustomMetrics().map((m) => `${m.name} ${m.type} [${[...m.labels].sort().join(',')}]`).sort();
    const fromDoc = doc
      .filter((m) => m.section.endsWith('postgres_exporter, custom queries (`deploy/postgres-exporter/queries.yaml`)'))
      .map((m) => `${m.name} ${m.type} [${[...m.labels].sort().join(',')}]`).sort();
    expect(fromDoc).toEqual(fromYaml);
  });
});
