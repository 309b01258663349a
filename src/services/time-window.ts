import { MAX_WINDOW_DAYS } from './cursor.ts';
import { MAX_UUID, MIN_UUID } from '../repositories/sql-fragments.ts';

/**
 * Time-windowed keyset pages for messages and status updates (both partitioned by month).
 *
 * A page reads rows with `created_at` in [lower, upper] and `(created_at, id) < (upper,
 * upperId)`, newest first. Both bounds are parameters the planner sees, so only the
 * window's monthly partitions are scanned however long the history grows. If the window
 * holds fewer rows than asked, the next cursor moves the window below `lower` and widens
 * it fourfold, until it passes the floor (the conversation's creation, or the retention
 * horizon). So a page can hold fewer items than `limit` while next_cursor is still set:
 * clients keep following next_cursor until it is null.
 */
export const DAY_MS = 86_400_000;
/** Slack above "now" for the first page, so a row stamped by a slightly fast clock is not missed. */
const CLOCK_SLACK_MS = 60_000;

export interface WindowCursor { readonly ts: string; readonly id: string; readonly w: number }

export interface Window {
  readonly lowerTs: string;
  readonly upperTs: string;
  readonly upperId: string;
  readonly days: number;
}

export function openWindow(cursor: WindowCursor | undefined, initialDays: number, nowMs = Date.now()): Window {
  if (cursor) {
    return { upperTs: cursor.ts, upperId: cursor.id, days: cursor.w, lowerTs: new Date(Date.parse(cursor.ts) - cursor.w * DAY_MS).toISOString() };
  }
  const upper = nowMs + CLOCK_SLACK_MS;
  return { upperTs: new Date(upper).toISOString(), upperId: MAX_UUID, days: initialDays, lowerTs: new Date(upper - initialDays * DAY_MS).toISOString() };
}

/**
 * The cursor after a page. `fetched` holds up to limit + 1 rows (the extra row only
 * says "there is more inside this window").
 */
export function nextWindowCursor(
  window: Window,
  fetched: ReadonlyArray<{ readonly id: string; readonly created_at: string }>,
  limit: number,
  floorMs: number,
): WindowCursor | null {
  if (fetched.length > limit) {
    const last = fetched[limit - 1];
    if (last) return { ts: last.created_at, id: last.id, w: window.days };
  }
  if (Date.parse(window.lowerTs) <= floorMs) return null;
  // Rows exactly at `lower` were in this page; (lower, MIN_UUID) excludes them next time.
  return { ts: window.lowerTs, id: MIN_UUID, w: Math.min(window.days * 4, MAX_WINDOW_DAYS) };
}

/** Oldest moment a feed or history can reach: data older than the retention horizon is archived. */
export function retentionFloorMs(retentionMonths: number, nowMs = Date.now()): number {
  return nowMs - retentionMonths * 31 * DAY_MS;
}
