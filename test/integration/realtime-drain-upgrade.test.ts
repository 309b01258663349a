import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime, type Runtime } from '../../src/app/runtime.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { RtClient } from '../helpers/realtime-client.ts';

/**
 * A socket whose upgrade is still authenticating when the drain starts. The drain closes
 * every socket with 1001 (preClose); this one was accepted after that, so nothing closed it,
 * and the server's close waited for it (heartbeats kept it alive) until the force exit.
 * Now the hub, once closing, closes a late socket at once.
 */
let tdb: TestDatabase;
let rt: Runtime | undefined;

beforeAll(async () => {
  tdb = await createTestDatabase('realtime_drain_upgrade');
  rt = await startRuntime(tdb.config({ BGC_POOL_SIZE: '2', BGC_POOL_MAX_OVERFLOW: '8', BGC_CACHE_WARM_COUNT: '0', BGC_REALTIME_HEARTBEAT_MS: '300' }));
});

afterAll(async () => {
  await rt?.close();
  await tdb?.drop();
});

describe('drain while an upgrade authenticates', () => {
  it('the late socket is closed with 1001 and the instance finishes closing', async () => {
    if (!rt) throw new Error('no runtime');
    const username = `drain_up_${process.pid}`;
    const reg = await rt.app.inject({
      method: 'POST', url: '/api/auth/register', headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ email: `${username}@example.test`, username, password: 'correct Horse 42' }),
    });
    expect(reg.statusCode).toBe(201);
    const token = (JSON.parse(reg.body) as { token: string }).token;

    // The upgrade's session lookup is held until the drain has begun.
    const auth = rt.deps.services.auth;
    const lookup = auth.authenticate.bind(auth);
    let entered!: () => void;
    const inLookup = new Promise<void>((r) => { entered = r; });
    let letGo!: () => void;
    const held = new Promise<void>((r) => { letGo = r; });
    auth.authenticate = async (t: string) => { entered(); await held; return lookup(t); };

    // The lookup ends right after the drain closed every socket (preClose).
    const hub = rt.deps.realtime?.hub;
    if (!hub) throw new Error('no realtime hub');
    const closeAll = hub.closeAll.bind(hub);
    hub.closeAll = () => { closeAll(); letGo(); };

    const port = rt.ports.api;
    const opening = RtClient.open(port, { token });
    await inLookup;
    const closing = rt;
    rt = undefined;
    const t0 = performance.now();
    const closed = closing.close();
    const client = await opening.catch(() => undefined);
    if (client) {
      const how = await client.waitClosed(5_000);
      expect(how.code).toBe(1001);
    }
    await closed;
    const ms = performance.now() - t0;
    console.log(`closed in ${ms.toFixed(0)} ms with an upgrade authenticating at the drain (socket ${client ? 'opened and closed with 1001' : 'refused'})`);
    expect(ms).toBeLessThan(10_000);
  }, 40_000);
});
