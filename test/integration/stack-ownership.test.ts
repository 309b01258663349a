import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { parseConfig, LOCAL_STACK } from '../../src/config/index.ts';
import { LocalStack, type NodeStatus } from '../../src/tools/stack/stack.ts';
import { StackPortBusyError } from '../../src/tools/stack/preflight.ts';
import { portTaken, pgSocketLockHolder } from '../../src/tools/stack/listeners.ts';
import { connectNode } from '../../src/tools/stack/postgres-node.ts';
import { isRoot } from '../../src/tools/stack/exec.ts';
import { commandLine } from '../../src/tools/stack/processes.ts';
import { SHARED_PG_PARENT } from '../../src/tools/stack/pg-location.ts';
import { checkLocalStackOwnership } from '../../src/tools/doctor/stack-checks.ts';
import { haLayoutFor } from '../../src/tools/stack/ha/layout.ts';

/**
 * Issue 22: two checkouts on one machine. Real stacks (PostgreSQL primary + 2 replicas + Redis)
 * on private ports chosen through BGC_STACK_PORT_OFFSET, each from its own data folder made by
 * mkdtemp (mode 700: as root, PostgreSQL's `postgres` user cannot enter it), so the shared dev
 * stack is never touched. "C" is a second clone of A: same ports, another data folder, never
 * started: it must see A's servers as foreign, and its `down` must leave them running.
 */

const BASE_PORTS = [LOCAL_STACK.primaryPort, ...LOCAL_STACK.replicaPorts, LOCAL_STACK.redisPort];
const usedOffsets = new Set<number>();

/** A random offset (not a multiple of 100: those are what people pick by hand) whose ports are all free. */
function freeOffset(): number {
  for (let attempt = 0; attempt < 200; attempt++) {
    const offset = 110 + 10 * Math.floor(Math.random() * 88);
    if (offset % 100 === 0 || usedOffsets.has(offset)) continue;
    if (BASE_PORTS.every((p) => !portTaken(p + offset) && pgSocketLockHolder(p + offset) === null)) {
      usedOffsets.add(offset);
      return offset;
    }
  }
  throw new Error('no free port offset found');
}

const dirs: string[] = [];
function privateDir(label: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bgc-stack-${label}-`));
  dirs.push(dir);
  return dir;
}

function stackEnv(offset: number, dataDir: string): Record<string, string> {
  return { NODE_ENV: 'test', BGC_STACK_PORT_OFFSET: String(offset), BGC_DATA_DIR: dataDir };
}

const stacks: LocalStack[] = [];
function makeStack(offset: number, dataDir: string): LocalStack {
  const s = new LocalStack(parseConfig(stackEnv(offset, dataDir)));
  stacks.push(s);
  return s;
}

async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try { return await work(); } finally { console.log(`[stack-ownership] ${label}: ${Date.now() - started} ms`); }
}

const running = (n: NodeStatus) => ['running', 'streaming'].includes(n.state);

/** Runs the CLI with a bound; returns exit code, output and wall time. */
function cli(args: readonly string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.resolve('bin/bgc.js'), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr, ms: Date.now() - started }); });
  });
}

async function serves(stack: LocalStack): Promise<boolean> {
  const st = await stack.status();
  if (!st.every(running)) return false;
  const c = await connectNode(stack.layout.primaryPort);
  try { await c.query('SELECT 1'); } finally { await c.end(); }
  return stack.redis.ping();
}

let A: LocalStack;
let B: LocalStack;
let offsetA: number;
let dirA: string;

/**
 * Starts a stack on a free offset. A port found free can still be taken before the server
 * binds it: the stack's ports lie in the kernel's range for outgoing connections
 * (32768-60999), and a busy test run opens thousands (CI saw PostgreSQL refuse 54550 this
 * way). Such a start is retried on another offset, at most three times.
 */
async function upOnFreeOffset(label: string, dir: string): Promise<LocalStack> {
  for (let attempt = 1; ; attempt++) {
    const offset = freeOffset();
    const s = makeStack(offset, dir);
    try {
      await timed(`up ${label} (offset ${offset}, ${dir}, attempt ${attempt})`, () => s.up());
      return s;
    } catch (err) {
      if (attempt >= 3 || !/already in use/i.test(err instanceof Error ? err.message : String(err))) throw err;
      await s.down({ purge: true }).catch(() => undefined);
    }
  }
}

beforeAll(async () => {
  dirA = privateDir('a');
  A = await upOnFreeOffset('A', dirA);
  offsetA = A.layout.primaryPort - LOCAL_STACK.primaryPort;
  B = await upOnFreeOffset('B', privateDir('b'));
}, 300_000); // two stacks from scratch (initdb, 2 x pg_basebackup each): over a minute on a loaded 2-core machine

afterAll(async () => {
  // Every stack this file made goes, with its data, whatever failed above.
  for (const s of stacks) await s.down({ purge: true }).catch((err: unknown) => console.error('[stack-ownership] cleanup:', err));
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('two stacks from two data folders at once', () => {
  it('starts from a folder only root can enter, its PostgreSQL data in a per-checkout folder the postgres user can reach', () => {
    expect(fs.statSync(dirA).mode & 0o777).toBe(0o700);
    if (isRoot()) {
      const enter = spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-x', dirA]);
      expect(enter.status, 'postgres must not be able to enter the data folder').not.toBe(0);
      expect(path.dirname(A.pgRoot)).toBe(SHARED_PG_PARENT);
      expect(fs.readFileSync(path.join(A.pgRoot, 'DATA_DIR'), 'utf8').trim()).toBe(fs.realpathSync(dirA));
      expect(A.pgRoot).not.toBe(B.pgRoot);
    }
  });

  it('each status reports only its own servers: distinct pids, its own folders', async () => {
    const [a, b] = [await A.status(), await B.status()];
    for (const [s, st] of [[A, a], [B, b]] as const) {
      expect(st.map((n) => n.state), JSON.stringify(st)).toEqual(['running', 'streaming', 'streaming', 'running']);
      expect(st.map((n) => n.port)).toEqual([s.layout.primaryPort, ...s.layout.replicaPorts, s.layout.redisPort]);
      for (const n of st) expect(n.dir?.startsWith(n.role === 'redis' ? s.layout.dataDir : s.pgRoot), JSON.stringify(n)).toBe(true);
    }
    const pidsA = a.map((n) => n.pid);
    expect(pidsA.every((p) => typeof p === 'number')).toBe(true);
    expect(b.map((n) => n.pid).filter((p) => pidsA.includes(p))).toEqual([]);
  });

  it('a second clone on the same ports (another data folder) reports every node as foreign, with pid and command line', async () => {
    const C = makeStack(offsetA, privateDir('c'));
    const [a, c] = [await A.status(), await C.status()];
    expect(c.map((n) => n.state), JSON.stringify(c)).toEqual(['foreign', 'foreign', 'foreign', 'foreign']);
    expect(c.map((n) => n.holder?.pid)).toEqual(a.map((n) => n.pid));
    expect(c[0]?.holder?.command).toContain(A.primary.spec.dir);
    expect(c[3]?.holder?.command).toContain('redis-server');
    expect(c.every((n) => n.pid === null)).toBe(true);

    // The doctor of the clone says so too, and A's own doctor check finds nothing.
    const findings = await checkLocalStackOwnership(parseConfig(stackEnv(offsetA, C.layout.dataDir)));
    expect(findings.map((f) => `${f.check} ${f.object}`)).toEqual(C.portClaims().map((p) => `local_stack ${p.name} (127.0.0.1:${p.port})`));
    expect(findings[0]?.detail).toContain(`pid ${a[0]?.pid ?? '?'}`);
    expect(await checkLocalStackOwnership(parseConfig(stackEnv(offsetA, dirA)))).toEqual([]);

    // The CLI says the same, as JSON.
    const res = await timed('CLI stack status --json (clone C)', () => cli(['stack', 'status', '--json'], stackEnv(offsetA, C.layout.dataDir)));
    expect(res.code, res.stderr).toBe(0);
    expect((JSON.parse(res.stdout) as NodeStatus[]).map((n) => n.state)).toEqual(['foreign', 'foreign', 'foreign', 'foreign']);
  });

  it("`stack down` in the second clone stops nothing: A keeps serving", async () => {
    const dataC = privateDir('c2');
    const res = await timed('CLI stack down (clone C)', () => cli(['stack', 'down'], stackEnv(offsetA, dataC)));
    expect(res.code, res.stderr).toBe(0);
    expect(await serves(A)).toBe(true);
  });

  it('`down --purge` of B leaves A serving and deletes only B\'s data', async () => {
    const pgB = B.pgRoot;
    // An archived month's file, perhaps its only copy: the purge keeps it (before: deleted with the folder).
    const archived = path.join(B.layout.dataDir, 'archive', 'messages_y2020m01.csv.gz');
    fs.mkdirSync(path.dirname(archived), { recursive: true });
    fs.writeFileSync(archived, 'rows');
    const removed = await timed('down --purge B', () => B.down({ purge: true }));
    expect(removed).not.toContain(B.layout.dataDir);
    expect(fs.readdirSync(B.layout.dataDir)).toEqual(['archive']);
    expect(fs.readFileSync(archived, 'utf8')).toBe('rows');
    fs.rmSync(B.layout.dataDir, { recursive: true, force: true });
    expect(fs.existsSync(pgB)).toBe(false);
    expect((await B.status()).map((n) => n.state)).toEqual(['absent', 'absent', 'absent', 'stopped']);
    expect(fs.existsSync(path.join(A.pgRoot, 'primary', 'PG_VERSION'))).toBe(true);
    expect(await serves(A)).toBe(true);
  });
});

describe('a foreign listener on the primary port', () => {
  let server: net.Server | undefined;
  afterAll(async () => { await new Promise<void>((r) => { if (server) server.close(() => r()); else r(); }); });

  it('makes `stack up` fail in under 2 s, naming the port, its holder and the two ways out, before starting anything', async () => {
    const offset = freeOffset();
    const dataDir = privateDir('d');
    const port = LOCAL_STACK.primaryPort + offset;
    const srv = net.createServer((socket) => socket.destroy());
    server = srv;
    await new Promise<void>((resolve, reject) => { srv.once('error', reject); srv.listen(port, '127.0.0.1', () => resolve()); });
    const D = makeStack(offset, dataDir);

    const started = Date.now();
    const err = await D.up().then(() => undefined, (e: unknown) => e);
    const ms = Date.now() - started;
    console.log(`[stack-ownership] in-process stack up refused in ${ms} ms`);
    expect(err).toBeInstanceOf(StackPortBusyError);
    const message = (err as Error).message;
    expect(message).toContain(`port ${port} (primary): in use by pid ${process.pid}`);
    expect(message).toContain(`(${commandLine(process.pid) ?? 'unknown'})`);
    expect(message).toMatch(/stop that process \(kill \d+\)/);
    expect(message).toMatch(/BGC_STACK_PORT_OFFSET=\d+/);
    expect(ms).toBeLessThan(2000);
    expect((await D.status()).map((n) => n.state)).toEqual(['foreign', 'absent', 'absent', 'stopped']);
    expect(fs.existsSync(D.pgRoot)).toBe(false); // nothing was created, let alone started

    // The CLI: same message, exit 1. Its wall time includes Node + tsx start-up, measured alone first.
    const baseline = await cli(['stack', '--help'], stackEnv(offset, dataDir));
    const res = await cli(['stack', 'up'], stackEnv(offset, dataDir));
    console.log(`[stack-ownership] CLI stack up refused in ${res.ms} ms (CLI start-up alone: ${baseline.ms} ms)`);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('[STACK_PORT_BUSY]');
    expect(res.stderr).toContain(`port ${port} (primary): in use by pid ${process.pid}`);
    expect(res.stderr).toContain('Two ways out');
  }, 180_000); // two CLI runs: Node + tsx start-up alone took 15 s on a loaded 2-core machine
});

describe('`stack down --purge` with an --ha stack of this checkout', () => {
  it('stops and deletes the HA stack too, whose folder (as root) lies outside the data folder', async () => {
    const offset = freeOffset();
    const dataDir = privateDir('ha');
    const haRoot = haLayoutFor(parseConfig(stackEnv(offset, dataDir))).root;
    // What `up --ha` leaves in its folder; none of its servers runs, so down has only the folder to delete.
    fs.mkdirSync(path.join(haRoot, 'pg1'), { recursive: true });
    fs.writeFileSync(path.join(haRoot, 'pg1', 'patroni.yml'), 'scope: bgc-ha\n');
    try {
      const res = await timed('CLI stack down --purge (with an HA folder)', () => cli(['stack', 'down', '--purge'], stackEnv(offset, dataDir)));
      expect(res.code, res.stderr).toBe(0);
      expect(res.stderr).toContain('HA stack stopped and its data purged');
      expect(fs.existsSync(haRoot)).toBe(false);
    } finally {
      fs.rmSync(haRoot, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('stack option mistakes', () => {
  it('are refused with exit 2 and a message naming the option, before anything starts', async () => {
    const offset = freeOffset();
    const dataDir = privateDir('opts');
    const cases: Array<[string[], string]> = [
      [['stack', 'up', '--ha', '--instances', '3'], '--ha starts only the HA stack; --instances'],
      [['stack', 'up', '--instances', '50'], '--instances must be an integer from 1 to 40, got "50"'],
      [['stack', 'down', '--instances', '--purge'], '--purge with --instances'],
    ];
    for (const [args, message] of cases) {
      const res = await cli(args, stackEnv(offset, dataDir));
      console.log(`[stack-ownership] ${args.join(' ')}: exit ${String(res.code)} in ${res.ms} ms: ${res.stderr.trim()}`);
      expect(res.code).toBe(2);
      expect(res.stderr).toContain('[STACK_INVALID_OPTION]');
      expect(res.stderr).toContain(message);
    }
    expect(fs.readdirSync(dataDir)).toEqual([]);
  }, 180_000);
});
