import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, MAX_WINDOW_DAYS } from '../../src/services/cursor.ts';
import { DAY_MS, nextWindowCursor, openWindow, retentionFloorMs, type Window } from '../../src/services/time-window.ts';
import { AppError } from '../../src/errors/app-error.ts';
import { MAX_UUID, MIN_UUID } from '../../src/repositories/sql-fragments.ts';

/**
 * Keyset pagination without a database: cursors (src/services/cursor.ts) are validated
 * strictly, so a damaged or foreign one is 400 INVALID_CURSOR, and time windows
 * (src/services/time-window.ts) move and widen as documented. Fixed dates only.
 */
const ID = '01890a5d-ac96-774b-bcce-b302099a8057';
const C = '0191b4a2-0000-7000-8000-000000000001';

function invalid(kind: Parameters<typeof decodeCursor>[0], raw: string): string | undefined {
  try {
    decodeCursor(kind, raw);
    return undefined;
  } catch (err) {
    return err instanceof AppError ? err.code : 'not an AppError';
  }
}
const raw = (obj: unknown) => Buffer.from(JSON.stringify(obj), 'utf8').toString('base64url');

describe('cursors', () => {
  it('round-trips each shape, microseconds and leap days included', () => {
    const history = { c: C, ts: '2028-02-29T23:59:59.999999Z', id: ID, w: 7 };
    expect(decodeCursor('conversation_history', encodeCursor('conversation_history', history))).toEqual(history);
    const near = { d: 12_345.6, id: ID };
    expect(decodeCursor('search_near', encodeCursor('search_near', near))).toEqual(near);
    expect(decodeCursor('inbox', undefined)).toBeUndefined();
    expect(decodeCursor('inbox', '')).toBeUndefined();
  });

  it('refuses a cursor of another kind, and garbage, as INVALID_CURSOR', () => {
    const inbox = encodeCursor('inbox', { ts: '2026-12-31T23:59:30Z', id: ID });
    expect(invalid('search', inbox)).toBe('INVALID_CURSOR');
    expect(invalid('inbox', 'not base64!')).toBe('INVALID_CURSOR');
    expect(invalid('inbox', raw('just a string'))).toBe('INVALID_CURSOR');
    expect(invalid('inbox', 'A'.repeat(601))).toBe('INVALID_CURSOR');
    expect(invalid('inbox', Buffer.from('{"kind":"inbox"', 'utf8').toString('base64url'))).toBe('INVALID_CURSOR');
  });

  it('refuses extra fields, bad ids, and windows outside 1..MAX_WINDOW_DAYS', () => {
    const ok = { kind: 'feed_global', ts: '2026-12-31T23:59:30Z', id: ID, w: 1 };
    expect(invalid('feed_global', raw(ok))).toBeUndefined();
    expect(invalid('feed_global', raw({ ...ok, extra: 1 }))).toBe('INVALID_CURSOR');
    expect(invalid('feed_global', raw({ ...ok, id: 'not-a-uuid' }))).toBe('INVALID_CURSOR');
    expect(invalid('feed_global', raw({ ...ok, id: ID.toUpperCase() }))).toBe('INVALID_CURSOR');
    expect(invalid('feed_global', raw({ ...ok, w: 0 }))).toBe('INVALID_CURSOR');
    expect(invalid('feed_global', raw({ ...ok, w: MAX_WINDOW_DAYS + 1 }))).toBe('INVALID_CURSOR');
    expect(invalid('feed_global', raw({ ...ok, w: 1.5 }))).toBe('INVALID_CURSOR');
  });

  it('refuses timestamps that are not real UTC instants (PostgreSQL would answer 22008)', () => {
    const at = (ts: string) => invalid('inbox', raw({ kind: 'inbox', ts, id: ID }));
    expect(at('2028-02-29T00:00:00Z')).toBeUndefined();
    for (const ts of ['2027-02-29T00:00:00Z', '2026-02-30T00:00:00Z', '2026-04-31T00:00:00Z', '2026-12-31T24:00:00Z', '2026-13-01T00:00:00Z', '2026-12-31T23:59:30+01:00', '2026-12-31 23:59:30Z']) {
      expect(at(ts), ts).toBe('INVALID_CURSOR');
    }
  });
});

describe('time windows', () => {
  const NOW = Date.parse('2026-12-31T23:59:30Z');

  it('opens the first page a minute above now (a fast clock\'s rows are not missed), across the year end', () => {
    const w = openWindow(undefined, 7, NOW);
    expect(w).toEqual({ upperTs: '2027-01-01T00:00:30.000Z', upperId: MAX_UUID, days: 7, lowerTs: '2026-12-25T00:00:30.000Z' });
  });

  it('continues from a cursor with the cursor\'s own window', () => {
    const w = openWindow({ ts: '2028-03-01T00:00:00Z', id: ID, w: 2 }, 7, NOW);
    expect(w).toEqual({ upperTs: '2028-03-01T00:00:00Z', upperId: ID, days: 2, lowerTs: '2028-02-28T00:00:00.000Z' });
  });

  const window: Window = { upperTs: '2027-01-01T00:00:30.000Z', upperId: MAX_UUID, days: 7, lowerTs: '2026-12-25T00:00:30.000Z' };
  const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `${i}`, created_at: new Date(NOW - i * 60_000).toISOString() }));

  it('a full page continues inside the window from its last row', () => {
    expect(nextWindowCursor(window, rows(11), 10, 0)).toEqual({ ts: rows(10)[9]?.created_at, id: '9', w: 7 });
  });

  it('a short page moves the window below its lower bound and widens it fourfold, up to the cap', () => {
    expect(nextWindowCursor(window, rows(3), 10, 0)).toEqual({ ts: window.lowerTs, id: MIN_UUID, w: 28 });
    expect(nextWindowCursor({ ...window, days: 3000 }, [], 10, 0)?.w).toBe(MAX_WINDOW_DAYS);
  });

  it('ends (null) once the window reaches the floor', () => {
    expect(nextWindowCursor(window, rows(3), 10, Date.parse(window.lowerTs))).toBeNull();
    expect(nextWindowCursor(window, rows(3), 10, Date.parse(window.lowerTs) - 1)).not.toBeNull();
  });

  it('puts the retention floor 31 days per month of retention back', () => {
    expect(retentionFloorMs(24, NOW)).toBe(NOW - 24 * 31 * DAY_MS);
  });
});
