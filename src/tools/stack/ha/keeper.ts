import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

/**
 * The keeper: what systemd's `Restart=always` is for Patroni on a real machine (the runbook
 * in docs/OPERATIONS.md). It runs Patroni, records Patroni's pid, and starts it again a
 * fixed delay after it dies for any reason but our own SIGTERM, so a member whose Patroni was
 * killed comes back and rejoins by itself. It is started detached by `bgc stack up --ha`
 * (src/tools/stack/ha/patroni-member.ts) with one JSON argument, a KeeperSpec.
 */
export interface KeeperSpec {
  readonly bin: string;
  readonly args: readonly string[];
  /** Where the current Patroni pid is written at each start. */
  readonly pidFile: string;
  readonly logFile: string;
  readonly uid?: number;
  readonly gid?: number;
  readonly env: Record<string, string>;
  /** How long a dead Patroni stays dead (see restartDelayMs in patroni-member.ts). */
  readonly restartDelayMs: number;
}

function main(): void {
  const spec = JSON.parse(process.argv[2] ?? '{}') as KeeperSpec;
  let child: ChildProcess | undefined;
  let stopping = false;

  const launch = (): void => {
    const out = fs.openSync(spec.logFile, 'a');
    child = spawn(spec.bin, [...spec.args], {
      stdio: ['ignore', out, out], env: spec.env, cwd: '/',
      ...(spec.uid !== undefined && spec.gid !== undefined ? { uid: spec.uid, gid: spec.gid } : {}),
    });
    fs.closeSync(out);
    if (child.pid !== undefined) fs.writeFileSync(spec.pidFile, `${child.pid}\n`);
    child.once('exit', (code, sig) => {
      fs.appendFileSync(spec.logFile, `${new Date().toISOString()} keeper: patroni exited (${sig ?? code})${stopping ? '' : `, restarting in ${spec.restartDelayMs} ms`}\n`);
      child = undefined;
      if (stopping) { fs.rmSync(spec.pidFile, { force: true }); process.exit(0); }
      setTimeout(() => { if (!stopping) launch(); }, spec.restartDelayMs);
    });
  };

  const stop = (): void => {
    stopping = true;
    if (!child) process.exit(0);
    // Patroni stops PostgreSQL on SIGTERM (a fast shutdown), then exits.
    child.kill('SIGCONT');
    child.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  launch();
}

main();
