import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../../config/index.ts';
import { parseMonth, previousMonth } from '../../../ops/report/month.ts';
import { defaultReportDir, generateReport, parseFormats } from '../../../ops/report/generate.ts';
import { openReportDatabase } from '../../../ops/report/batch-db.ts';
import { sqlState } from '../../../db/errors.ts';
import { CliError, printJson, printTable, progressLine } from '../output.ts';

interface ReportOptions {
  month?: string;
  out?: string;
  format: string;
  store?: boolean;
  alertmanager: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  program.command('report')
    .description('Monthly performance report from the workload history (FR-020): SLOs, top/regressed/new queries, indexes, growth, lag, cache, alerts')
    .option('--month <YYYY-MM>', 'the month to report on (default: last month, UTC)')
    .option('--out <dir>', 'directory for the report files (default: <dataDir>/reports)')
    .option('--format <list>', 'comma-separated formats: html, md, json', 'html,md,json')
    .option('--store', 'also store the report in monitoring.reports, replacing an earlier one for that month')
    .option('--no-alertmanager', 'do not ask Alertmanager for alerts (use the snapshot history only)')
    .option('--json', 'machine-readable summary on stdout')
    .action(async (opts: ReportOptions) => {
      const config = loadConfig();
      const month = opts.month ? parseMonth(opts.month) : previousMonth(new Date());
      const formats = parseFormats(opts.format);
      if (opts.store && month.to.getTime() > Date.now()) {
        // A stored report is the month's record; one made before the month ended covers part of it.
        throw new CliError('REPORT_MONTH_NOT_OVER', `${month.label} is not over yet (it ends ${month.to.toISOString()}); --store keeps only a finished month's report (leave --store off to look at it now)`);
      }
      const outDir = path.resolve(opts.out ?? defaultReportDir(config));
      const db = await openReportDatabase(config);
      try {
        progressLine(`building the report for ${month.label}`);
        const result = await generateReport({ db, config }, {
          month, formats, outDir, generatedBy: 'cli', store: opts.store ? 'replace' : 'none', queryAlertmanager: opts.alertmanager,
        });
        const r = result.report;
        const count = (s: string) => r.slo.filter((x) => x.status === s).length;
        if (opts.json) {
          printJson({
            month: r.month, files: result.files, stored: result.stored, runs: r.coverage.runs,
            slo: { met: count('met'), missed: count('missed'), unknown: count('unknown') },
            regressions: r.regressions.length, recommendations: r.recommendations.length,
          });
          return;
        }
        if (r.coverage.runs === 0) progressLine(`no snapshots in ${month.label}: the report has empty sections (is the history job running?)`);
        printTable(r.slo.map((s) => ({ id: s.id, status: s.status, figure: s.figure })), ['id', 'status', 'figure']);
        for (const f of result.files) progressLine(`wrote ${f}`);
        if (result.stored) progressLine(`stored in monitoring.reports (${formats.join(', ')})`);
      } catch (err) {
        // 42P01 undefined_table, 3F000 invalid_schema_name: migration 0005 is not applied here.
        if (sqlState(err) === '42P01' || sqlState(err) === '3F000') {
          throw new CliError('REPORT_NO_HISTORY', `no workload history in this database (${err instanceof Error ? err.message : String(err)}); run \`bgc migrate\` and let the app take snapshots`);
        }
        throw err;
      } finally {
        await db.close();
      }
    });
}
