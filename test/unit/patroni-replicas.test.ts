import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PatroniReplicaSource } from '../../src/db/patroni-replicas.ts';
import { ReplicaRouter } from '../../src/db/replica-router.ts';
import type { ManagedPool } from '../../src/db/managed-pool.ts';

/**
 * How the replica set follows Patroni's /cluster (BGC_PATRONI_URLS), on a small HTTP server
 * that answers /cluster like Patroni 3.0.2 does (the real thing: test/chaos/ha-failover.test.ts).
 * Pools are stand-ins that record whether they were closed; nothing connects to PostgreSQL.
 */
type Member = { name: string; role: string; state: string; host: string; port: number };
let cluster: { members: Member[] } | undefined;
let server: http.Server;
let restUrl: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url !== '/cluster' || cluster === undefined) { res.writeHead(503).end('{}'); return; }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(cluster));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  restUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => { await new Promise((r) => server.close(r)); });

interface FakePool { name: string; url: string; role: 'replica'; closed: boolean; close(): Promise<void>; prefill(): Promise<void> }
const fakePool = (name: string, url: string): FakePool => ({
  name, url, role: 'replica', closed: false,
  async close() { this.closed = true; },
  async prefill() { /* no connection in a unit test */ },
});

function setup() {
  const made: FakePool[] = [];
  const primary = { name: 'primary', role: 'primary', closed: false } as unknown as ManagedPool;
  const router = new ReplicaRouter(primary, [], { maxLagMs: 2_000, pollMs: 60_000, readYourWritesWaitMs: 0 });
  const source = new PatroniReplicaSource(['http://127.0.0.1:9/unreachable', restUrl], router,
    (name, url) => { const p = fakePool(name, url); made.push(p); return p as unknown as ManagedPool; },
    'postgres://app:secret@haproxy.example:54340/bgc?sslmode=disable', 60_000);
  return { router, source, made, names: () => router.replicas.map((r) => r.name).sort() };
}

const member = (name: string, role: string, port: number): Member => ({ name, role, state: 'running', host: '127.0.0.1', port });

describe('PatroniReplicaSource', () => {
  it('takes every member but the leader, with the primary URL\'s user, password, database and options', async () => {
    cluster = { members: [member('pg1', 'leader', 54330), member('pg2', 'sync_standby', 54331), member('pg3', 'replica', 54332)] };
    const { source, made, names } = setup();
    await source.refresh();
    expect(names()).toEqual(['pg2', 'pg3']);
    expect(made.find((p) => p.name === 'pg2')?.url).toBe('postgres://app:secret@127.0.0.1:54331/bgc?sslmode=disable');
  });

  it('drops a promoted member (closing its pool) and adds the old leader back when it rejoins', async () => {
    cluster = { members: [member('pg1', 'leader', 54330), member('pg2', 'sync_standby', 54331), member('pg3', 'replica', 54332)] };
    const { source, made, names } = setup();
    await source.refresh();
    // pg1 dies: pg2 is promoted, pg1 is not listed yet.
    cluster = { members: [member('pg2', 'leader', 54331), member('pg3', 'sync_standby', 54332)] };
    await source.refresh();
    expect(names()).toEqual(['pg3']);
    expect(made.filter((p) => p.name === 'pg2').map((p) => p.closed)).toEqual([true]);
    // pg1 rejoins as a replica: a new pool, in the set (the router admits it after a healthy probe).
    cluster = { members: [member('pg1', 'replica', 54330), member('pg2', 'leader', 54331), member('pg3', 'sync_standby', 54332)] };
    await source.refresh();
    expect(names()).toEqual(['pg1', 'pg3']);
    // As the leader it never had a pool; now it has one.
    expect(made.filter((p) => p.name === 'pg1').map((p) => p.closed)).toEqual([false]);
  });

  it('keeps the set as it is while no Patroni answers (etcd quorum lost, APIs down)', async () => {
    cluster = { members: [member('pg1', 'leader', 54330), member('pg2', 'replica', 54331), member('pg3', 'replica', 54332)] };
    const { source, names } = setup();
    await source.refresh();
    cluster = undefined;
    await source.refresh();
    expect(names()).toEqual(['pg2', 'pg3']);
    expect(source.lastError).toMatch(/HTTP 503/);
  });

  it('closes every pool it made on stop', async () => {
    cluster = { members: [member('pg1', 'leader', 54330), member('pg2', 'replica', 54331)] };
    const { source, made, names } = setup();
    await source.refresh();
    await source.stop();
    expect(names()).toEqual([]);
    expect(made.every((p) => p.closed)).toBe(true);
  });
});
