import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { run, chownToPostgres, findPgBinDir, sleep, isRoot, CommandFailedError } from './exec.ts';
import { ownedPid } from './processes.ts';

export interface PgNodeSpec {
  readonly name: string; // primary | replica1 | replica2
  readonly role: 'primary' | 'replica';
  readonly port: number;
  readonly dir: string;
  readonly primaryPort: number;
}

/**
 * Settings for each node, sized for a 2-core / 24 GiB machine that also runs the app,
 * the load generator and two more nodes. Why each one is set: docs/OPERATIONS.md.
 */
export function serverSettings(port: number): Record<string, string> {
  return {
    listen_addresses: "'127.0.0.1'",
    port: String(port),
    unix_socket_directories: "'/tmp'",
    max_connections: '400',
    superuser_reserved_connections: '5',
    shared_buffers: "'1GB'",
    effective_cache_size: "'6GB'",
    work_mem: "'16MB'",
    maintenance_work_mem: "'256MB'",
    random_page_cost: '1.1',
    effective_io_concurrency: '200',
    max_worker_processes: '8',
    max_parallel_workers_per_gather: '1',
    jit: 'off', // OLTP statements of a few ms: JIT compile time would dominate.
    wal_level: 'replica',
    max_wal_senders: '10',
    max_replication_slots: '10',
    wal_keep_size: "'1GB'",
    max_slot_wal_keep_size: "'8GB'", // a dead replica's slot cannot fill the disk
    max_wal_size: "'4GB'",
    checkpoint_timeout: "'15min'",
    checkpoint_completion_target: '0.9',
    hot_standby: 'on',
    hot_standby_feedback: 'on',
    max_standby_streaming_delay: "'5s'",
    wal_receiver_status_interval: "'1s'",
    // A standby whose first streaming attempt fails after a restart (its slot still held by
    // the old walsender on a busy primary) retries after this; the default 5 s made a
    // SIGKILLed replica take over 10 s to rejoin on a loaded machine.
    wal_retrieve_retry_interval: "'1s'",
    shared_preload_libraries: "'pg_stat_statements'",
    'pg_stat_statements.max': '10000',
    'pg_stat_statements.track': "'top'",
    track_io_timing: 'on',
    track_functions: "'pl'",
    log_min_duration_statement: "'250ms'",
    log_lock_waits: 'on',
    log_checkpoints: 'on',
    log_autovacuum_min_duration: "'1s'",
    log_temp_files: "'0'",
    log_line_prefix: "'%m [%p] %q%a %u@%d '",
    deadlock_timeout: "'1s'",
    idle_in_transaction_session_timeout: "'60s'",
    autovacuum_vacuum_scale_factor: '0.05',
    autovacuum_analyze_scale_factor: '0.02',
    timezone: "'UTC'",
    log_timezone: "'UTC'",
  };
}

const HBA = `# bgc local stack: trust on loopback only (local development; production uses real credentials)
local   all             all                                     trust
host    all             all             127.0.0.1/32            trust
host    replication     all             127.0.0.1/32            trust
`;

/** Heads the settings `up` appends to a node's configuration (the last step of making a primary). */
const SETTINGS_MARK = '# --- bgc stack settings ---';

export class PgNode {
  readonly #bin: string;
  constructor(readonly spec: PgNodeSpec) {
    this.#bin = findPgBinDir();
  }

  get logFile(): string { return `${this.spec.dir}.log`; }
  get exists(): boolean { return fs.existsSync(path.join(this.spec.dir, 'PG_VERSION')); }

  /**
   * Our own initdb of this folder was cut short (Ctrl-C, an OOM kill, a reboot): initPrimary
   * writes this sentinel beside the folder before initdb and removes it once our settings are
   * in, so only a folder it names is half-made by us. PG_VERSION alone proved nothing: initdb
   * writes it before bootstrapping, and a cluster copied in by hand (a base backup restored
   * as docs/RELIABILITY.md describes) has it without our settings too, and must never be
   * taken for a half-made one.
   */
  get initInterrupted(): boolean { return fs.existsSync(this.#initSentinel); }

  get #initSentinel(): string { return `${this.spec.dir}.initdb-in-progress`; }

  /**
   * A replica's folder holds a finished copy: pg_basebackup writes PG_VERSION early and
   * standby.signal last, and our settings come after it. A copy cut short (Ctrl-C, an OOM
   * kill, a reboot) has PG_VERSION but not the rest, and would never start as a replica.
   */
  get replicaComplete(): boolean {
    if (!fs.existsSync(path.join(this.spec.dir, 'standby.signal'))) return false;
    try {
      return fs.readFileSync(path.join(this.spec.dir, 'postgresql.auto.conf'), 'utf8').includes('primary_slot_name');
    } catch {
      return false;
    }
  }

  #tool(name: string): string { return path.join(this.#bin, name); }

  get pidFile(): string { return path.join(this.spec.dir, 'postmaster.pid'); }

  /** The postmaster of this node's data folder, if it is alive (a server of another folder is never ours). */
  ownPid(): number | null {
    return ownedPid(this.pidFile, 'postgres', this.spec.dir);
  }

  /** The port our running postmaster listens on (postmaster.pid, line 4), or null when it is not running. */
  runningPort(): number | null {
    if (this.ownPid() === null) return null;
    try {
      const port = Number(fs.readFileSync(this.pidFile, 'utf8').split('\n')[3]);
      return Number.isInteger(port) && port > 0 ? port : null;
    } catch {
      return null;
    }
  }

  async isRunning(): Promise<boolean> {
    return this.ownPid() !== null;
  }

  async initPrimary(): Promise<void> {
    fs.mkdirSync(path.dirname(this.spec.dir), { recursive: true });
    fs.writeFileSync(this.#initSentinel, `initdb of ${this.spec.dir} by bgc stack up, pid ${process.pid}\n`);
    fs.mkdirSync(this.spec.dir, { recursive: true, mode: 0o700 });
    chownToPostgres(this.spec.dir);
    await run(this.#tool('initdb'), ['-D', this.spec.dir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C.UTF-8', '--data-checksums'], { asPostgres: true });
    fs.writeFileSync(path.join(this.spec.dir, 'pg_hba.conf'), HBA);
    this.#appendSettings(serverSettings(this.spec.port));
    fs.rmSync(this.#initSentinel, { force: true });
  }

  /** A streaming replica: pg_basebackup from the primary through a physical slot named after the node. */
  async initReplica(): Promise<void> {
    fs.rmSync(this.spec.dir, { recursive: true, force: true });
    fs.mkdirSync(this.spec.dir, { recursive: true, mode: 0o700 });
    chownToPostgres(this.spec.dir);
    const slot = this.spec.name;
    await dropSlotIfInactive(this.spec.primaryPort, slot);
    await run(this.#tool('pg_basebackup'), [
      '-h', '127.0.0.1', '-p', String(this.spec.primaryPort), '-U', 'postgres', '-D', this.spec.dir,
      '-X', 'stream', '-C', '-S', slot, '-R', '--checkpoint=fast',
    ], { asPostgres: true });
    this.#appendSettings({
      port: String(this.spec.port),
      primary_conninfo: `'host=127.0.0.1 port=${this.spec.primaryPort} user=postgres application_name=${this.spec.name}'`,
      primary_slot_name: `'${slot}'`,
    }, 'postgresql.auto.conf');
  }

  #appendSettings(settings: Record<string, string>, file = 'postgresql.conf'): void {
    const lines = Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n');
    const target = path.join(this.spec.dir, file);
    fs.appendFileSync(target, `\n${SETTINGS_MARK}\n${lines}\n`);
    chownToPostgres(target);
  }

  async start(): Promise<void> {
    if (!fs.existsSync(this.logFile)) { fs.writeFileSync(this.logFile, ''); chownToPostgres(this.logFile); }
    // The port (and a replica's primary) on the command line, not only in the files written at
    // initdb: a data folder reused with another BGC_STACK_PORT_OFFSET then follows the setting.
    // pg_ctl hands -o to /bin/sh, hence the double quotes around the conninfo.
    const opts = [`-p ${this.spec.port}`];
    if (this.spec.role === 'replica') {
      opts.push(`-c "primary_conninfo=host=127.0.0.1 port=${this.spec.primaryPort} user=postgres application_name=${this.spec.name}"`);
    }
    // Up to START_WAIT_S: after a crash (an OOM kill, a reboot) the server replays the WAL since
    // its last checkpoint first, up to max_wal_size (4 GB here), which takes minutes on two slow
    // cores; pg_ctl gave up at 60 s while the server went on, and `up` failed. A server that
    // cannot start at all still fails at once (pg_ctl sees its postmaster exit).
    const res = await run(this.#tool('pg_ctl'), ['start', '-w', '-t', String(START_WAIT_S), '-D', this.spec.dir, '-l', this.logFile, '-o', opts.join(' ')], { asPostgres: true, allowFail: true });
    if (res.code !== 0) {
      // pg_ctl only says "Examine the log output": the error carries the log's last lines.
      const tail = fs.readFileSync(this.logFile, 'utf8').trim().split('\n').slice(-6).join('\n');
      throw new CommandFailedError(`pg_ctl start -D ${this.spec.dir}`, res.code, `${res.output}\n${this.logFile}:\n${tail}`);
    }
  }

  /**
   * Stops the server and checks it is gone: pg_ctl gives up after 60 s (a long shutdown
   * checkpoint after a big seed on a slow disk) while the server goes on, and `stack down`
   * must not then say "stopped".
   */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!(await this.isRunning())) return;
    const res = await run(this.#tool('pg_ctl'), ['stop', '-w', '-t', '60', '-m', mode, '-D', this.spec.dir], { asPostgres: true, allowFail: true });
    const pid = this.ownPid();
    if (pid !== null) {
      throw new CommandFailedError(`pg_ctl stop -m ${mode} -D ${this.spec.dir}`, res.code,
        `${res.output}\n${this.spec.name} (pid ${pid}) is still running, probably still writing its shutdown checkpoint (${this.logFile}); run the same command again to wait longer`);
    }
  }

  /** Folder layout check: as root the parent must be traversable by the postgres user. */
  static prepareRoot(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    if (isRoot()) fs.chmodSync(dir, 0o755);
    chownToPostgres(dir);
  }
}

export async function connectNode(port: number, database = 'postgres', timeoutMs = 2000): Promise<pg.Client> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database, connectionTimeoutMillis: timeoutMs, application_name: 'bgc-stack' });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

async function dropSlotIfInactive(primaryPort: number, slot: string): Promise<void> {
  const c = await connectNode(primaryPort);
  try {
    await c.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`, [slot]);
  } finally {
    await c.end();
  }
}

/**
 * Waits until the server on `port` accepts a connection, at most `timeoutMs`; with `alive`,
 * gives up as soon as it says the server's process is gone (a server still recovering answers
 * 57P03 "starting up" meanwhile, and is waited for).
 */
export async function waitForPort(port: number, timeoutMs: number, alive?: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const c = await connectNode(port);
      await c.end();
      return;
    } catch (err) {
      if (Date.now() > deadline || (alive !== undefined && !alive())) throw err;
      await sleep(200);
    }
  }
}

/** How long a start may take: crash recovery of up to max_wal_size of WAL (pg_ctl start -t). */
export const START_WAIT_S = 900;
