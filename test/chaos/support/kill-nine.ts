import fs from 'node:fs';
import path from 'node:path';

/**
 * `kill -9` of a PostgreSQL server: SIGKILL to the postmaster and every child at once
 * (backends, WAL writer, checkpointer…), so nothing gets to flush, clean up or notice: the
 * server is gone as after a power cut of the process tree. The next start runs crash
 * recovery from the WAL. Linux only (reads /proc).
 */
export function postmasterPid(dataDir: string): number {
  const first = fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0] ?? '';
  const pid = Number(first.trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no postmaster pid in ${dataDir}/postmaster.pid`);
  return pid;
}

/** Direct children of `pid`, from /proc/<n>/stat (the ppid follows the last ')' of the command name). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) out.push(Number(entry));
    } catch {
      // The process exited while we looked.
    }
  }
  return out;
}

/**
 * Still in the process table, zombies included: PostgreSQL's start refuses while the pid in
 * postmaster.pid answers kill(pid, 0), which a dead but unreaped postmaster does ("lock file
 * postmaster.pid already exists": CI restarted too early once when zombies counted as gone).
 */
function alive(pid: number): boolean {
  return fs.existsSync(`/proc/${pid}`);
}

/** SIGKILLs the server of `dataDir` and waits (bounded) until none of its processes is left; returns how many were killed. */
export async function killNine(dataDir: string, timeoutMs = 15_000): Promise<number> {
  const postmaster = postmasterPid(dataDir);
  const victims = [postmaster, ...childrenOf(postmaster)];
  for (const pid of victims) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  const started = Date.now();
  while (victims.some(alive)) {
    if (Date.now() - started > timeoutMs) throw new Error(`postgres processes still alive ${timeoutMs} ms after SIGKILL`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return victims.length;
}
