import fs from 'node:fs';

/**
 * What the machine says about a process, read from /proc. The stack uses these to tell its
 * own servers (named by a pid file in its data folder) from anything else on the machine.
 */

/** The first line of a pid file as a pid, or null when the file is missing or not a pid. */
export function readPidFile(file: string): number | null {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch { return null; }
  const pid = Number(text.split('\n')[0]?.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** The command line of a live process (arguments joined by spaces), or null when it is gone. */
export function commandLine(pid: number): string | null {
  try {
    const raw = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const text = raw.split('\0').join(' ').trim();
    return text.length > 0 ? text : null;
  } catch {
    return null;
  }
}

/** The process's working folder, or null when it is gone or hidden from this user. */
export function workingDir(pid: number): string | null {
  try { return fs.readlinkSync(`/proc/${pid}/cwd`); } catch { return null; }
}

/** The path with symlinks resolved, or the path as given when it does not exist (yet). */
export function realPath(p: string): string {
  try { return fs.realpathSync(p); } catch { return p; }
}

/**
 * The pid in `pidFile` if that process is alive, runs `program`, and belongs to `dir`: its
 * working folder is `dir` (PostgreSQL and Redis both chdir into their data folder) or, when
 * that is hidden, its command line names `dir`. This guards against a stale pid file whose
 * number the kernel has since given to another process.
 */
export function ownedPid(pidFile: string, program: string, dir: string): number | null {
  const pid = readPidFile(pidFile);
  if (pid === null) return null;
  const cmd = commandLine(pid);
  if (cmd === null || !cmd.includes(program)) return null;
  const cwd = workingDir(pid);
  if (cwd !== null) return cwd === realPath(dir) ? pid : null;
  return cmd.includes(dir) ? pid : null;
}
