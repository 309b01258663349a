import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotifyListener } from '../../src/db/notify-listener.ts';
import { PRIMARY_PORT } from '../helpers/constants.ts';
import { BlackholeProxy } from '../helpers/blackhole-proxy.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

/**
 * The invalidation listener (src/db/notify-listener.ts) against a path that goes silent
 * between the connect and the answer to LISTEN (a frozen server, a dropped flow): a TCP
 * proxy in front of the real primary swallows the first LISTEN and everything after it on
 * that connection. Before LISTEN had a bound, the listener waited on it until TCP gave up
 * (about 15 minutes) and heard nothing; now it gives up after the connect bound, reconnects
 * and hears the next NOTIFY.
 */
let tdb: TestDatabase;
let proxy: BlackholeProxy;

beforeAll(async () => {
  tdb = await createTestDatabase('notify_listener_silent');
  proxy = new BlackholeProxy({ host: '127.0.0.1', port: PRIMARY_PORT }, { silenceFirstMatching: /LISTEN/ });
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await tdb?.drop();
});

describe('notify listener on a path that goes silent during LISTEN', () => {
  it('gives up the silent connection, reconnects and hears the next NOTIFY', async () => {
    const port = await proxy.listen();
    const url = new URL(tdb.config().database.primaryUrl);
    url.port = String(port);
    const heard: string[] = [];
    const listener = new NotifyListener({
      url: url.toString(), channel: 'bgc_silent_test', applicationName: 'bgc-silent-listener',
      onNotify: (p) => { heard.push(p); }, onConnected: () => undefined,
    });
    const t0 = Date.now();
    try {
      void listener.start(0);
      while (!listener.connected && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 50));
      console.log(`[notify-listener-silent] listening after ${Date.now() - t0} ms (reconnects ${listener.reconnects}, last error: ${listener.lastError ?? 'none'})`);
      expect(listener.connected, 'listening within 20 s despite the silent first LISTEN').toBe(true);
      expect(listener.lastError).toMatch(/timeout/i);
      const admin = await tdb.admin();
      try {
        const t1 = Date.now();
        while (heard.length === 0 && Date.now() - t1 < 10_000) {
          await admin.query(`NOTIFY bgc_silent_test, 'after-silence'`);
          await new Promise((r) => setTimeout(r, 100));
        }
        console.log(`[notify-listener-silent] first NOTIFY heard ${Date.now() - t1} ms after sending began`);
      } finally { await admin.end(); }
      expect(heard).toContain('after-silence');
    } finally {
      await listener.close();
    }
  });
});

describe('notify listener whose connection goes silent after LISTEN', () => {
  it('reports the gap from its last answered ping, not from when a ping found it', async () => {
    const silentProxy = new BlackholeProxy({ host: '127.0.0.1', port: PRIMARY_PORT });
    const port = await silentProxy.listen();
    const url = new URL(tdb.config().database.primaryUrl);
    url.port = String(port);
    const connects: Array<{ reconnect: boolean; lostAt: number | undefined; noticedAt: number | undefined }> = [];
    const listener = new NotifyListener({
      url: url.toString(), channel: 'bgc_silent_after', applicationName: 'bgc-silent-after',
      onNotify: () => undefined, onConnected: (info) => { connects.push(info); }, pingMs: 300, pingTimeoutMs: 300,
    });
    try {
      expect(await listener.start(5_000)).toBe(true);
      // A few answered pings, then the flow goes silent (a NAT forgot it).
      await new Promise((r) => setTimeout(r, 1_000));
      const silencedAt = Date.now();
      expect(silentProxy.silenceAll()).toBeGreaterThan(0);
      const started = Date.now();
      while (!connects.some((c) => c.reconnect) && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 20));
      const again = connects.find((c) => c.reconnect);
      console.log(`[notify-listener] silenced at +0; lost at ${again?.lostAt === undefined ? '?' : again.lostAt - silencedAt} ms, noticed at ${again?.noticedAt === undefined ? '?' : again.noticedAt - silencedAt} ms, reconnected after ${Date.now() - silencedAt} ms`);
      expect(again).toBeDefined();
      // The last answered ping came before the silence; the loss was noticed a ping later.
      expect(again?.lostAt).toBeLessThanOrEqual(silencedAt);
      expect((again?.noticedAt ?? 0) - (again?.lostAt ?? 0)).toBeGreaterThanOrEqual(300);
    } finally {
      await listener.close();
      await silentProxy.close();
    }
  });
});

