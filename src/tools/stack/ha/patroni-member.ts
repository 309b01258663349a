import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chownToPostgres, findOnPath, isRoot, run } from '../exec.ts';
import type { HaLayout, HaMemberLayout } from './layout.ts';
import { isOurs, ownedPid, postgresIds, signal, startOwned, stopOwned, until } from './owned-process.ts';
import { HA_SETTINGS, patroniConfig } from './patroni-config.ts';
import { onRoleChangeScript, onRoleChangeScriptFile } from './promotion-slots.ts';
import { fetchSelf, type PatroniSelf } from './patroni-rest.ts';
import type { KeeperSpec } from './keeper.ts';

/**
 * A dead Patroni is restarted only after its leader lock has surely expired (ttl + one
 * loop). Restarted sooner, Patroni 3.0.2 found its own lock still alive, logged "Primary
 * crashed. Failing over.", released it, and took it again two seconds later, before the
 * synchronous standby's next loop: the old primary came back after crash recovery and the
 * write outage was 16 s. Restarted after the ttl, the synchronous standby has taken over
 * and the old primary rejoins it as a replica (pg_rewind). systemd's equivalent is
 * `Restart=on-failure` with `RestartSec` above the ttl (docs/OPERATIONS.md).
 */
const RESTART_DELAY_MS = (HA_SETTINGS.ttl + HA_SETTINGS.loop_wait) * 1000;

const here = path.dirname(fileURLToPath(import.meta.url));
const projectRoot = path.resolve(here, '..', '..', '..', '..');

/**
 * One PostgreSQL member under Patroni, run by a keeper (src/tools/stack/ha/keeper.ts) that
 * restarts Patroni when it dies. Files: `<dir>/patroni.yml`, `patroni.log` (Patroni's own
 * log), `keeper.pid` and `patroni.pid`, and the data directory `<dir>/data`, whose
 * `log/postgresql.log` is the server's log.
 */
export class PatroniMember {
  constructor(readonly spec: HaMemberLayout, readonly layout: HaLayout, readonly binDir: string) {}

  get configFile(): string { return path.join(this.spec.dir, 'patroni.yml'); }
  get keeperPidFile(): string { return path.join(this.spec.dir, 'keeper.pid'); }
  get patroniPidFile(): string { return path.join(this.spec.dir, 'patroni.pid'); }
  get restUrl(): string { return `http://127.0.0.1:${this.spec.restPort}`; }
  get keeperPid(): number | undefined { return ownedPid(this.keeperPidFile, this.spec.dir); }
  get patroniPid(): number | undefined { return ownedPid(this.patroniPidFile, this.configFile); }

  /** The running postmaster of this member's data directory, if any. */
  get postmasterPid(): number | undefined {
    try {
      const pid = Number(fs.readFileSync(path.join(this.spec.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return Number.isInteger(pid) && pid > 1 && isOurs(pid, this.spec.dataDir) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** Writes patroni.yml and the promotion callback (every start: settings follow the code) and starts the keeper. */
  start(): void {
    if (this.keeperPid !== undefined) return;
    fs.mkdirSync(this.spec.dir, { recursive: true, mode: 0o700 });
    chownToPostgres(this.spec.dir);
    fs.writeFileSync(this.configFile, patroniConfig(this.layout, this.spec, this.binDir), { mode: 0o600 });
    chownToPostgres(this.configFile);
    const script = onRoleChangeScriptFile(this.spec);
    fs.writeFileSync(script, onRoleChangeScript(this.layout, this.spec, this.binDir), { mode: 0o700 });
    fs.chmodSync(script, 0o700); // writeFileSync's mode applies only when it creates the file
    chownToPostgres(script);
    const ids = isRoot() ? postgresIds() : {};
    const keeper: KeeperSpec = {
      bin: findOnPath('patroni', ['patroni']),
      args: [this.configFile],
      pidFile: this.patroniPidFile,
      logFile: path.join(this.spec.dir, 'patroni.out'),
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', HOME: this.spec.dir },
      restartDelayMs: RESTART_DELAY_MS,
      ...ids,
    };
    startOwned({
      bin: process.execPath,
      args: ['--import', 'tsx', path.join(here, 'keeper.ts'), JSON.stringify(keeper)],
      cwd: projectRoot,
      env: { PATH: keeper.env.PATH ?? '', LANG: 'C.UTF-8' },
      pidFile: this.keeperPidFile, logFile: path.join(this.spec.dir, 'keeper.log'), marker: this.spec.dir,
    });
  }

  /**
   * Stops the keeper (which stops Patroni, which stops PostgreSQL), then anything of ours a
   * chaos test may have orphaned: a Patroni without its keeper, a postmaster without Patroni.
   */
  async stop(): Promise<void> {
    await stopOwned(this.keeperPidFile, this.spec.dir, 90_000);
    await stopOwned(this.patroniPidFile, this.configFile, 60_000);
    if (this.postmasterPid !== undefined) {
      await run(path.join(this.binDir, 'pg_ctl'), ['stop', '-w', '-t', '60', '-m', 'fast', '-D', this.spec.dataDir], { asPostgres: true, allowFail: true });
      const left = this.postmasterPid;
      if (left !== undefined) signal(left, 'SIGKILL');
    }
  }

  /** kill -9 of Patroni and the postmaster at once: the member's machine "dies" (chaos test 1). */
  killHard(): { patroni: number | undefined; postmaster: number | undefined } {
    const patroni = this.patroniPid;
    const postmaster = this.postmasterPid;
    if (patroni !== undefined) signal(patroni, 'SIGKILL');
    if (postmaster !== undefined) signal(postmaster, 'SIGKILL');
    return { patroni, postmaster };
  }

  /** SIGSTOP / SIGCONT of Patroni only: PostgreSQL keeps running, the lock is not renewed. */
  freeze(): number | undefined { const pid = this.patroniPid; if (pid !== undefined) signal(pid, 'SIGSTOP'); return pid; }
  thaw(): void { const pid = this.patroniPid; if (pid !== undefined) signal(pid, 'SIGCONT'); }

  self(timeoutMs = 1_000): Promise<PatroniSelf | undefined> { return fetchSelf(this.restUrl, timeoutMs); }

  async waitRunning(timeoutMs: number): Promise<void> {
    await until(`${this.spec.name}: Patroni reports PostgreSQL running`, async () => (await this.self())?.state === 'running', timeoutMs, 250);
  }
}
