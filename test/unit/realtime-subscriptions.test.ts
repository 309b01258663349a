import { describe, expect, it } from 'vitest';
import type { ChannelKind, RealtimeBus } from '../../src/cache/realtime-bus.ts';
import { Subscriptions } from '../../src/realtime/subscriptions.ts';

/**
 * The subscription bookkeeping alone (src/realtime/subscriptions.ts), against a stand-in for
 * the bus's two calls: a SUBSCRIBE that Redis refused is tried again for the next socket and
 * when the subscriber comes back, not remembered as refused while sockets stay.
 */
function bus(outcomes: boolean[]): { bus: RealtimeBus; calls: string[] } {
  const calls: string[] = [];
  const fake = {
    subscribe: async (kind: ChannelKind, id: string) => {
      calls.push(`subscribe ${kind}:${id}`);
      if (outcomes.shift() === false) throw new Error('Connection is closed.');
    },
    unsubscribe: async (kind: ChannelKind, id: string) => { calls.push(`unsubscribe ${kind}:${id}`); },
  };
  return { bus: fake as unknown as RealtimeBus, calls };
}

describe('Subscriptions', () => {
  it('shares one SUBSCRIBE between sockets of one channel', async () => {
    const { bus: b, calls } = bus([true]);
    const subs = new Subscriptions(b, 1_000);
    expect(await Promise.all([subs.ensure('user', 'u1'), subs.ensure('user', 'u1')])).toEqual([true, true]);
    expect(calls).toEqual(['subscribe user:u1']);
  });

  it('tries a refused SUBSCRIBE again for the next socket', async () => {
    const { bus: b, calls } = bus([false, true]);
    const subs = new Subscriptions(b, 1_000);
    expect(await subs.ensure('room', 'r1')).toBe(false);
    expect(subs.failedCount).toBe(1);
    expect(await subs.ensure('room', 'r1')).toBe(true);
    expect(subs.failedCount).toBe(0);
    expect(calls).toEqual(['subscribe room:r1', 'subscribe room:r1']);
  });

  it('tries refused ones again when the subscriber is back, but not a channel nobody wants any more', async () => {
    const { bus: b, calls } = bus([false, false, true]);
    const subs = new Subscriptions(b, 1_000);
    expect(await subs.ensure('user', 'kept')).toBe(false);
    expect(await subs.ensure('user', 'gone')).toBe(false);
    subs.drop('user', 'gone');
    subs.retryFailed();
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual(['subscribe user:kept', 'subscribe user:gone', 'unsubscribe user:gone', 'subscribe user:kept']);
    expect(subs.failedCount).toBe(0);
    expect(subs.count).toBe(1);
  });
});
