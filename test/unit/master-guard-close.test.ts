import net from 'node:net';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MasterGuard, type MasterGuardOptions } from '../../src/cache/master-guard.ts';

/**
 * A Redis that accepts connections and drops them before answering (crash-looping, or a proxy
 * in front of a dead one): each connect holds the caches' bypass until the master is checked,
 * and the check never comes. The bypass must go with each connection, or every read of the
 * instance stays on PostgreSQL, past its L1, for the whole outage (a real ioredis client
 * against a local TCP server; no Redis is needed for the state under test).
 */
let server: net.Server;
let port = 0;
let accepted = 0;

beforeAll(async () => {
  server = net.createServer((socket) => { accepted++; socket.once('data', () => socket.destroy()); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(async () => { await new Promise((r) => server.close(r)); });

describe('master guard against a Redis that drops every connection', () => {
  it('gives the bypass back when the connection closes', async () => {
    let held = 0;
    const cache = { holdBypass: () => { held++; let once = true; return () => { if (once) { once = false; held--; } }; } };
    const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
    redis.on('error', () => undefined);
    const guard = new MasterGuard({
      redis, health: {} as MasterGuardOptions['health'], markKey: 'test:master', caches: [cache], patterns: [],
      janitor: { scanDelete: async () => ({ deleted: 0, complete: true }) } as unknown as MasterGuardOptions['janitor'], log: pino({ level: 'silent' }),
    } as unknown as MasterGuardOptions);
    try {
      void redis.connect().catch(() => undefined);
      const started = Date.now();
      while (accepted < 3 && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 10));
      expect(accepted).toBeGreaterThanOrEqual(3);
      // Between connections (or during one, until its close), never more than one hold.
      expect(held).toBeLessThanOrEqual(1);
      redis.disconnect();
      await new Promise((r) => setTimeout(r, 50));
      expect(guard.holding).toBe(false);
      expect(held).toBe(0);
    } finally {
      guard.close();
      redis.disconnect();
    }
  });
});
