import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { sleep } from './exec.ts';

/**
 * One `stack up` or `stack down` at a time per data folder. Two at once (`bgc serve`
 * starting the stack while `bgc stack up` runs, two terminals, two test runs) raced: both
 * ran initdb or pg_basebackup into the same folder, and one failed or left a broken
 * replica. The second now waits for the first, then finds everything done (`up` is
 * idempotent). The lock is a file created exclusively, holding the owner's pid; a file left
 * by a process that no longer exists (killed), or whose pid now names another process (a
reboot, a new container), is taken over.
 */
const LOCK_FILE = '.stack.lock';
const POLL_MS = 200;

export class StackLockTimeoutError extends Error {
  readonly code = 'STACK_LOCKED';
  constructor(readonly file: string, readonly ownerPid: number, waitedMs: number) {
    super(`another bgc stack command (pid ${ownerPid}) holds ${file}; still there after ${Math.round(waitedMs / 1000)} s`);
    this.name = 'StackLockTimeoutError';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * When a process started (field 22 of /proc/<pid>/stat, clock ticks since boot), or undefined
 * when it cannot be read. With the pid it names one process: a pid alone may be reused after
 * a reboot or in a new container, where it can even be our own, and the lock would then be
 * waited on for minutes though its owner is long gone.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count after its end.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

interface LockOwner { readonly pid: number; readonly startTime: string | undefined }

/** The owner a lock's content names: `<pid> <start time> <nonce>` (older locks: `<pid>`). */
function ownerOf(content: string): LockOwner | undefined {
  const [pidText, startTime] = content.trim().split(/\s+/);
  const pid = Number(pidText);
  return Number.isInteger(pid) && pid > 0 ? { pid, startTime: startTime === '' ? undefined : startTime } : undefined;
}

/** The lock's owner still runs: its pid is alive and, where the file says when it started, it is that same process. */
function stillOwns(owner: LockOwner): boolean {
  if (!alive(owner.pid)) return false;
  return owner.startTime === undefined || processStartTime(owner.pid) === owner.startTime;
}

/** Runs `fn` holding the data folder's stack lock; waits (bounded) while another process holds it. */
export async function withStackLock<T>(dataDir: string, fn: () => Promise<T>, opts: { waitMs?: number; onWait?: (ownerPid: number) => void } = {}): Promise<T> {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, LOCK_FILE);
  const mine = `${process.pid} ${processStartTime(process.pid) ?? ''} ${crypto.randomBytes(6).toString('hex')}\n`;
  const started = Date.now();
  let told = false;
  while (!tryCreate(file, mine)) {
    const seen = readOr(file);
    const owner = seen === undefined ? undefined : ownerOf(seen);
    if (seen !== undefined && (owner === undefined || !stillOwns(owner))) {
      takeOver(file, seen);
      continue;
    }
    if (owner !== undefined) {
      if (!told) { opts.onWait?.(owner.pid); told = true; }
      if (Date.now() - started > (opts.waitMs ?? 300_000)) throw new StackLockTimeoutError(file, owner.pid, Date.now() - started);
    }
    await sleep(POLL_MS);
  }
  try {
    return await fn();
  } finally {
    // Only our own lock: had it been taken over (we looked dead), the file is someone else's now.
    if (readOr(file) === mine) fs.rmSync(file, { force: true });
  }
}

/**
 * Creates the lock with its whole content at once: written to a file of our own, then
 * hard-linked to the lock's name, which fails if the name exists. (An exclusive create then a
 * write let a reader see an empty file in between, judge it "half written" and delete it.)
 */
function tryCreate(file: string, content: string): boolean {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
  fs.writeFileSync(tmp, content);
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Removes a stale lock whose content was `seen`, and only that one: the file is renamed away
 * (atomic, one taker wins) and checked; if another taker had meanwhile replaced it with a
 * live lock, that lock is put back.
 */
function takeOver(file: string, seen: string): void {
  const aside = `${file}.stale.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
  try {
    fs.renameSync(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // another taker was first
    throw err;
  }
  const moved = readOr(aside);
  if (moved !== seen && moved !== undefined) {
    try { fs.linkSync(aside, file); } catch { /* a new lock is there already: it stands */ }
  }
  fs.rmSync(aside, { force: true });
}

function readOr(file: string): string | undefined {
  try { return fs.readFileSync(file, 'utf8'); } catch { return undefined; }
}
