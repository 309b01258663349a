import { uuidv7 } from 'uuidv7';

/**
 * Ids of messages, posts and comments are UUIDv7 made here, in the app; the row's
 * created_at is the id's own millisecond timestamp, so an id names its partition and a
 * post id alone bounds the partitions to search for it.
 */
export interface TimedId {
  readonly id: string;
  /** ISO-8601 UTC, equal to the id's embedded time. */
  readonly createdAt: string;
}

export function newTimedId(): TimedId {
  const id = uuidv7();
  return { id, createdAt: new Date(uuidV7Millis(id) ?? Date.now()).toISOString() };
}

/** Plain UUIDv7 for rows without a time dimension (users, sessions, conversations). */
export function newId(): string {
  return uuidv7();
}

/** The Unix milliseconds in a UUIDv7, or undefined for any other UUID version. */
export function uuidV7Millis(id: string): number | undefined {
  const hex = id.replace(/-/g, '');
  if (hex.length !== 32 || hex[12] !== '7') return undefined;
  return Number.parseInt(hex.slice(0, 12), 16);
}
