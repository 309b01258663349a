import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { childEnv } from '../../config/index.ts';

/**
 * Every process the harness starts is registered here and killed when the harness
 * exits, however it exits (normal end, error, Ctrl-C): a benchmark must never leave a
 * server or a load generator running behind it.
 */
const live = new Set<ChildProcess>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => { for (const c of live) c.kill('SIGKILL'); });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const c of live) c.kill('SIGKILL');
      process.exit(130);
    });
  }
}

function track(child: ChildProcess): ChildProcess {
  hookExit();
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

export const benchDir = path.dirname(fileURLToPath(import.meta.url));
export const projectRoot = path.resolve(benchDir, '..', '..', '..');

/**
 * Children start through `sh` so the open-files limit can be raised to the hard limit
 * first (`ulimit -n`): the concurrency scenario holds 10,000 sockets in the load
 * generator and as many in the server, beyond the usual soft limit of 1024.
 */
const RAISE_FD_LIMIT = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"';

/**
 * Forks a TypeScript entry of src/tools/bench as a Node child with an IPC channel. The child
 * gets tsx's loader (the CLI itself runs through it, forked children do not inherit it).
 */
export function forkBenchChild(relativeEntry: string, env: Record<string, string> = {}, niceness?: number): ChildProcess {
  // The shell renices itself before it execs node, so every thread node starts inherits it
  // (Linux keeps a niceness per thread). Lowering it needs root; without it the child runs at 0.
  const prelude = niceness === undefined ? RAISE_FD_LIMIT : `renice -n ${Math.trunc(niceness)} -p $$ >/dev/null 2>&1; ${RAISE_FD_LIMIT}`;
  const child = spawn('/bin/sh', ['-c', prelude, process.execPath, '--import', 'tsx', '--max-old-space-size=2048', path.join(benchDir, relativeEntry)], {
    cwd: projectRoot,
    env: childEnv(env),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return track(child);
}

/** Spawns a plain command (the API server) with piped output kept for error messages. */
export function spawnTracked(cmd: string, args: readonly string[], env: Record<string, string>): ChildProcess {
  const child = spawn('/bin/sh', ['-c', RAISE_FD_LIMIT, cmd, ...args], { cwd: projectRoot, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  return track(child);
}

/** A process's niceness as the kernel has it (field 19 of /proc/<pid>/stat), or undefined when it is gone. */
export function nicenessOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[16]);
  } catch {
    return undefined;
  }
}

/** Sends SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Posts one message to a forked child and waits for the reply of the given type. */
export async function request<T>(child: ChildProcess, message: unknown, replyType: string, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (m: unknown) => {
      if (typeof m !== 'object' || m === null || !('type' in m)) return;
      if (m.type === 'error') { cleanup(); reject(new Error(`bench child failed: ${'message' in m ? String(m.message) : 'unknown'}`)); }
      if (m.type === replyType) { cleanup(); resolve(m as T); }
    };
    const onExit = (code: number | null) => { cleanup(); reject(new Error(`bench child exited (code ${code}) before replying ${replyType}`)); };
    const timer = setTimeout(() => { cleanup(); reject(new Error(`bench child gave no ${replyType} within ${timeoutMs} ms`)); }, timeoutMs);
    const cleanup = () => { clearTimeout(timer); child.off('message', onMessage); child.off('exit', onExit); };
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(message as object);
  });
}

/** Waits for a message of `type` the child sends on its own; call right after forking. */
export async function waitForMessage<T>(child: ChildProcess, type: string, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (m: unknown) => {
      if (typeof m === 'object' && m !== null && 'type' in m && m.type === type) { cleanup(); resolve(m as T); }
    };
    const onExit = (code: number | null) => { cleanup(); reject(new Error(`bench child exited (code ${code}) before sending ${type}`)); };
    const timer = setTimeout(() => { cleanup(); reject(new Error(`bench child sent no ${type} within ${timeoutMs} ms`)); }, timeoutMs);
    const cleanup = () => { clearTimeout(timer); child.off('message', onMessage); child.off('exit', onExit); };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/**
 * Runs a `bgc` subcommand (seed, migrate) as a child process against the given
 * environment; its progress (stderr) is shown, its stdout is returned.
 */
export async function runBgc(args: readonly string[], env: Record<string, string>, timeoutMs: number): Promise<string> {
  const child = spawn(process.execPath, ['bin/bgc.js', ...args], { cwd: projectRoot, env: childEnv(env), stdio: ['ignore', 'pipe', 'inherit'] });
  track(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`bgc ${args.join(' ')} failed (exit ${code ?? 'killed'}): ${out.slice(-2_000)}`);
  return out;
}
