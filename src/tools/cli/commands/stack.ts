import type { Command } from 'commander';
import { loadConfig } from '../../../config/index.ts';
import fs from 'node:fs';
import { archiveDir } from '../../../partitions/archive-file.ts';
import { LocalStack, type NodeStatus } from '../../stack/stack.ts';
import { MonitoringStack } from '../../stack/monitoring.ts';
import { CliError, printJson, printTable, progressLine } from '../output.ts';
import { MAX_INSTANCES } from '../../stack/fleet/layout.ts';
import { haDown, haStackExists, haStatus, haUp } from '../ha-stack.ts';
import { fleetFor, fleetUp } from '../../stack/fleet/commands.ts';
import { localPgBouncer, pgbouncerEnv } from '../../stack/pgbouncer/layout.ts';
import { sentinelFor, sentinelStatusRows, sentinelUp } from '../../stack/sentinel/commands.ts';

export function register(program: Command): void {
  const stack = program.command('stack').description('Local PostgreSQL primary + 2 streaming replicas + Redis (DESIGN §2)');

  stack.command('up')
    .description('Create and start the local stack (idempotent)')
    .option('--json', 'print the resulting status as JSON')
    .option('--monitoring', 'also start Prometheus, Alertmanager, postgres_exporter and redis_exporter (deploy/)')
    .option('--ha', 'the high-availability stack instead: 3 PostgreSQL members under Patroni, 3 etcd members, HAProxy (DESIGN §7)')
    .option('--instances <n>', 'also N API processes (bgc serve) behind HAProxy on PORT: instance i on PORT+9+i (admin PORT+49+i), stats on PORT+9', parseInstances)
    .option('--pgbouncer', 'also one PgBouncer (transaction pooling) per node on 64320-64322 (+ offset); with --instances the instances use them')
    .option('--sentinel', 'also Redis Sentinel: a master, 2 replicas and 3 sentinels on 63791-63796 (+ offset); with --instances the instances use it')
    .action(async (opts: { json?: boolean; monitoring?: boolean; ha?: boolean; instances?: number; pgbouncer?: boolean; sentinel?: boolean }) => {
      checkUpOptions(opts);
      const config = loadConfig();
      if (opts.ha) { await haUp(config, opts); return; }
      const local = new LocalStack(config);
      // With a fleet, Prometheus scrapes each instance's admin port (nothing listens on ADMIN_PORT then).
      const appTargets = opts.instances === undefined ? undefined : fleetFor(config, opts.instances).layout.instances.map((i) => `127.0.0.1:${i.adminPort}`);
      const monitoring = opts.monitoring ? new MonitoringStack(config, appTargets ? { appTargets } : {}) : undefined;
      // One preflight for every port, monitoring's included, before anything starts.
      await local.up(progressLine, { alsoFree: monitoring?.portClaims() ?? [] });
      await monitoring?.up(progressLine);
      let behindPgBouncer: Record<string, string> | undefined;
      if (opts.pgbouncer) {
        const pgb = localPgBouncer(config);
        await pgb.up(progressLine);
        behindPgBouncer = pgbouncerEnv(pgb, config.database.primaryUrl, databaseName(config.database.primaryUrl));
        progressLine(`behind PgBouncer (docs/OPERATIONS.md): ${Object.entries(behindPgBouncer).map(([k, v]) => `${k}=${v}`).join(' ')}`);
      }
      const withSentinel = opts.sentinel ? await sentinelUp(config, progressLine) : undefined;
      if (opts.instances !== undefined) await fleetUp(config, opts.instances, progressLine, { ...behindPgBouncer, ...withSentinel });
      const status = await local.status();
      const monStatus = monitoring ? await monitoring.status() : undefined;
      if (opts.json) printJson(monStatus ? { nodes: status, monitoring: monStatus } : status);
      else { printTable(status.map(flat)); if (monStatus) printTable(monStatus); }
    });

  stack.command('down')
    .description("Stop this checkout's own nodes (its monitoring, fleet, PgBouncer, Sentinel and --ha stack too, if started); servers it did not start are left alone")
    .option('--purge', "also delete this checkout's data: the data folder, its PostgreSQL folder and its --ha stack's folder")
    .option('--ha', 'the high-availability stack instead (with --purge: only its data)')
    .option('--instances', 'only the API instances and their HAProxy (bgc stack up --instances N)')
    .option('--sentinel', 'only the Redis Sentinel set (bgc stack up --sentinel)')
    .action(async (opts: { purge?: boolean; ha?: boolean; instances?: boolean; sentinel?: boolean }) => {
      const only = [opts.ha && '--ha', opts.instances && '--instances', opts.sentinel && '--sentinel'].filter(Boolean);
      if (only.length > 1) throw new CliError('STACK_INVALID_OPTION', `${only.join(' and ')} each stop one part; give one of them`, 2);
      if (opts.instances && opts.purge) throw new CliError('STACK_INVALID_OPTION', '--purge with --instances: the fleet keeps no data; use `bgc stack down --purge` to delete the stack\'s', 2);
      const config = loadConfig();
      if (opts.ha) { await haDown(config, opts); return; }
      if (opts.sentinel) { await sentinelFor(config).down({ purge: opts.purge ?? false }); progressLine('Redis Sentinel set stopped'); return; }
      // The fleet first (HAProxy, then each instance drained): only the processes our pid files name.
      await fleetFor(config).down();
      if (opts.instances) { progressLine('instances and their HAProxy stopped'); return; }
      await localPgBouncer(config).down();
      await sentinelFor(config).down({ purge: opts.purge ?? false });
      await new MonitoringStack(config).down();
      // An --ha stack of this checkout too: as root it lives outside the data folder
      // (/var/lib/bgc/ha-<hash>), so purging the data folder alone left it running. First,
      // since otherwise its data (in .data/ha) goes with the purge. If it cannot be stopped,
      // the plain stack still stops, nothing is purged, and the HA error is what `down` reports.
      let haFailure: unknown;
      if (haStackExists(config)) await haDown(config, opts).catch((err: unknown) => { haFailure = err; });
      const purge = (opts.purge ?? false) && haFailure === undefined;
      const removed = await new LocalStack(config).down({ purge });
      for (const r of removed) progressLine(`deleted ${r}`);
      const archive = archiveDir(config.dataDir);
      if (purge && fs.existsSync(archive)) progressLine(`kept ${archive}: archived months' files, perhaps their only copy; delete it yourself once they are safe elsewhere`);
      if (haFailure !== undefined) throw haFailure;
      progressLine(opts.purge ? 'stack stopped and data purged' : 'stack stopped');
    });

  stack.command('status')
    .description("Each node's role, port, state (or the foreign process holding its port), pid, data folder and replication lag")
    .option('--json', 'machine-readable output')
    .option('--ha', "the high-availability stack instead: members' roles, timelines and lag, etcd, HAProxy")
    .action(async (opts: { json?: boolean; ha?: boolean }) => {
      if (opts.ha) { await haStatus(loadConfig(), opts); return; }
      const config = loadConfig();
      const local = new LocalStack(config);
      const status = await local.status();
      if (opts.json) { printJson(status); return; }
      printTable(status.map(flat));
      const pgbouncers = localPgBouncer(config).status().filter((b) => b.state === 'running');
      if (pgbouncers.length > 0) printTable(pgbouncers);
      const sentinelRows = await sentinelStatusRows(config);
      if (sentinelRows.length > 0) printTable(sentinelRows);
      progressLine(`data folder ${local.layout.dataDir}; PostgreSQL data ${local.pgRoot}`);
    });
}

/**
 * Option mistakes are refused before anything starts (exit 2): `--ha` is a stack of its own
 * (parts given with it were ignored), and a bad `--instances` (parseInstances) was found only
 * after PostgreSQL, Redis and the rest were up.
 */
function checkUpOptions(opts: { monitoring?: boolean; ha?: boolean; instances?: number; pgbouncer?: boolean; sentinel?: boolean }): void {
  if (opts.ha) {
    const extras = [opts.monitoring && '--monitoring', opts.instances !== undefined && '--instances', opts.pgbouncer && '--pgbouncer', opts.sentinel && '--sentinel'].filter(Boolean);
    if (extras.length > 0) throw new CliError('STACK_INVALID_OPTION', `--ha starts only the HA stack; ${extras.join(', ')} work with the plain stack (docs/OPERATIONS.md)`, 2);
  }
}

function parseInstances(raw: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > MAX_INSTANCES) throw new CliError('STACK_INVALID_OPTION', `--instances must be an integer from 1 to ${MAX_INSTANCES}, got "${raw}"`, 2);
  return n;
}

/** The database a URL names (the local stack's `bgc` unless DATABASE_URL says otherwise). */
function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1)) || 'postgres';
}

function flat(n: NodeStatus): Record<string, unknown> {
  return {
    name: n.name, role: n.role, port: n.port, state: n.state, pid: n.pid, lag_bytes: n.lagBytes, lag_seconds: n.lagSeconds,
    detail: n.holder ? `held by ${n.holder.description}` : n.detail, dir: n.dir,
  };
}
