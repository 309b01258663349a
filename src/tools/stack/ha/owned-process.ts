import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { chownToPostgres, isRoot, PG_OS_USER, sleep } from '../exec.ts';

/**
 * Long-running servers of the HA stack (etcd, HAProxy, the Patroni keepers), started
 * detached so they outlive `bgc stack up --ha`. Each one writes nothing itself: we record
 * its pid in a file under its own folder, and every later signal first checks that the
 * process with that pid is still ours (its command line names its own folder), so `down`
 * never signals a process that merely reused the pid, nor another stack's servers.
 */
export interface OwnedSpec {
  readonly bin: string;
  readonly args: readonly string[];
  readonly pidFile: string;
  readonly logFile: string;
  /** A string the process's command line must contain for it to count as ours. */
  readonly marker: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** As root, run as the unprivileged `postgres` user (PostgreSQL's rule, applied to the whole stack). */
  readonly unprivileged?: boolean;
}

const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function startOwned(spec: OwnedSpec): number {
  if (!fs.existsSync(spec.logFile)) { fs.writeFileSync(spec.logFile, ''); chownToPostgres(spec.logFile); }
  const out = fs.openSync(spec.logFile, 'a');
  try {
    const ids = spec.unprivileged && isRoot() ? postgresIds() : {};
    const child = spawn(spec.bin, [...spec.args], {
      cwd: spec.cwd ?? '/', detached: true, stdio: ['ignore', out, out],
      env: spec.env ?? { PATH: SAFE_PATH, LANG: 'C.UTF-8', HOME: '/tmp' }, ...ids,
    });
    if (child.pid === undefined) throw new Error(`could not start ${spec.bin}`);
    child.unref();
    fs.writeFileSync(spec.pidFile, `${child.pid}\n`);
    return child.pid;
  } finally {
    fs.closeSync(out);
  }
}

/** The pid recorded in `pidFile` if that process is alive and its command line carries `marker`. */
export function ownedPid(pidFile: string, marker: string): number | undefined {
  let pid: number;
  try { pid = Number(fs.readFileSync(pidFile, 'utf8').trim()); } catch { return undefined; }
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  return isOurs(pid, marker) ? pid : undefined;
}

export function isOurs(pid: number, marker: string): boolean {
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    const state = /^State:\s+(\S)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return state !== 'Z' && cmdline.includes(marker);
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; true once the process is gone. */
export async function stopOwned(pidFile: string, marker: string, graceMs = 30_000): Promise<boolean> {
  const pid = ownedPid(pidFile, marker);
  if (pid === undefined) { fs.rmSync(pidFile, { force: true }); return true; }
  signal(pid, 'SIGCONT'); // a process frozen by a chaos test cannot act on SIGTERM
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isOurs(pid, marker)) {
    if (Date.now() > deadline) { signal(pid, 'SIGKILL'); await sleep(200); break; }
    await sleep(100);
  }
  const gone = !isOurs(pid, marker);
  if (gone) fs.rmSync(pidFile, { force: true });
  return gone;
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try { process.kill(pid, sig); } catch { /* already gone */ }
}

export function postgresIds(): { uid: number; gid: number } {
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${PG_OS_USER}:`));
  if (!line) throw new Error(`system user ${PG_OS_USER} not found (apt-get install -y postgresql)`);
  const parts = line.split(':');
  return { uid: Number(parts[2]), gid: Number(parts[3]) };
}

/** Waits until `cond` holds, polling every `everyMs`; throws naming `what` after `timeoutMs`. */
export async function until(what: string, cond: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 200): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await cond()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}
