import fs from 'node:fs';
import net from 'node:net';
import { commandLine, readPidFile } from './processes.ts';
import { findOnPath, run } from './exec.ts';

/** Who listens on a port: pid and command line when the machine lets us see them. */
export interface PortHolder {
  readonly pid: number | null;
  readonly command: string | null;
  /** How it was seen: a TCP listener, PostgreSQL's socket lock file in /tmp, or another program's connection from the port. */
  readonly via: 'tcp' | 'pg-socket-lock' | 'connection';
}

// Local addresses whose listener keeps our servers (bound to 127.0.0.1) off the port.
const CLASHING = new Set(['0100007F', '00000000', '00000000000000000000000000000000', '0000000000000000FFFF00000100007F', '0000000000000000FFFF000000000000']);

/**
 * Socket inodes listening on the port, from /proc/net/tcp{,6}; null when /proc cannot be
 * read (not Linux), so the caller falls back to connecting.
 */
function listeningInodes(port: number): string[] | null {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes: string[] = [];
  let readAny = false;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try { text = fs.readFileSync(file, 'utf8'); readAny = true; } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const [addr, p] = (f[1] ?? '').split(':');
      // f[3] is the state (0A = LISTEN), f[9] the socket's inode.
      if (p === hexPort && f[3] === '0A' && addr !== undefined && CLASHING.has(addr) && f[9] !== undefined) inodes.push(f[9]);
    }
  }
  return readAny ? inodes : null;
}

/**
 * Inodes of live connections (not listeners) whose LOCAL end is the port: another program's
 * outgoing connection that took the port before `ip_local_reserved_ports` was set. Such a socket
 * keeps a server off the port ("Address already in use", even with SO_REUSEADDR on the server's
 * side, since the other socket lacks it). Seen: RabbitMQ's link to epmd on 127.0.0.1:54320 from
 * boot. TIME_WAIT (06) and orphaned sockets (inode 0) do not block a server's bind.
 */
function connectedInodes(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try { text = fs.readFileSync(file, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const [addr, p] = (f[1] ?? '').split(':');
      const [state, inode] = [f[3], f[9]];
      if (p === hexPort && state !== '0A' && state !== '06' && addr !== undefined && CLASHING.has(addr) && inode !== undefined && inode !== '0') inodes.push(inode);
    }
  }
  return inodes;
}

/** A process whose outgoing connection holds the port as its local end, or null (connectedInodes). */
export function connectionHolder(port: number): PortHolder | null {
  const inodes = connectedInodes(port);
  if (inodes.length === 0) return null;
  const pid = pidOfInodes(inodes);
  return { pid, command: pid === null ? null : commandLine(pid), via: 'connection' };
}

/** The process holding one of these socket inodes, by its open file descriptors. */
function pidOfInodes(inodes: readonly string[]): number | null {
  const wanted = new Set(inodes.map((i) => `socket:[${i}]`));
  let pids: string[];
  try { pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)); } catch { return null; }
  for (const pid of pids) {
    let fds: string[];
    try { fds = fs.readdirSync(`/proc/${pid}/fd`); } catch { continue; } // another user's process
    for (const fd of fds) {
      try { if (wanted.has(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))) return Number(pid); } catch { /* closed meanwhile */ }
    }
  }
  return null;
}

/** `ss -ltnpH` sees holders /proc hides from us when it runs with more rights; best effort. */
async function pidFromSs(port: number): Promise<number | null> {
  let ss: string;
  try { ss = findOnPath('ss', ['iproute2']); } catch { return null; }
  const res = await run(ss, ['-ltnpH', `sport = :${port}`], { allowFail: true, timeoutMs: 2000 });
  const m = /pid=(\d+)/.exec(res.output);
  return m?.[1] !== undefined ? Number(m[1]) : null;
}

function accepts(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, timeout: timeoutMs });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(false));
  });
}

/** Whether anything listens on the port (no process lookup: cheap enough to scan offsets). */
export function portTaken(port: number): boolean {
  const inodes = listeningInodes(port);
  return inodes !== null && inodes.length > 0;
}

/**
 * Who listens on 127.0.0.1:port (or on every address), or null when nobody does. Read-only:
 * it never binds the port, so it cannot make another server's start fail.
 */
export async function findListener(port: number): Promise<PortHolder | null> {
  const inodes = listeningInodes(port);
  if (inodes === null) return (await accepts(port)) ? { pid: null, command: null, via: 'tcp' } : null;
  if (inodes.length === 0) return null;
  const pid = pidOfInodes(inodes) ?? await pidFromSs(port);
  return { pid, command: pid === null ? null : commandLine(pid), via: 'tcp' };
}

/**
 * PostgreSQL also takes /tmp/.s.PGSQL.<port>.lock for its Unix socket; a live server of
 * another data folder holding it stops ours from starting even on a free TCP port.
 */
export function pgSocketLockHolder(port: number, socketDir = '/tmp'): PortHolder | null {
  const pid = readPidFile(`${socketDir}/.s.PGSQL.${port}.lock`);
  if (pid === null) return null;
  const command = commandLine(pid);
  return command === null ? null : { pid, command, via: 'pg-socket-lock' };
}

/** "pid 1234 (node server.js)" or, when the machine does not tell, a plain statement. */
export function describeHolder(h: PortHolder): string {
  if (h.pid === null) return 'a process this user cannot see (try `sudo ss -ltnp`)';
  const cmd = h.command === null ? '' : ` (${h.command.length > 160 ? `${h.command.slice(0, 157)}...` : h.command})`;
  const how = h.via === 'pg-socket-lock' ? ' through its Unix socket lock file' : h.via === 'connection' ? ', whose outgoing connection uses the port as its own end' : '';
  return `pid ${h.pid}${cmd}${how}`;
}
