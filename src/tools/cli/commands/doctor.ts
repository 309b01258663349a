import type { Command } from 'commander';
import { loadConfig } from '../../../config/index.ts';
import { Database } from '../../../db/database.ts';
import { runDoctor } from '../../doctor/run-doctor.ts';
import { printJson, printTable, progressLine } from '../output.ts';

export function register(program: Command): void {
  program.command('doctor')
    .description('Audit the live system (FK indexes, invalid/duplicate indexes, primary keys, partitioning, pg_stat_statements, replication, Redis eviction); exits 1 on any finding')
    .option('--json', 'machine-readable output: {findings: [...], checks: [...]}')
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig();
      const db = new Database(config, { applicationName: 'bgc-doctor', lazy: true });
      try {
        const report = await runDoctor(config, db);
        if (opts.json) printJson(report);
        else {
          printTable(report.findings as unknown as Record<string, unknown>[], ['check', 'severity', 'object', 'detail']);
          progressLine(`${report.checks.length} checks run, ${report.findings.length} finding(s)`);
        }
        if (report.findings.length > 0) process.exitCode = 1;
      } finally {
        await db.close();
      }
    });
}
