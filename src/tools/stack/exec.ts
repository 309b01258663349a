import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { serverEnv } from '../../config/index.ts';

/** A missing program, named with the Debian package that provides it. */
export class MissingBinaryError extends Error {
  readonly code = 'STACK_MISSING_BINARY';
  constructor(binary: string, readonly packages: readonly string[]) {
    super(`"${binary}" was not found. Install it with: apt-get install -y ${packages.join(' ')}`);
    this.name = 'MissingBinaryError';
  }
}

export class CommandFailedError extends Error {
  readonly code = 'STACK_COMMAND_FAILED';
  constructor(readonly command: string, readonly exitCode: number | null, readonly output: string) {
    super(`${command} failed (exit ${exitCode ?? 'signal'}): ${output.trim().split('\n').slice(-8).join('\n')}`);
    this.name = 'CommandFailedError';
  }
}

export const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

/** PostgreSQL refuses to run as root, so as root the servers run as the `postgres` user. */
export const PG_OS_USER = 'postgres';

export interface RunOptions {
  readonly asPostgres?: boolean;
  readonly allowFail?: boolean;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Kill the command after this long (a client talking to a silent foreign listener would wait forever). */
  readonly timeoutMs?: number;
}

export async function run(bin: string, args: readonly string[], opts: RunOptions = {}): Promise<{ code: number | null; output: string }> {
  const [cmd, argv] = opts.asPostgres && isRoot()
    ? ['runuser', ['-u', PG_OS_USER, '--', bin, ...args]]
    : [bin, [...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { cwd: opts.cwd ?? '/', env: opts.env ?? serverEnv(), stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeoutMs, killSignal: 'SIGKILL' });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0 && !opts.allowFail) reject(new CommandFailedError(`${path.basename(bin)} ${args.join(' ')}`, code, output));
      else resolve({ code, output });
    });
  });
}

/** Finds PostgreSQL's server binaries (initdb, pg_ctl, postgres, pg_basebackup): newest major ≥ 15. */
export function findPgBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root)
    ? fs.readdirSync(root).filter((v) => /^\d+$/.test(v) && Number(v) >= 15 && fs.existsSync(path.join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a))
    : [];
  const v = versions[0];
  if (v === undefined) throw new MissingBinaryError('initdb (PostgreSQL ≥ 15 server)', ['postgresql', 'postgresql-contrib']);
  const dir = path.join(root, v, 'bin');
  const contrib = path.join('/usr/share/postgresql', v, 'extension', 'pg_stat_statements.control');
  if (!fs.existsSync(contrib)) throw new MissingBinaryError('pg_stat_statements extension', [`postgresql-contrib`]);
  return dir;
}

export function findOnPath(binary: string, packages: readonly string[]): string {
  for (const dir of ['/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    const p = path.join(dir, binary);
    if (fs.existsSync(p)) return p;
  }
  throw new MissingBinaryError(binary, packages);
}

export function chownToPostgres(target: string): void {
  if (!isRoot()) return;
  const { uid, gid } = postgresIds();
  fs.chownSync(target, uid, gid);
}

function postgresIds(): { uid: number; gid: number } {
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${PG_OS_USER}:`));
  if (!line) throw new MissingBinaryError(`system user ${PG_OS_USER}`, ['postgresql']);
  const parts = line.split(':');
  return { uid: Number(parts[2]), gid: Number(parts[3]) };
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}
