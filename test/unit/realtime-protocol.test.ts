import { describe, expect, it } from 'vitest';
import { decodeBusFrame, encodeBusFrame, events, parseClientFrame } from '../../src/realtime/protocol.ts';
import { TokenBucket } from '../../src/realtime/token-bucket.ts';

const ID = '0190d1c4-0000-7000-8000-000000000000';

describe('client frames', () => {
  it('accepts each documented frame and nothing with an extra or missing field', () => {
    for (const f of [
      { type: 'auth', token: 't' }, { type: 'ping' }, { type: 'join', room_id: ID }, { type: 'leave', room_id: ID, request_id: 'r' },
      { type: 'typing', conversation_id: ID }, { type: 'typing', room_id: ID }, { type: 'sync', since: ID, lsn: '0/16B3748', limit: 500 },
      { type: 'sync', cursor: 'c', room_id: ID },
    ]) expect(parseClientFrame(JSON.stringify(f)), JSON.stringify(f)).toEqual(f);
    for (const text of [
      '', 'x', '[]', 'null', '{}', '{"type":"ping","x":1}', '{"type":"join"}', `{"type":"typing","room_id":"${ID}","conversation_id":"${ID}"}`,
      `{"type":"sync","since":"${ID}","limit":501}`, '{"type":"auth","token":""}',
    ]) expect(parseClientFrame(text), text).toBeUndefined();
  });
});

describe('bus frames', () => {
  it('round-trip the meta and pass the event text through untouched', () => {
    const event = events.message('c', { id: 'm', content: 'two\nlines' }, '0/1', 5);
    const decoded = decodeBusFrame(encodeBusFrame({ t: 5, k: 'message', s: 'u' }, event));
    expect(decoded).toEqual({ meta: { t: 5, k: 'message', s: 'u' }, event });
    expect(JSON.parse(decoded?.event ?? '')).toMatchObject({ type: 'message', conversation_id: 'c', lsn: '0/1', ts: 5 });
    expect(decodeBusFrame('no newline')).toBeUndefined();
    expect(decodeBusFrame('{"k":"message"}\n{}')).toBeUndefined();
  });
});

describe('token bucket', () => {
  it('allows the burst, then the rate', () => {
    const b = new TokenBucket(1, 3, 0);
    expect([b.take(0), b.take(0), b.take(0), b.take(0)]).toEqual([true, true, true, false]);
    expect(b.take(999)).toBe(false);
    expect(b.take(1_000)).toBe(true);
    expect(b.take(10_000) && b.take(10_000) && b.take(10_000) && !b.take(10_000)).toBe(true);
  });

  it('is not drained by a wall clock stepping back (before: a 3 s step took 60 tokens off a 20/s bucket)', () => {
    const b = new TokenBucket(20, 40, 10_000);
    expect(b.take(10_000)).toBe(true);
    expect(b.take(7_000)).toBe(true);
    // Refills again from the earlier time, not from a debt.
    const more = Array.from({ length: 38 }, () => b.take(7_000));
    expect(more.every(Boolean)).toBe(true);
    expect(b.take(7_000)).toBe(false);
  });
});
