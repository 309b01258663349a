import type { Command } from 'commander';
import { loadConfig } from '../../config/index.ts';
import { LocalStack } from '../../stack/stack.ts';
import { MonitoringStack } from '../../stack/monitoring.ts';
import { printJson, printTable, progressLine } from '../output.ts';

export function register(program: Command): void {
  const stack = program.command('stack').description('Local PostgreSQL primary + 2 streaming replicas + Redis (DESIGN §2)');

  stack.command('up')
    .description('Create and start the local stack (idempotent)')
    .option('--json', 'print the resulting status as JSON')
    .option('--monitoring', 'also start Prometheus, Alertmanager, postgres_exporter and redis_exporter (deploy/)')
    .action(async (opts: { json?: boolean; monitoring?: boolean }) => {
      const config = loadConfig();
      const local = new LocalStack(config);
      await local.up(progressLine);
      const monitoring = opts.monitoring ? new MonitoringStack(config) : undefined;
      await monitoring?.up(progressLine);
      const status = await local.status();
      const monStatus = monitoring ? await monitoring.status() : undefined;
      if (opts.json) printJson(monStatus ? { nodes: status, monitoring: monStatus } : status);
      else { printTable(status.map(flat)); if (monStatus) printTable(monStatus); }
    });

  stack.command('down')
    .description('Stop every node of the local stack (and its monitoring, if started)')
    .option('--purge', 'also delete the data folder')
    .action(async (opts: { purge?: boolean }) => {
      const config = loadConfig();
      await new MonitoringStack(config).down();
      await new LocalStack(config).down({ purge: opts.purge ?? false });
      progressLine(opts.purge ? 'stack stopped and data purged' : 'stack stopped');
    });

  stack.command('status')
    .description("Each node's role, port, state and replication lag")
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const status = await new LocalStack(loadConfig()).status();
      if (opts.json) printJson(status); else printTable(status.map(flat));
    });
}

function flat(n: { name: string; role: string; port: number; state: string; lagBytes?: number | null; lagSeconds?: number | null; detail?: Record<string, unknown> }): Record<string, unknown> {
  return { name: n.name, role: n.role, port: n.port, state: n.state, lag_bytes: n.lagBytes, lag_seconds: n.lagSeconds, detail: n.detail };
}
