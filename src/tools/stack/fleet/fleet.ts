import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { childEnv } from '../../../config/index.ts';
import { findOnPath, isRoot, run } from '../exec.ts';
import { isOurs, ownedPid, signal, startOwned, stopOwned, until } from '../ha/owned-process.ts';
import { withStackLock } from '../stack-lock.ts';
import { HARD_STOP_AFTER_MS, fleetHaproxyConfig } from './haproxy-config.ts';
import type { FleetInstanceLayout, FleetLayout } from './layout.ts';

export interface FleetMemberStatus {
  readonly name: string;
  readonly port: number;
  readonly pid: number | undefined;
  /** HAProxy's view (UP, DOWN, MAINT, …), '' when HAProxy does not answer. */
  readonly haproxy: string;
  readonly dir: string;
}

/**
 * N `bgc serve` processes behind one HAProxy (`bgc stack up --instances N`). Every process
 * is started detached with a pid file in its own folder and signalled only after checking
 * that the pid still runs *our* command line (src/tools/stack/ha/owned-process.ts): an instance's
 * command line carries `--env-file=<its folder>/instance.env`, HAProxy's its config path. So
 * `down` stops exactly these processes and never another checkout's or a reused pid.
 * The instances share the database and Redis of the environment that started them.
 */
export class Fleet {
  constructor(readonly layout: FleetLayout, readonly projectRoot: string, readonly env: Record<string, string> = {}) {}

  get haproxyDir(): string { return path.join(this.layout.dir, 'haproxy'); }
  get haproxyConfigFile(): string { return path.join(this.haproxyDir, 'haproxy.cfg'); }
  /** HAProxy's output: its warnings, and one line per request when layout.requestLog is on. */
  get haproxyLogFile(): string { return path.join(this.haproxyDir, 'haproxy.log'); }
  get haproxyPidFile(): string { return path.join(this.haproxyDir, 'haproxy.pid'); }

  instance(name: string): FleetInstanceLayout {
    const i = this.layout.instances.find((m) => m.name === name);
    if (!i) throw new Error(`no fleet instance ${name}`);
    return i;
  }

  pidOf(name: string): number | undefined {
    const i = this.instance(name);
    return ownedPid(pidFile(i), envFile(i));
  }

  /**
   * Starts every instance, waits for each to be ready, then HAProxy, and waits until it sees
   * exactly them, all UP. On a running fleet of another size this resizes it without failing a
   * request: new instances are ready before a new HAProxy (with `-sf`) sends them traffic, and
   * instances beyond the new size are drained only once no HAProxy sends them any.
   */
  async up(progress: (line: string) => void = () => undefined, timeoutMs = 120_000): Promise<void> {
    // One up or down at a time per fleet: two resizes at once could each replace the same HAProxy.
    await withStackLock(this.layout.dir, () => this.#up(progress, timeoutMs));
  }

  async #up(progress: (line: string) => void, timeoutMs: number): Promise<void> {
    this.#checkSettings();
    for (const i of this.layout.instances) this.startInstance(i.name);
    for (const i of this.layout.instances) {
      const ms = await this.waitReady(i.name, timeoutMs);
      progress(`${i.name} ready on port ${i.port} (${ms} ms)`);
    }
    const replaced = await this.startHaproxy();
    if (replaced !== undefined) progress(`HAProxy reloaded for ${this.layout.instances.length} instances; the old one (pid ${replaced}) finished in ${await this.#waitReplaced(replaced)} ms`);
    const names = this.layout.instances.map((i) => i.name).sort().join(',');
    const ms = await until('HAProxy sees every instance UP', async () => {
      const s = await this.haproxyServers();
      return [...s.keys()].sort().join(',') === names && [...s.values()].every((state) => state === 'UP');
    }, timeoutMs);
    progress(`HAProxy on port ${this.layout.apiPort}: ${this.layout.instances.length} instances UP (${ms} ms)`);
    for (const name of this.strayInstances()) {
      await stopOwned(path.join(this.layout.dir, name, 'instance.pid'), path.join(this.layout.dir, name, 'instance.env'), this.layout.drainMs + 20_000);
      fs.rmSync(path.join(this.layout.dir, name), { recursive: true, force: true });
      progress(`${name} drained and stopped (beyond ${this.layout.instances.length} instances)`);
    }
  }

  /** Instance folders an earlier, larger `up` left beyond this layout (api4 after a resize to 3). */
  strayInstances(): string[] {
    let names: string[];
    try { names = fs.readdirSync(this.layout.dir); } catch { return []; }
    const own = new Set(this.layout.instances.map((i) => i.name));
    return names.filter((n) => /^api\d+$/.test(n) && !own.has(n));
  }

  /**
   * Waits for a replaced HAProxy to finish what it held (bounded by its hard-stop-after); ms
   * taken. One started before that setting existed keeps a WebSocket tunnel for an hour: it is
   * stopped (SIGTERM, HAProxy's hard stop) once the bound has passed, never left untracked.
   */
  async #waitReplaced(pid: number): Promise<number> {
    const gone = () => Promise.resolve(!isOurs(pid, this.haproxyConfigFile));
    const started = Date.now();
    await until(`the replaced HAProxy (pid ${pid}) to exit`, gone, HARD_STOP_AFTER_MS + 10_000, 100).catch(async () => {
      signal(pid, 'SIGTERM');
      await until(`the replaced HAProxy (pid ${pid}) to stop after SIGTERM`, gone, 10_000, 100);
    });
    return Date.now() - started;
  }

  /** The settings every instance shares (`env`: PgBouncer, Sentinel URLs), as the running fleet got them. */
  get #settingsFile(): string { return path.join(this.layout.dir, 'fleet-settings.json'); }

  /**
   * A fleet's instances must share one database path and one Redis: growing a fleet started
   * with --sentinel or --pgbouncer without them would split its cache invalidation and real
   * time between two Redis servers. So a running fleet's settings are recorded, and an `up`
   * with other settings is refused while any instance runs.
   */
  #checkSettings(): void {
    const wanted = JSON.stringify(Object.fromEntries(Object.entries(this.env).sort(([a], [b]) => (a < b ? -1 : 1))));
    const running = this.layout.instances.some((i) => this.pidOf(i.name) !== undefined) || this.strayInstances().length > 0;
    const recorded = readOr(this.#settingsFile, '');
    if (running && recorded !== '' && recorded !== wanted) {
      const names = (json: string) => Object.keys(JSON.parse(json) as Record<string, string>);
      const differ = [...new Set([...names(recorded), ...names(wanted)])].filter((k) => (JSON.parse(recorded) as Record<string, string>)[k] !== (JSON.parse(wanted) as Record<string, string>)[k]);
      throw new Error(`the running fleet was started with other settings (${differ.join(', ')}: --pgbouncer or --sentinel differ); run \`bgc stack down --instances\` first, then \`up\` with the settings you want`);
    }
    fs.mkdirSync(this.layout.dir, { recursive: true });
    fs.writeFileSync(this.#settingsFile, wanted, { mode: 0o600 });
  }

  /** Starts one instance unless it already runs; returns its pid. */
  startInstance(name: string): number {
    const i = this.instance(name);
    const running = this.pidOf(name);
    if (running !== undefined) return running;
    fs.mkdirSync(i.dir, { recursive: true });
    const own = {
      PORT: String(i.port), ADMIN_PORT: String(i.adminPort),
      // HAProxy on loopback is the only proxy: X-Forwarded-For from it names the client.
      BGC_TRUST_PROXY: '127.0.0.1', BGC_DRAIN_MS: String(this.layout.drainMs),
    };
    fs.writeFileSync(envFile(i), Object.entries(own).map(([k, v]) => `${k}=${v}\n`).join(''));
    return startOwned({
      bin: process.execPath,
      args: [`--env-file=${envFile(i)}`, path.join(this.projectRoot, 'bin', 'bgc.js'), 'serve'],
      pidFile: pidFile(i), logFile: path.join(i.dir, 'instance.log'), marker: envFile(i), cwd: this.projectRoot,
      env: childEnv({ ...this.env, ...own }),
    });
  }

  /** Waits until the instance's own /readyz answers 200; returns the ms it took. */
  async waitReady(name: string, timeoutMs: number): Promise<number> {
    const i = this.instance(name);
    return until(`${name} ready`, async () => {
      if (this.pidOf(name) === undefined) throw new Error(`${name} exited; see ${path.join(i.dir, 'instance.log')}`);
      try {
        const res = await fetch(`http://127.0.0.1:${i.port}/readyz`, { signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        return res.ok;
      } catch { return false; }
    }, timeoutMs);
  }

  /** SIGTERM (a graceful drain) and wait until it has exited; SIGKILL after the drain period + 20 s. */
  async stopInstance(name: string): Promise<boolean> {
    const i = this.instance(name);
    return stopOwned(pidFile(i), envFile(i), this.layout.drainMs + 20_000);
  }

  /** SIGKILL, for failure tests: what it was doing is lost. */
  killInstance(name: string): void {
    const pid = this.pidOf(name);
    if (pid !== undefined) signal(pid, 'SIGKILL');
  }

  /**
   * Starts HAProxy unless it already runs this layout's config. One running another config (a
   * fleet of another size) is replaced: the new process binds beside it (SO_REUSEPORT) and
   * `-sf` tells the old one to stop listening and finish what it holds. Returns the replaced pid.
   */
  async startHaproxy(): Promise<number | undefined> {
    const config = fleetHaproxyConfig(this.layout, { descriptorLimit: hardDescriptorLimit(), dropTo: isRoot() ? 'haproxy' : undefined });
    const running = this.haproxyPid();
    if (running !== undefined && readOr(this.haproxyConfigFile, '') === config) return undefined;
    fs.mkdirSync(this.haproxyDir, { recursive: true });
    // A running HAProxy read its config at start: rewriting the file does not touch it.
    fs.writeFileSync(this.haproxyConfigFile, config);
    const bin = findOnPath('haproxy', ['haproxy']);
    await run(bin, ['-c', '-q', '-f', this.haproxyConfigFile]);
    // Started as ourselves: it reads its config (which may sit in a mode-700 folder) and binds,
    // then, as root, drops to Debian's `haproxy` user by itself.
    const logFile = this.haproxyLogFile;
    const replace = running === undefined ? [] : ['-sf', String(running)];
    const pid = startOwned({ bin, args: ['-db', '-f', this.haproxyConfigFile, ...replace], pidFile: this.haproxyPidFile, logFile, marker: this.haproxyConfigFile });
    try {
      await until('HAProxy answering', async () => {
        if (!isOurs(pid, this.haproxyConfigFile)) throw new Error(`HAProxy exited: ${fs.readFileSync(logFile, 'utf8').slice(-2_000)}`);
        return (await this.haproxyServers()).size > 0;
      }, 10_000, 100);
    } catch (err) {
      // A replacement that could not start leaves the old one serving (HAProxy resumes it):
      // the pid file names it again, so `down` still finds it.
      if (running !== undefined && isOurs(running, this.haproxyConfigFile)) fs.writeFileSync(this.haproxyPidFile, `${running}\n`);
      throw err;
    }
    return running;
  }

  haproxyPid(): number | undefined { return ownedPid(this.haproxyPidFile, this.haproxyConfigFile); }

  /**
   * A soft stop first (SIGUSR1: stop listening, finish the requests in flight), so `down` cuts
   * no answer on its way; SIGTERM (HAProxy's hard stop) after SOFT_STOP_MS. Not the whole
   * hard-stop-after: an idle keep-alive client would hold the old process that long for nothing.
   */
  async stopHaproxy(): Promise<void> {
    const pid = this.haproxyPid();
    if (pid !== undefined) {
      signal(pid, 'SIGUSR1');
      await until('HAProxy finishing its requests', () => Promise.resolve(!isOurs(pid, this.haproxyConfigFile)), SOFT_STOP_MS, 100).catch(() => undefined);
    }
    await stopOwned(this.haproxyPidFile, this.haproxyConfigFile, 10_000);
  }

  /** HAProxy's state of each instance, from its stats page (empty when it does not answer). */
  async haproxyServers(): Promise<Map<string, string>> {
    const stats = await this.haproxyServerStats();
    return new Map([...stats].map(([name, fields]) => [name, fields['status'] ?? '']));
  }

  /**
   * Every field of HAProxy's stats page for each instance of the `instances` backend, by the
   * page's own column names (`status`, `stot`, `connect`, `reuse`, ...); empty when it does
   * not answer.
   */
  async haproxyServerStats(): Promise<Map<string, Readonly<Record<string, string>>>> {
    const rows = await this.haproxyStats();
    return new Map(rows.filter((r) => r['pxname'] === 'instances' && r['svname'] !== 'BACKEND').map((r) => [r['svname'] ?? '', r]));
  }

  /**
   * The `api` frontend's row (what clients were answered: `hrsp_5xx` ...) and the `instances`
   * backend's (its queue: `qmax` ...) of the stats page; undefined when it does not answer.
   */
  async haproxyTotals(): Promise<{ frontend: Readonly<Record<string, string>>; backend: Readonly<Record<string, string>> } | undefined> {
    const rows = await this.haproxyStats();
    const frontend = rows.find((r) => r['pxname'] === 'api' && r['svname'] === 'FRONTEND');
    const backend = rows.find((r) => r['pxname'] === 'instances' && r['svname'] === 'BACKEND');
    return frontend && backend ? { frontend, backend } : undefined;
  }

  /** Every row of HAProxy's stats page (CSV), by its column names; empty when it does not answer. */
  private async haproxyStats(): Promise<Array<Readonly<Record<string, string>>>> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.layout.statsPort}/;csv`, { signal: AbortSignal.timeout(1_000) });
      const lines = (await res.text()).split('\n').filter((l) => l.length > 0);
      const header = (lines[0] ?? '').replace(/^# /, '').split(',');
      return lines.slice(1).map((l) => Object.fromEntries(l.split(',').map((v, i) => [header[i] ?? String(i), v])));
    } catch {
      return [];
    }
  }

  async status(): Promise<FleetMemberStatus[]> {
    const seen = await this.haproxyServers();
    return this.layout.instances.map((i) => ({ name: i.name, port: i.port, pid: this.pidOf(i.name), haproxy: seen.get(i.name) ?? '', dir: i.dir }));
  }

  /** Stops HAProxy first (no new requests), then every instance with a graceful drain. */
  async down(): Promise<void> {
    if (!fs.existsSync(this.layout.dir)) return;
    await withStackLock(this.layout.dir, () => this.#down());
  }

  async #down(): Promise<void> {
    await this.stopHaproxy();
    await Promise.all(this.layout.instances.map((i) => this.stopInstance(i.name)));
  }
}

/**
 * The hard descriptor limit HAProxy inherits from us (`ulimit -Hn`); it raises its own soft
 * limit to it (`ulimit-n` in its config). 20,000 when the shell cannot tell (unlimited included).
 */
function hardDescriptorLimit(): number {
  const FALLBACK = 20_000;
  try {
    const n = Number(execFileSync('/bin/sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim());
    return Number.isInteger(n) && n > 0 ? n : FALLBACK;
  } catch {
    return FALLBACK;
  }
}

/** What `down` gives HAProxy's requests in flight (API requests take milliseconds; the app's own timeout is 30 s). */
const SOFT_STOP_MS = 3_000;

function readOr(file: string, fallback: string): string {
  try { return fs.readFileSync(file, 'utf8'); } catch { return fallback; }
}

function pidFile(i: FleetInstanceLayout): string { return path.join(i.dir, 'instance.pid'); }
function envFile(i: FleetInstanceLayout): string { return path.join(i.dir, 'instance.env'); }
