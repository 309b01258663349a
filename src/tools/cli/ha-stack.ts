import fs from 'node:fs';
import type { Config } from '../../config/index.ts';
import { HaStack, type HaStatus } from '../stack/ha/ha-stack.ts';
import { haLayoutFor, haUrls } from '../stack/ha/layout.ts';
import { CliError, printJson, printTable, progressLine } from './output.ts';

/**
 * `bgc stack up|status|down --ha`: the high-availability stack of DESIGN §7 (three
 * PostgreSQL members under Patroni, three etcd members, HAProxy). The plain stack's
 * command (src/tools/cli/commands/stack.ts) hands over to these when `--ha` is given.
 */
export async function haUp(config: Config, opts: { json?: boolean }): Promise<void> {
  const stack = new HaStack(haLayoutFor(config));
  const started = Date.now();
  await stack.up(progressLine);
  progressLine(`HA stack up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const status = await stack.status();
  if (opts.json) { printJson({ ...status, urls: haUrls(stack.layout) }); return; }
  printHaStatus(status);
  const urls = haUrls(stack.layout);
  process.stdout.write(`\nUse it with:\n  DATABASE_URL=${urls.primaryUrl}\n  BGC_PATRONI_URLS=${urls.patroniUrls.join(',')}\n` +
    `  (healthy replicas behind one port: ${urls.replicaUrl})\n`);
}

export async function haDown(config: Config, opts: { purge?: boolean }): Promise<void> {
  await new HaStack(haLayoutFor(config)).down({ purge: opts.purge ?? false });
  progressLine(opts.purge ? 'HA stack stopped and its data purged' : 'HA stack stopped');
}

/** Whether `up --ha` ever made this checkout's HA stack (its folder exists). */
export function haStackExists(config: Config): boolean {
  return fs.existsSync(haLayoutFor(config).root);
}

export async function haStatus(config: Config, opts: { json?: boolean }): Promise<void> {
  const status = await new HaStack(haLayoutFor(config)).status();
  if (opts.json) printJson(status); else printHaStatus(status);
  const leaders = status.members.filter((m) => m.role === 'leader');
  if (leaders.length !== 1) throw new CliError('HA_NO_LEADER', `the HA stack has ${leaders.length} leaders (expected 1); see \`bgc stack status --ha\``);
}

function printHaStatus(s: HaStatus): void {
  printTable(s.members.map((m) => ({
    member: m.name, role: m.role, state: m.state, timeline: m.timeline, lag_bytes: m.lagBytes,
    port: m.port, rest: m.restPort, patroni_pid: m.patroniPid, postmaster_pid: m.postmasterPid,
  })));
  process.stdout.write('\n');
  printTable(s.etcd.map((e) => ({ etcd: e.name, client_port: e.clientPort, running: e.running, healthy: e.healthy })));
  process.stdout.write('\n');
  const up = (listener: string): string => s.haproxy.servers.filter((x) => x.listener === listener && x.status === 'UP').map((x) => x.server).join(',') || '-';
  printTable([
    { haproxy: 'leader', port: s.haproxy.primaryPort, serving: up('primary') },
    { haproxy: 'replicas', port: s.haproxy.replicaPort, serving: up('replicas') },
    { haproxy: 'stats', port: s.haproxy.statsPort, serving: s.haproxy.running ? 'running' : 'stopped' },
  ]);
}
