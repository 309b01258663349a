import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { Config } from '../../config/index.ts';
import { LOCAL_STACK } from '../../config/index.ts';
import { findOnPath, sleep } from './exec.ts';
import type { Progress } from './stack.ts';
import type { PortClaim } from './preflight.ts';
import {
  renderAlertmanagerConfig, renderPrometheusConfig, scaleRules, parseDuration, type PgExporterTarget,
} from './monitoring-config.ts';

export interface MonitoringPorts {
  readonly prometheus: number;
  readonly alertmanager: number;
  /** One postgres_exporter per node, in the order of the nodes (primary first). */
  readonly postgresExporters: readonly number[];
  readonly redisExporter: number;
}

export const DEFAULT_MONITORING_PORTS: MonitoringPorts = {
  prometheus: 9090, alertmanager: 9093, postgresExporters: [9187, 9188, 9189], redisExporter: 9121,
};

/** The default ports moved by BGC_STACK_PORT_OFFSET, like the rest of the local stack. */
export function monitoringPorts(offset: number): MonitoringPorts {
  const d = DEFAULT_MONITORING_PORTS;
  return {
    prometheus: d.prometheus + offset, alertmanager: d.alertmanager + offset,
    postgresExporters: d.postgresExporters.map((p) => p + offset), redisExporter: d.redisExporter + offset,
  };
}

export interface MonitoringOptions {
  /** Where configs, data, logs and pid files go. Default: <config.dataDir>/monitoring. */
  readonly dir?: string;
  readonly ports?: Partial<MonitoringPorts>;
  /** host:port of each app admin listener to scrape. Default: 127.0.0.1:<ADMIN_PORT>. */
  readonly appTargets?: readonly string[];
  readonly scrapeInterval?: string;
  readonly evaluationInterval?: string;
  /** Multiply every rule `for:` and range window by this (1 = production; tests use 1/15). */
  readonly ruleDurationScale?: number;
  readonly webhookUrl?: string;
  readonly groupWait?: string;
  readonly groupInterval?: string;
  readonly repeatInterval?: string;
}

/** A type alias, not an interface, so it prints through printTable's Record rows. */
export type MonitoringComponentStatus = {
  readonly name: string;
  readonly port: number;
  readonly pid: number | null;
  readonly state: 'running' | 'stopped';
  readonly url: string;
};

interface Component {
  readonly name: string;
  readonly binary: string;
  readonly debPackage: string;
  readonly port: number;
  readonly args: (bin: string) => string[];
  readonly env: Record<string, string>;
  /** Path that answers 200 once the process is ready. */
  readonly readyPath: string;
}

const PATH_ENV = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * `bgc stack up --monitoring`: Prometheus, Alertmanager, one postgres_exporter per node and
 * redis_exporter, all from the Debian packages, as background processes with pid files under
 * one folder. Configuration is rendered from deploy/ (src/tools/stack/monitoring-config.ts) on every
 * `up`, and running servers are told to reload it.
 */
export class MonitoringStack {
  readonly dir: string;
  readonly ports: MonitoringPorts;
  readonly #config: Config;
  readonly #opts: MonitoringOptions;
  readonly #pgTargets: ReadonlyArray<{ node: string; role: 'primary' | 'replica'; dsn: string }>;

  constructor(config: Config, opts: MonitoringOptions = {}) {
    this.#config = config;
    this.#opts = opts;
    this.dir = opts.dir ?? path.join(config.dataDir, 'monitoring');
    this.ports = { ...monitoringPorts(config.stack.portOffset), ...opts.ports };
    this.#pgTargets = postgresTargets(config);
    if (this.ports.postgresExporters.length < this.#pgTargets.length) {
      throw new Error(`monitoring: ${this.#pgTargets.length} PostgreSQL nodes but only ${this.ports.postgresExporters.length} exporter ports`);
    }
  }

  get prometheusUrl(): string { return `http://127.0.0.1:${this.ports.prometheus}`; }
  get alertmanagerUrl(): string { return `http://127.0.0.1:${this.ports.alertmanager}`; }

  #components(): Component[] {
    const d = this.dir;
    const deploy = path.join(this.#config.projectRoot, 'deploy');
    const pg = this.#pgTargets.map((t, i): Component => {
      const port = this.ports.postgresExporters[i] ?? 0;
      return {
        name: `postgres-exporter-${t.node}`, binary: 'prometheus-postgres-exporter', debPackage: 'prometheus-postgres-exporter', port,
        // The DSN goes in the environment, not argv, so credentials never show in `ps`.
        env: { DATA_SOURCE_NAME: t.dsn },
        args: () => [`--web.listen-address=127.0.0.1:${port}`, `--extend.query-path=${path.join(deploy, 'postgres-exporter', 'queries.yaml')}`, '--log.level=warn'],
        readyPath: '/metrics',
      };
    });
    return [
      ...pg,
      {
        name: 'redis-exporter', binary: 'prometheus-redis-exporter', debPackage: 'prometheus-redis-exporter', port: this.ports.redisExporter,
        env: { REDIS_ADDR: this.#config.redis.url },
        args: () => ['-web.listen-address', `127.0.0.1:${this.ports.redisExporter}`],
        readyPath: '/metrics',
      },
      {
        name: 'alertmanager', binary: 'prometheus-alertmanager', debPackage: 'prometheus-alertmanager', port: this.ports.alertmanager, env: {},
        // --cluster.listen-address= turns gossip off: no port 9094 to collide on, and no
        // peer-settle wait before the first notification.
        args: () => [`--config.file=${path.join(d, 'alertmanager.yml')}`, `--storage.path=${path.join(d, 'alertmanager-data')}`,
          `--web.listen-address=127.0.0.1:${this.ports.alertmanager}`, '--cluster.listen-address=', '--log.level=warn'],
        readyPath: '/-/ready',
      },
      {
        name: 'prometheus', binary: 'prometheus', debPackage: 'prometheus', port: this.ports.prometheus, env: {},
        args: () => [`--config.file=${path.join(d, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(d, 'prometheus-data')}`,
          `--web.listen-address=127.0.0.1:${this.ports.prometheus}`, '--storage.tsdb.retention.time=15d', '--web.enable-lifecycle', '--log.level=warn'],
        readyPath: '/-/ready',
      },
    ];
  }

  /** Every port the monitoring servers listen on, for the stack's preflight check. */
  portClaims(): PortClaim[] {
    return this.#components().map((c) => ({ port: c.port, name: c.name, ours: this.#runningPid(c) !== null }));
  }

  /** Renders the configuration, then starts what is not running (idempotent). */
  async up(progress: Progress = () => undefined): Promise<void> {
    const components = this.#components();
    const bins = new Map(components.map((c) => [c.name, findOnPath(c.binary, [c.debPackage])]));
    fs.mkdirSync(this.dir, { recursive: true });
    this.renderConfig();
    for (const c of components) {
      const bin = bins.get(c.name) ?? c.binary;
      const pid = this.#runningPid(c);
      if (pid !== null) {
        if (c.readyPath === '/-/ready') process.kill(pid, 'SIGHUP'); // reload the re-rendered config
        continue;
      }
      if (await portInUse(c.port)) throw new Error(`monitoring: port ${c.port} for ${c.name} is taken by another process (a Debian service? systemctl stop ${c.debPackage})`);
      progress(`starting ${c.name} on ${c.port}`);
      await this.#start(c, bin);
    }
  }

  /** Writes prometheus.yml, the rules, alertmanager.yml and the admin token file into `dir`. */
  renderConfig(): void {
    const deploy = path.join(this.#config.projectRoot, 'deploy');
    const o = this.#opts;
    const rulesDir = path.join(this.dir, 'rules');
    fs.rmSync(rulesDir, { recursive: true, force: true });
    fs.mkdirSync(rulesDir, { recursive: true });
    const scale = o.ruleDurationScale ?? 1;
    const scrapeMs = parseDuration(o.scrapeInterval ?? '15s');
    for (const f of fs.readdirSync(path.join(deploy, 'prometheus', 'rules')).filter((n) => n.endsWith('.yml'))) {
      const text = fs.readFileSync(path.join(deploy, 'prometheus', 'rules', f), 'utf8');
      const out = scale === 1 ? text : scaleRules(text, { factor: scale, minForMs: 1000, minRangeMs: 4 * scrapeMs });
      fs.writeFileSync(path.join(rulesDir, f), out);
    }
    const tokenFile = path.join(this.dir, 'admin-token');
    fs.writeFileSync(tokenFile, this.#config.http.adminToken, { mode: 0o600 });
    const scrapeTimeout = o.scrapeInterval && scrapeMs < 10_000 ? o.scrapeInterval : undefined;
    fs.writeFileSync(path.join(this.dir, 'prometheus.yml'), renderPrometheusConfig(
      fs.readFileSync(path.join(deploy, 'prometheus', 'prometheus.yml'), 'utf8'),
      {
        scrapeInterval: o.scrapeInterval, evaluationInterval: o.evaluationInterval, scrapeTimeout,
        ruleFiles: path.join(rulesDir, '*.yml'),
        alertmanager: `127.0.0.1:${this.ports.alertmanager}`,
        app: o.appTargets ?? [`127.0.0.1:${this.#config.http.adminPort}`],
        adminTokenFile: tokenFile,
        postgres: this.#pgTargets.map((t, i): PgExporterTarget => ({ node: t.node, role: t.role, address: `127.0.0.1:${this.ports.postgresExporters[i] ?? 0}` })),
        redis: `127.0.0.1:${this.ports.redisExporter}`,
        prometheus: `127.0.0.1:${this.ports.prometheus}`,
      },
    ));
    fs.writeFileSync(path.join(this.dir, 'alertmanager.yml'), renderAlertmanagerConfig(
      fs.readFileSync(path.join(deploy, 'alertmanager', 'alertmanager.yml'), 'utf8'),
      { webhookUrl: o.webhookUrl, groupWait: o.groupWait, groupInterval: o.groupInterval, repeatInterval: o.repeatInterval },
    ));
  }

  async #start(c: Component, bin: string): Promise<void> {
    const log = path.join(this.dir, `${c.name}.log`);
    const fd = fs.openSync(log, 'a');
    const child = spawn(bin, c.args(bin), { cwd: this.dir, detached: true, stdio: ['ignore', fd, fd], env: { PATH: PATH_ENV, LANG: 'C.UTF-8', ...c.env } });
    fs.closeSync(fd);
    let exited: number | null | undefined;
    child.on('exit', (code) => { exited = code; });
    child.unref();
    if (child.pid === undefined) throw new Error(`monitoring: could not start ${c.name}`);
    fs.writeFileSync(this.#pidFile(c), String(child.pid));
    const deadline = Date.now() + 30_000;
    while (!(await httpOk(c.port, c.readyPath))) {
      if (exited !== undefined || Date.now() > deadline) {
        const tail = fs.readFileSync(log, 'utf8').trim().split('\n').slice(-8).join('\n');
        throw new Error(`monitoring: ${c.name} ${exited !== undefined ? `exited (${exited})` : 'not ready after 30 s'}; ${log}:\n${tail}`);
      }
      await sleep(100);
    }
  }

  #pidFile(c: Component): string { return path.join(this.dir, `${c.name}.pid`); }

  /** The pid from the pid file if that process is alive and is the expected program. */
  #runningPid(c: Component): number | null {
    let pid: number;
    try { pid = Number(fs.readFileSync(this.#pidFile(c), 'utf8').trim()); } catch { return null; }
    if (!Number.isInteger(pid) || pid <= 0) return null;
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmdline.includes(c.binary) && cmdline.includes(`:${c.port}`) ? pid : null; // pid reuse guard
    } catch {
      return null;
    }
  }

  /** Stops every component this stack started (SIGTERM, then SIGKILL after 10 s). */
  async down(): Promise<void> {
    for (const c of this.#components().reverse()) {
      const pid = this.#runningPid(c);
      if (pid !== null) {
        try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
        for (let i = 0; i < 100 && this.#runningPid(c) !== null; i++) await sleep(100);
        if (this.#runningPid(c) !== null) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
      }
      fs.rmSync(this.#pidFile(c), { force: true });
    }
  }

  async status(): Promise<MonitoringComponentStatus[]> {
    return this.#components().map((c) => {
      const pid = this.#runningPid(c);
      return { name: c.name, port: c.port, pid, state: pid === null ? 'stopped' : 'running', url: `http://127.0.0.1:${c.port}${c.readyPath === '/metrics' ? '/metrics' : '/'}` };
    });
  }
}

/**
 * One exporter target per PostgreSQL node. On the local stack the exporters connect to the
 * `postgres` database (pg_stat_statements is created there by the stack and replicated);
 * otherwise to the configured URLs as they are.
 */
function postgresTargets(config: Config): Array<{ node: string; role: 'primary' | 'replica'; dsn: string }> {
  if (config.usesLocalStack) {
    const dsn = (port: number) => `postgresql://${LOCAL_STACK.user}@127.0.0.1:${port}/postgres?sslmode=disable`;
    return [
      { node: 'primary', role: 'primary', dsn: dsn(config.stack.primaryPort) },
      ...config.stack.replicaPorts.map((p, i) => ({ node: `replica${i + 1}`, role: 'replica' as const, dsn: dsn(p) })),
    ];
  }
  const withSsl = (u: string) => {
    const url = new URL(u);
    if (!url.searchParams.has('sslmode') && ['127.0.0.1', 'localhost'].includes(url.hostname)) url.searchParams.set('sslmode', 'disable');
    return url.toString();
  };
  return [
    { node: 'primary', role: 'primary', dsn: withSsl(config.database.primaryUrl) },
    ...config.database.replicaUrls.map((u, i) => ({ node: `replica${i + 1}`, role: 'replica' as const, dsn: withSsl(u) })),
  ];
}

function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, timeout: 1000 });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(false));
  });
}

/** GET http://127.0.0.1:port/path answers 2xx/3xx within a second. */
export function httpOk(port: number, urlPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, timeout: 1000 }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 500) < 400);
    });
    req.on('timeout', () => { req.destroy(); resolve(false); });
    req.on('error', () => resolve(false));
  });
}
