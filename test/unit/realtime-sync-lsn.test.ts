import { describe, expect, it } from 'vitest';
import type { RealtimeRepository } from '../../src/repositories/realtime.repository.ts';
import { SyncReader } from '../../src/realtime/sync.ts';

/**
 * A `sync` reads at the primary's WAL position as of the request, so a replica that answers has
 * every message that was published before the client's subscription was live. Concurrent syncs
 * share lookups, but never one that began before the request arrived.
 */
function fakeRepository() {
  let wal = 1;
  const lookups: Array<{ value: string; answer: () => void }> = [];
  const minLsns: Array<string | undefined> = [];
  const repo = {
    primaryLsn: () => {
      const value = `0/${wal}`;
      return new Promise<string>((resolve) => { lookups.push({ value, answer: () => resolve(value) }); });
    },
    missedDirect: (_u: string, _a: unknown, _l: number, ctx: { minLsn?: string }) => { minLsns.push(ctx.minLsn); return Promise.resolve([]); },
  } as unknown as RealtimeRepository;
  return { repo, lookups, minLsns, commit: () => { wal++; } };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('sync read positions', () => {
  it('never uses a position looked up before the request arrived (before: one up to 20 ms older was reused)', async () => {
    const f = fakeRepository();
    const reader = new SyncReader(f.repo);
    const first = reader.page('u1', { type: 'sync', since: '01939262-4be4-767d-a1f7-4556b1b77d0f' });
    await flush();
    // A message commits (and is published) while the first lookup is in flight; then the
    // second client's sync arrives.
    f.commit();
    await new Promise((r) => setTimeout(r, 2));
    const second = reader.page('u2', { type: 'sync', since: '01939262-4be4-767d-a1f7-4556b1b77d0f' });
    const third = reader.page('u3', { type: 'sync', since: '01939262-4be4-767d-a1f7-4556b1b77d0f' });
    await flush();
    expect(f.lookups.map((l) => l.value)).toEqual(['0/1']);
    f.lookups[0]?.answer();
    await first;
    await flush();
    // The next lookup began once the first answered, shared by both later syncs.
    expect(f.lookups.map((l) => l.value)).toEqual(['0/1', '0/2']);
    f.lookups[1]?.answer();
    await Promise.all([second, third]);
    expect(f.minLsns).toEqual(['0/1', '0/2', '0/2']);
  });

  it('starts a lookup of its own when none is in flight', async () => {
    const f = fakeRepository();
    const reader = new SyncReader(f.repo);
    const a = reader.page('u1', { type: 'sync', since: '01939262-4be4-767d-a1f7-4556b1b77d0f' });
    await flush();
    f.lookups[0]?.answer();
    await a;
    f.commit();
    const b = reader.page('u1', { type: 'sync', since: '01939262-4be4-767d-a1f7-4556b1b77d0f' });
    await flush();
    f.lookups[1]?.answer();
    await b;
    expect(f.minLsns).toEqual(['0/1', '0/2']);
  });
});
