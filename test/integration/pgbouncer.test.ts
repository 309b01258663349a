import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/index.ts';
import { Database } from '../../src/db/database.ts';
import { openReportDatabase } from '../../src/ops/report/batch-db.ts';
import { defineQuery } from '../../src/catalog/types.ts';
import { LeaderLock } from '../../src/db/leader-lock.ts';
import { NotifyListener } from '../../src/db/notify-listener.ts';
import { sqlState } from '../../src/db/errors.ts';
import { createServices, type Services } from '../../src/services/index.ts';
import { CacheLayer } from '../../src/cache/cache-layer.ts';
import { Metrics } from '../../src/metrics/registry.ts';
import { connectNode } from '../../src/tools/stack/postgres-node.ts';
import { localPgBouncer, pgbouncerEnv } from '../../src/tools/stack/pgbouncer/layout.ts';
import type { PgBouncerStack } from '../../src/tools/stack/pgbouncer/pgbouncer.ts';
import { until } from '../../src/tools/stack/ha/owned-process.ts';
import { createPrivateStack, type PrivateStack } from '../helpers/private-stack.ts';
import { freePort } from '../helpers/free-port.ts';

/**
 * Issue 18, behind PgBouncer: a private stack (primary + 2 replicas + Redis) with one
 * PgBouncer 1.18 per node in transaction pooling mode (src/tools/stack/pgbouncer, default
 * `ignore_startup_parameters`, so anything the app sends that PgBouncer cannot track fails).
 *  - 20 Databases with the app's normal pool settings (10 + 20 overflow per node) stand in for
 *    20 instances and drive a mixed read/write load through PgBouncer: 0 errors, and
 *    pg_stat_activity on every node never shows more than 40 of PgBouncer's server connections
 *    (they come over the node's Unix socket, so client_addr is NULL for them and only them).
 *  - What needs a session goes to DATABASE_SESSION_URL: NOTIFY sent through PgBouncer reaches
 *    20 direct LISTENers and the cache layer's own listener; 20 advisory-lock leader elections
 *    elect exactly one leader, and another takes over when its session dies.
 *  - statement_timeout is the server's (connect_query here); start-up refuses a mismatch; a
 *    named statement through transaction pooling fails (why the setting exists).
 */
const STATEMENT_TIMEOUT_MS = 1_500;
const INSTANCES = 20;
const SERVER_CONNECTIONS_PER_NODE = 40;
const LOAD_MS = 10_000;
const TEST_LOCK_KEY = 727_160_990;

let ps: PrivateStack;
let pgb: PgBouncerStack;
let pgbDir: string;

beforeAll(async () => {
  const t0 = Date.now();
  ps = await createPrivateStack('pgbouncer');
  pgbDir = path.join(process.cwd(), '.data', 'test-stacks', `pgbouncer-${crypto.randomBytes(3).toString('hex')}`);
  const ports = [await freePort(), await freePort(), await freePort()];
  pgb = localPgBouncer(ps.config(), {
    dir: pgbDir, ports, statementTimeoutMs: STATEMENT_TIMEOUT_MS, poolSize: SERVER_CONNECTIONS_PER_NODE,
    nodes: [
      { name: 'primary', serverPort: ps.stack.layout.primaryPort },
      ...ps.stack.layout.replicaPorts.map((p, i) => ({ name: `replica${i + 1}`, serverPort: p })),
    ],
  });
  await pgb.up((l) => console.log(`[pgbouncer] ${l}`));
  console.log(`[pgbouncer] private stack and 3 PgBouncers up in ${Date.now() - t0} ms`);
}, 180_000);

afterAll(async () => {
  await pgb?.down();
  for (const s of pgb?.status() ?? []) expect(s.state, `${s.name} stopped`).toBe('stopped');
  await ps?.destroy();
  if (pgbDir) fs.rmSync(pgbDir, { recursive: true, force: true });
}, 120_000);

/** A stand-in instance's configuration: the app's defaults, its URLs through PgBouncer. */
function pooledConfig(extra: Record<string, string> = {}): Config {
  return ps.config({
    ...pgbouncerEnv(pgb, ps.primaryUrl, 'bgc'),
    BGC_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
    BGC_CACHE_NAMESPACE: 'test:pgbouncer',
    ...extra,
  });
}

describe('behind PgBouncer (transaction pooling)', () => {
  it('the server sets statement_timeout; a mismatch stops start-up; pg\'s startup parameter is refused', async () => {
    const config = pooledConfig();
    expect(config.database).toMatchObject({ transactionPooler: true, namedStatements: false, primaryUrl: ps.primaryUrl });

    // What the setting avoids: pg's statement_timeout option is a startup parameter.
    const raw = new pg.Client({ connectionString: config.database.primaryPoolUrl, statement_timeout: 5_000 });
    raw.on('error', () => undefined);
    await expect(raw.connect()).rejects.toThrow(/unsupported startup parameter: statement_timeout/);

    const db = new Database(config, { applicationName: 'bgc-pgb-timeout' });
    try {
      await db.start();
      const t0 = performance.now();
      const err: unknown = await db.primary.query('SELECT pg_sleep(5)').then(() => undefined, (e: unknown) => e);
      const ms = Math.round(performance.now() - t0);
      console.log(`[pgbouncer] pg_sleep(5) through PgBouncer cancelled after ${ms} ms (statement_timeout ${STATEMENT_TIMEOUT_MS} ms from connect_query)`);
      expect(sqlState(err)).toBe('57014');
      expect(ms).toBeLessThan(4_000);
    } finally { await db.close(); }

    const wrong = new Database(pooledConfig({ BGC_STATEMENT_TIMEOUT_MS: '2500' }), { applicationName: 'bgc-pgb-mismatch' });
    try {
      await expect(wrong.start()).rejects.toMatchObject({ code: 'DB_POOLER_STATEMENT_TIMEOUT' });
    } finally { await wrong.close(); }
  });

  it('named statements through transaction pooling fail (what BGC_DB_NAMED_STATEMENTS=false avoids)', async () => {
    const named = defineQuery({ name: 'pgbtest.named', description: 'test read', target: 'primary', sample: [1], sql: 'SELECT $1::int + 1 AS v' });
    const db = new Database(pooledConfig({ BGC_DB_NAMED_STATEMENTS: 'true' }), { applicationName: 'bgc-pgb-named' });
    try {
      await db.start();
      const t0 = Date.now();
      let first: unknown;
      const loop = async () => {
        while (first === undefined && Date.now() - t0 < 15_000) {
          await db.query(named, [1]).catch((e: unknown) => { first ??= e; });
        }
      };
      await Promise.all(Array.from({ length: 20 }, loop));
      console.log(`[pgbouncer] named statement failed after ${Date.now() - t0} ms: ${first instanceof Error ? first.message : String(first)}`);
      expect(first instanceof Error ? first.message : '').toMatch(/prepared statement "pgbtest\.named" (does not exist|already exists)/);
    } finally { await db.close(); }
  });

  it('the monthly report opens behind PgBouncer, on the direct URL, with its own long statement timeout', async () => {
    // Before: its 10-minute timeout went to the pooled URLs, start() found PgBouncer's server
    // timeout instead and threw DB_POOLER_STATEMENT_TIMEOUT, so the leader's report job and
    // `bgc report` failed on every run behind a pooler.
    const db = await openReportDatabase(pooledConfig(), 'bgc-pgb-report');
    try {
      expect(db.pooled).toBe(false);
      expect(db.replicas, 'the replica URLs name PgBouncer: the report reads the primary').toHaveLength(0);
      const t0 = performance.now();
      await db.primary.query('SELECT pg_sleep(2)');
      const ms = Math.round(performance.now() - t0);
      console.log(`[pgbouncer] the report's 2 s statement ran ${ms} ms (the pooled servers cancel at ${STATEMENT_TIMEOUT_MS} ms)`);
      expect(ms).toBeGreaterThan(STATEMENT_TIMEOUT_MS);
    } finally { await db.close(); }
  });

  it(`${INSTANCES} instances' pools hold ≤ ${SERVER_CONNECTIONS_PER_NODE} server connections per node under mixed load, 0 errors; NOTIFY and leader election work on the direct URL`, async () => {
    // The replicas' checks through PgBouncer here (no direct addresses), so this load also
    // proves they go out unnamed there (see the routing check below).
    const config = pooledConfig({ DATABASE_REPLICA_SESSION_URLS: '' });
    const instances: Array<{ db: Database; services: Services; listener: NotifyListener; leader: LeaderLock; heard: string[] }> = [];
    const sampler = new ConnectionSampler([
      { node: 'primary', port: ps.stack.layout.primaryPort },
      ...ps.stack.layout.replicaPorts.map((port, i) => ({ node: `replica${i + 1}`, port })),
    ]);
    let layer: CacheLayer | undefined;
    const routes = new Map<string, number>();
    try {
      for (let i = 0; i < INSTANCES; i++) {
        const db = new Database(config, { applicationName: `bgc-pgb-api${i + 1}` });
        db.setObserver({ onQuery: () => undefined, onRoute: (_name, d) => { routes.set(d.reason, (routes.get(d.reason) ?? 0) + 1); } });
        const heard: string[] = [];
        const listener = new NotifyListener({
          url: config.database.primaryUrl, channel: 'bgc_pgb_test', applicationName: `bgc-pgb-listener${i + 1}`,
          onNotify: (p) => { heard.push(p); }, onConnected: () => undefined,
        });
        const leader = new LeaderLock({ url: config.database.primaryUrl, key: TEST_LOCK_KEY, applicationName: `bgc-pgb-leader${i + 1}` });
        instances.push({ db, services: createServices({ config, db }), listener, leader, heard });
      }
      const t0 = Date.now();
      await Promise.all(instances.map((s) => s.db.start()));
      await Promise.all(instances.map((s) => s.listener.start(5_000)));
      console.log(`[pgbouncer] ${INSTANCES} stand-ins started (pools pre-filled, statement_timeout checked, listeners up) in ${Date.now() - t0} ms`);
      await sampler.start();

      // Users and conversations to work on, made through the pooled path too.
      const first = instances[0];
      if (!first) throw new Error('no instances');
      const users: Array<{ id: string }> = [];
      for (let i = 0; i < 24; i++) {
        const r = await first.services.auth.register({ email: `pgb${i}@example.test`, username: `pgb_user_${i}`, password: 'correct Horse 42' });
        users.push({ id: r.value.user.id });
      }
      const conversations: Array<{ id: string; a: string; b: string }> = [];
      for (let i = 0; i + 1 < users.length; i += 2) {
        const a = users[i]?.id ?? '';
        const b = users[i + 1]?.id ?? '';
        const c = await first.services.conversations.open(a, b);
        conversations.push({ id: c.value.id, a, b });
      }
      await ps.syncReplicas();

      // Mixed load: 3 workers per stand-in (60 in flight against 40 server connections per node).
      const counts = new Map<string, number>();
      const errors: string[] = [];
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)] as T;
      const ops: Array<[string, (s: Services) => Promise<unknown>]> = [
        ['profile', (s) => { const v = pick(users).id; return s.profiles.get(v, pick(users).id, { userId: v }); }],
        ['feed', (s) => { const v = pick(users).id; return s.feed.feed(v, 'global', undefined, 20, { userId: v }); }],
        ['history', (s) => { const c = pick(conversations); return s.conversations.history(c.id, c.a, undefined, 20, { userId: c.a }); }],
        ['inbox', (s) => { const u = pick(users).id; return s.conversations.inbox(u, undefined, 20, { userId: u }); }],
        ['send', (s) => { const c = pick(conversations); return s.conversations.send(c.id, c.a, `hello ${Math.random()}`); }],
        ['post', (s) => s.feed.post(pick(users).id, `status ${Math.random()}`)],
      ];
      const loadStarted = Date.now();
      const worker = async (s: Services) => {
        while (Date.now() - loadStarted < LOAD_MS) {
          const [name, op] = pick(ops);
          try {
            await op(s);
            counts.set(name, (counts.get(name) ?? 0) + 1);
          } catch (err) {
            errors.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
          }
        }
      };
      await Promise.all(instances.flatMap((s) => [worker(s.services), worker(s.services), worker(s.services)]));
      const total = [...counts.values()].reduce((a, b) => a + b, 0);
      const clientConnections = instances.reduce((n, s) => n + s.db.poolStats().reduce((m, p) => m + p.total, 0), 0);
      console.log(`[pgbouncer] mixed load ${LOAD_MS / 1000} s: ${total} operations (${[...counts].map(([k, v]) => `${k} ${v}`).join(', ')}), ${errors.length} errors; `
        + `${clientConnections} client connections to PgBouncer at the end`);
      if (errors.length > 0) console.log(`[pgbouncer] errors: ${errors.slice(0, 10).join(' | ')}`);
      // The replicas stayed in rotation: their monitor's probes (named catalog entries) went out
      // unnamed too. A named probe fails through PgBouncer and ejects the replica (found by
      // `bgc bench --pgbouncer`: 1,267 reads fell back to the primary as "unhealthy").
      console.log(`[pgbouncer] routing: ${[...routes].map(([k, v]) => `${k} ${v}`).join(', ')}`);
      const unavailable = instances.flatMap((s) => s.db.router.snapshot().filter((r) => !r.available).map((r) => `${r.node}: ${r.lastError ?? 'lagging'}`));

      // NOTIFY sent through PgBouncer (delivered at commit) reaches every direct LISTENer.
      const token = crypto.randomBytes(4).toString('hex');
      const n0 = Date.now();
      await first.db.primary.query(`SELECT pg_notify('bgc_pgb_test', $1)`, [token]);
      const notifyMs = await until('every listener heard the NOTIFY', () => instances.every((s) => s.heard.includes(token)), 10_000, 20);
      console.log(`[pgbouncer] NOTIFY through PgBouncer heard by all ${INSTANCES} direct listeners in ${notifyMs} ms (${Date.now() - n0} ms with the send)`);

      // The app's own cache layer listens on config.database.primaryUrl: a profile changed by
      // SQL through PgBouncer (the 0004 trigger NOTIFYs) is invalidated in it.
      layer = new CacheLayer(config, { logger: pino({ level: 'silent' }), metrics: new Metrics(), name: 'pgb' });
      const invalidated: string[] = [];
      layer.onKeysInvalidated((cache, ids) => { if (cache === 'profile') invalidated.push(...ids); });
      await layer.start();
      expect(layer.listener?.connected).toBe(true);
      const target = users[3]?.id ?? '';
      await first.db.primary.query(`UPDATE profiles SET bio = $2 WHERE user_id = $1`, [target, `changed ${token}`]);
      const invMs = await until('the cache layer dropped the profile key', () => invalidated.includes(target), 10_000, 20);
      console.log(`[pgbouncer] profile UPDATE through PgBouncer invalidated the cache layer's key in ${invMs} ms`);

      // Leader election on direct sessions: exactly one of 20; another takes over when it dies.
      const checks = await Promise.all(instances.map((s) => s.leader.check()));
      const leaders = instances.filter((_, i) => checks[i]?.leader === true);
      expect(leaders).toHaveLength(1);
      const leaderPid = await leaders[0]?.leader.backendPid();
      const admin = await connectNode(ps.stack.layout.primaryPort, 'bgc');
      try { await admin.query('SELECT pg_terminate_backend($1)', [leaderPid]); } finally { await admin.end(); }
      const others = instances.filter((s) => s !== leaders[0]);
      const takeoverMs = await until('another instance leads', async () => (await Promise.all(others.map((s) => s.leader.check()))).some((c) => c.leader), 10_000, 100);
      console.log(`[pgbouncer] leader session terminated; another of the ${INSTANCES} led after ${takeoverMs} ms`);

      const seen = sampler.stop();
      for (const s of seen) {
        console.log(`[pgbouncer] ${s.node}: at most ${s.maxPooled} PgBouncer server connections, ${s.maxDirect} direct sessions (${s.samples} samples)`);
      }
      expect(errors).toEqual([]);
      expect(total).toBeGreaterThan(1_000);
      expect(unavailable).toEqual([]);
      expect(routes.get('fallback_unhealthy') ?? 0).toBe(0);
      for (const s of seen) {
        expect(s.maxPooled, `${s.node}: server connections from PgBouncer`).toBeLessThanOrEqual(SERVER_CONNECTIONS_PER_NODE);
        expect(s.maxPooled, `${s.node}: served through PgBouncer`).toBeGreaterThan(0);
      }
      // Without PgBouncer the same pools could open 20 × 30 = 600 per node.
      expect(clientConnections).toBeGreaterThan(3 * SERVER_CONNECTIONS_PER_NODE);
    } finally {
      sampler.stop();
      await layer?.close();
      await Promise.all(instances.map(async (s) => { await s.listener.close(); await s.leader.close(); await s.db.close(); }));
    }
  }, 180_000);
});

describe('health checks behind PgBouncer', () => {
  it('start-up refuses direct check addresses that reach other nodes than the pools (the replicas given in the wrong order)', async () => {
    const [r1, r2] = (pooledConfig().database.replicaSessionUrls);
    const swapped = new Database(pooledConfig({ DATABASE_REPLICA_SESSION_URLS: `${r2},${r1}` }), { applicationName: 'bgc-pgb-swapped' });
    try {
      await expect(swapped.start()).rejects.toMatchObject({ code: 'DB_PROBE_NODE_MISMATCH', message: expect.stringMatching(/replica1, replica2/) });
    } finally { await swapped.close(); }
  });

  it('reach each node directly: with every server connection of PgBouncer taken, the replicas stay in rotation and the primary answers its check', async () => {
    const direct = new Database(pooledConfig(), { applicationName: 'bgc-pgb-direct' });
    // The same instance without the replicas' direct addresses: its checks go through PgBouncer.
    const queued = new Database(pooledConfig({ DATABASE_REPLICA_SESSION_URLS: '' }), { applicationName: 'bgc-pgb-queued' });
    const holders: pg.Client[] = [];
    try {
      await Promise.all([direct.start(), queued.start()]);
      const inRotation = (db: Database) => db.router.snapshot().filter((r) => r.available).length;
      const readyMs = await until('both see both replicas in rotation', () => inRotation(direct) === 2 && inRotation(queued) === 2, 20_000, 50);
      console.log(`[pgbouncer] checks: both instances had both replicas in rotation after ${readyMs} ms`);

      // Every server connection of every PgBouncer taken by an open transaction (idle in it:
      // no statement runs, so no timeout ends it); any other transaction now waits in PgBouncer.
      const saturationStarted = Date.now();
      await Promise.all(['primary', 'replica1', 'replica2'].flatMap((node) => Array.from({ length: SERVER_CONNECTIONS_PER_NODE }, async () => {
        const c = new pg.Client({ connectionString: pgb.url(node, 'bgc'), application_name: 'bgc-pgb-holder' });
        c.on('error', () => undefined);
        holders.push(c);
        await c.connect();
        await c.query('BEGIN');
        await c.query('SELECT 1');
      })));
      const saturatedAt = Date.now();
      console.log(`[pgbouncer] checks: ${holders.length} open transactions hold every PgBouncer server connection (${saturatedAt - saturationStarted} ms to open)`);
      const waiting = new pg.Client({ connectionString: pgb.url('replica1', 'bgc'), query_timeout: 1_000 });
      waiting.on('error', () => undefined);
      try {
        await waiting.connect();
        await expect(waiting.query('SELECT 1')).rejects.toThrow(/timeout/i);
      } finally { await waiting.end().catch(() => undefined); }

      // Through PgBouncer the replicas' checks time out (250 ms) and two failures eject them.
      await until('the queued instance took both replicas out', () => inRotation(queued) === 0, 20_000, 50);
      console.log(`[pgbouncer] checks through a saturated PgBouncer: both replicas out of rotation ${Date.now() - saturationStarted} ms after the saturation began, or sooner`);
      // The direct checks kept polling meanwhile, found both replicas healthy, and kept them in rotation.
      const cleanMs = await until('the direct instance polled both replicas cleanly after saturation', () => direct.router.snapshot().every(
        (r) => r.lastPollAt > saturatedAt + 1_000 && r.lastError === undefined), 10_000, 50);
      console.log(`[pgbouncer] direct checks: clean polls of both replicas ${cleanMs} ms into the wait`);
      expect(inRotation(direct)).toBe(2);
      const t0 = performance.now();
      await direct.pingPrimary();
      const pingMs = performance.now() - t0;
      console.log(`[pgbouncer] direct checks: both replicas in rotation, primary ping ${pingMs.toFixed(1)} ms, with PgBouncer saturated for ${Date.now() - saturatedAt} ms`);
      expect(pingMs).toBeLessThan(1_000);

      // The direct checks' connections come over TCP (PgBouncer's over the Unix socket).
      const admin = await connectNode(ps.stack.layout.replicaPorts[0] ?? 0, 'bgc');
      try {
        const { rows } = await admin.query<{ tcp: boolean }>(
          `SELECT client_addr IS NOT NULL AS tcp FROM pg_stat_activity WHERE application_name = 'bgc-pgb-direct-probe'`);
        expect(rows.length).toBeGreaterThan(0);
        expect(rows.every((r) => r.tcp)).toBe(true);
      } finally { await admin.end(); }
    } finally {
      await Promise.all(holders.map((c) => c.query('ROLLBACK').catch(() => undefined).then(() => c.end()).catch(() => undefined)));
      await Promise.all([direct.close(), queued.close()]);
    }
  }, 120_000);

  it('a replica out for a failed read through its dead PgBouncer stays out until a read through that PgBouncer answers again', async () => {
    const db = new Database(pooledConfig(), { applicationName: 'bgc-pgb-deadbouncer' });
    const read = defineQuery({ name: 'pgbtest.replica_read', description: 'test read', target: 'replica', sample: [], sql: 'SELECT 1 AS v' });
    const replica1 = () => db.router.snapshot().find((r) => r.node === 'replica1');
    try {
      await db.start();
      await until('both replicas in rotation', () => db.router.snapshot().every((r) => r.available), 20_000, 50);
      const pid = pgb.status().find((s) => s.name === 'pgbouncer-replica1')?.pid;
      if (!pid) throw new Error('no PgBouncer for replica1');
      process.kill(pid, 'SIGKILL');
      await until('replica1\'s PgBouncer gone', () => pgb.status().find((s) => s.name === 'pgbouncer-replica1')?.state === 'stopped', 10_000, 20);
      // Reads until one lands on replica1, fails there and is retried elsewhere (none fails).
      const outMs = await until('a failed read took replica1 out', async () => {
        await db.query(read, []);
        return replica1()?.available === false;
      }, 10_000, 0);
      // The direct checks find replica1 itself healthy. Before, they re-admitted it after three
      // polls (about 1.5 s), and the next read failed again. 5 s of polls later it is still out.
      const firstPoll = replica1()?.lastPollAt ?? 0;
      let admitted = false;
      const errors = new Set<string>();
      const pollsMs = await until('5 s more of replica1\'s polls', () => {
        const r = replica1();
        admitted ||= r?.available === true;
        if (r?.lastError !== undefined) errors.add(r.lastError);
        return (r?.lastPollAt ?? 0) >= firstPoll + 5_000;
      }, 20_000, 20);
      console.log(`[pgbouncer] replica1's PgBouncer killed: out after a failed read (${outMs} ms), ${admitted ? 'RE-ADMITTED' : 'still out'} over ${pollsMs} ms of direct checks; errors seen: ${[...errors].join(' | ')}`);
      expect(admitted).toBe(false);
      expect([...errors].some((e) => /through its pool/.test(e)), [...errors].join(' | ')).toBe(true);

      await pgb.up();
      const backMs = await until('replica1 back in rotation with its PgBouncer', () => replica1()?.available === true, 20_000, 50);
      console.log(`[pgbouncer] replica1's PgBouncer restarted: back in rotation after ${backMs} ms`);
      await db.query(read, []);
    } finally {
      if (pgb.status().some((s) => s.state === 'stopped')) await pgb.up();
      await db.close();
    }
  }, 120_000);
});

/**
 * Samples pg_stat_activity on each node over a direct connection: PgBouncer's server connections
 * arrive over the Unix socket (client_addr NULL); the listeners, leader locks and this sampler
 * use TCP.
 */
class ConnectionSampler {
  readonly #clients: Array<{ node: string; client: pg.Client; maxPooled: number; maxDirect: number; samples: number }> = [];
  #timer: NodeJS.Timeout | undefined;
  #result: Array<{ node: string; maxPooled: number; maxDirect: number; samples: number }> | undefined;

  constructor(private readonly nodes: ReadonlyArray<{ node: string; port: number }>) {}

  async start(): Promise<void> {
    for (const n of this.nodes) this.#clients.push({ node: n.node, client: await connectNode(n.port, 'bgc'), maxPooled: 0, maxDirect: 0, samples: 0 });
    let busy = false;
    this.#timer = setInterval(() => {
      if (busy) return;
      busy = true;
      void Promise.all(this.#clients.map(async (c) => {
        const { rows } = await c.client.query<{ pooled: number; direct: number }>(
          `SELECT count(*) FILTER (WHERE client_addr IS NULL)::int AS pooled, count(*) FILTER (WHERE client_addr IS NOT NULL)::int AS direct
             FROM pg_stat_activity WHERE datname = 'bgc' AND backend_type = 'client backend' AND pid <> pg_backend_pid()`);
        c.maxPooled = Math.max(c.maxPooled, rows[0]?.pooled ?? 0);
        c.maxDirect = Math.max(c.maxDirect, rows[0]?.direct ?? 0);
        c.samples++;
      })).catch(() => undefined).finally(() => { busy = false; });
    }, 50);
  }

  stop(): Array<{ node: string; maxPooled: number; maxDirect: number; samples: number }> {
    if (this.#result) return this.#result;
    if (this.#timer) clearInterval(this.#timer);
    this.#result = this.#clients.map(({ node, maxPooled, maxDirect, samples }) => ({ node, maxPooled, maxDirect, samples }));
    for (const c of this.#clients) void c.client.end().catch(() => undefined);
    return this.#result;
  }
}
