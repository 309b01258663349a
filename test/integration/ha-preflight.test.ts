import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HaStack } from '../../src/tools/stack/ha/ha-stack.ts';
import { buildHaLayout } from '../../src/tools/stack/ha/layout.ts';
import { StackPortBusyError } from '../../src/tools/stack/preflight.ts';
import { freePort } from '../helpers/free-port.ts';

/**
 * `bgc stack up --ha` checks every port before it starts anything. Before, a port held by
 * another process (Debian's etcd package starts a system etcd on 2379/2380 where systemd
 * runs: etcd1's ports at offset 0) left that member unable to bind while the other server
 * answered its health check, and `up` went on with a two-member etcd cluster.
 */
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-ha-preflight-'));
let server: net.Server | undefined;
afterAll(async () => {
  await new Promise<void>((r) => { if (server) server.close(() => r()); else r(); });
  fs.rmSync(root, { recursive: true, force: true });
});

describe('HA stack preflight', () => {
  it('refuses in under 2 s, naming the port and its holder, before starting anything', async () => {
    const ports = new Set<number>();
    while (ports.size < 15) ports.add(await freePort());
    const p = [...ports];
    const take = (k: number): number[] => p.splice(0, k);
    const layout = buildHaLayout(root, {
      postgres: take(3), patroniRest: take(3), etcdClient: take(3), etcdPeer: take(3),
      haproxyPrimary: take(1)[0] as number, haproxyReplicas: take(1)[0] as number, haproxyStats: take(1)[0] as number,
    }, `ha-preflight-${crypto.randomBytes(3).toString('hex')}`);
    const etcd1 = layout.etcd[0];
    if (!etcd1) throw new Error('no etcd member in the layout');
    const srv = net.createServer((socket) => socket.destroy());
    server = srv;
    await new Promise<void>((resolve, reject) => { srv.once('error', reject); srv.listen(etcd1.clientPort, '127.0.0.1', () => resolve()); });

    const stack = new HaStack(layout);
    const started = Date.now();
    const err = await stack.up(() => undefined, 30_000).then(() => undefined, (e: unknown) => e);
    const ms = Date.now() - started;
    console.log(`[ha-preflight] up refused in ${ms} ms: ${String(err)}`);
    expect(err).toBeInstanceOf(StackPortBusyError);
    expect((err as Error).message).toContain(`port ${etcd1.clientPort} (etcd1 (client)): in use by pid ${process.pid}`);
    expect(ms).toBeLessThan(2_000);
    // Nothing was started: no member's folder, no HAProxy folder.
    expect(fs.readdirSync(root).filter((n) => n !== '.stack.lock')).toEqual([]);
    expect((await stack.status()).etcd.every((e) => !e.running && !e.healthy)).toBe(true);
  }, 60_000);
});
