import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaderLock } from '../../src/db/leader-lock.ts';
import { LatencyProxy } from '../../src/tools/bench/latency-proxy.ts';
import { PRIMARY_PORT, REPLICA_PORTS } from '../helpers/constants.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

/**
 * The job leader's lock session when its address led to a standby for a while (after a
 * failover, HAProxy or DNS still sending the primary's address to the demoted node). The
 * address is a TCP proxy here, pointed at a replica, then at the primary. Before the fix the
 * session stayed on the standby: every check asked it again and answered "replica", so once
 * every instance had reconnected that way, nobody led again until a restart.
 */
let tdb: TestDatabase;
let proxy: LatencyProxy;
let lock: LeaderLock;

beforeAll(async () => {
  tdb = await createTestDatabase('leader_lock_route');
  proxy = new LatencyProxy({ host: '127.0.0.1', port: REPLICA_PORTS[0]! }, 0);
  const port = await proxy.listen();
  lock = new LeaderLock({ url: `postgres://postgres@127.0.0.1:${port}/${tdb.name}`, key: 727_169_000 + (process.pid % 1000), applicationName: 'bgc-test-leader-route' });
});

afterAll(async () => {
  await lock?.close();
  await proxy?.close();
  await tdb?.drop();
});

describe('leader lock whose address led to a standby', () => {
  it('reconnects after a standby answered, and leads once the address leads to the primary', async () => {
    expect(await lock.check()).toEqual({ leader: false, reason: 'replica' });
    // The route is fixed: the same address now reaches the primary (the proxy's target is read per connection).
    (proxy as unknown as { target: { host: string; port: number } }).target = { host: '127.0.0.1', port: PRIMARY_PORT };
    const next = await lock.check();
    console.log(`[leader-lock-route] the check after the route changed: ${JSON.stringify(next)}`);
    expect(next).toEqual({ leader: true });
    expect(lock.isLeader).toBe(true);
  });
});
