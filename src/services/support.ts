import type { Database } from '../db/database.ts';
import type { Logger } from '../logging/logger.ts';
import { AppError } from '../errors/app-error.ts';

/** Every list endpoint's shape (DESIGN §2). */
export interface Page<T> {
  readonly items: T[];
  readonly next_cursor: string | null;
}

/** A write's result and the primary's WAL position after it (for X-BGC-LSN), if replicas exist. */
export interface Written<T> {
  readonly value: T;
  readonly lsn: string | undefined;
  /** True when `value` is the stored response of an earlier request with the same Idempotency-Key. */
  readonly replayed?: boolean;
}

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export function pageSize(limit: number | undefined, fallback = DEFAULT_PAGE_SIZE): number {
  if (limit === undefined) return fallback;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new AppError('VALIDATION_FAILED', `limit must be an integer from 1 to ${MAX_PAGE_SIZE}`);
  }
  return limit;
}

/**
 * Records the user's write for read-your-writes (db.router.noteWrite) and returns the
 * LSN. The write itself already committed: if only this bookkeeping fails, the request
 * still succeeds (a retry would duplicate the write); the user's next read may then hit
 * a lagging replica, so it is logged.
 */
export async function noteWrite(db: Database, logger: Logger | undefined, userId: string): Promise<string | undefined> {
  try {
    return await db.router.noteWrite(userId);
  } catch (err) {
    logger?.warn({ err: err instanceof Error ? err.message : String(err), userId }, 'could not record write LSN');
    return undefined;
  }
}

/**
 * noteWrite, with what the write announces before it is answered (its hooks: cache
 * invalidations, page-version raises) run alongside the user's mark instead of after it. Both
 * need only the LSN, and each is a Redis round trip: under load a wait of several ms, as a send
 * measured (docs/PERFORMANCE.md, "Where a send's time went"). The mark never fails the request;
 * `announce` does, as a hook did when it ran after the mark.
 */
export async function noteWriteAnd(db: Database, logger: Logger | undefined, userId: string, announce: (lsn: string | undefined) => Promise<void>): Promise<string | undefined> {
  let lsn: string | undefined;
  try {
    lsn = await db.router.writtenLsn();
  } catch (err) {
    logger?.warn({ err: err instanceof Error ? err.message : String(err), userId }, 'could not record write LSN');
  }
  await Promise.all([lsn === undefined ? undefined : db.router.markWrites([userId], lsn), announce(lsn)]);
  return lsn;
}

/** Content of a message, post or comment: not blank, no U+0000. Length limits are in the route schemas. */
/** In u-mode a surrogate pair is one code point, so this matches only unpaired halves. */
const LONE_SURROGATE = /\p{Cs}/u;

export function requireText(content: string, what: string): string {
  if (content.trim().length === 0) throw new AppError('VALIDATION_FAILED', `${what} must not be blank`);
  // PostgreSQL cannot store U+0000 in text. Caught here, not by the database: these writes
  // go through group commit, where one such member would fail its whole group's statement
  // and make every member of it run again alone.
  if (content.includes('\u0000')) throw new AppError('VALIDATION_FAILED', `${what} must not contain the character U+0000`);
  // A lone UTF-16 surrogate (valid in JSON's \\u escapes) has no UTF-8 form: the driver would
  // store U+FFFD while the first answer echoed the original, and a keyed retry's replay differed.
  if (LONE_SURROGATE.test(content)) throw new AppError('VALIDATION_FAILED', `${what} must be valid Unicode (it holds a lone surrogate)`);
  return content;
}

/** How deep free-form JSON (profile metadata) may nest: objects and arrays inside each other. */
export const MAX_JSON_DEPTH = 8;

/**
 * Refuses JSON nested deeper than `maxDepth`. The body parser accepts any depth (V8's
 * JSON.parse does not recurse) and the schema checks only the top level, so 30,000 nested
 * arrays (60 KB) reached JSON.stringify, which recursed past the stack (a 500), and deeper
 * still PostgreSQL's jsonb parser (54001, a 500). Iterative, so it cannot overflow itself.
 */
export function requireShallowJson(value: unknown, what: string, maxDepth = MAX_JSON_DEPTH): void {
  const stack: Array<{ v: unknown; depth: number }> = [{ v: value, depth: 0 }];
  while (stack.length > 0) {
    const { v, depth } = stack.pop() as { v: unknown; depth: number };
    if (v === null || typeof v !== 'object') continue;
    if (depth >= maxDepth) throw new AppError('VALIDATION_FAILED', `${what} must not nest deeper than ${maxDepth} levels`);
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push({ v: child, depth: depth + 1 });
  }
}

export function notSelf(userId: string, targetId: string, action: string): void {
  if (userId === targetId) throw new AppError('VALIDATION_FAILED', `You cannot ${action} yourself`);
}

/**
 * The writer's account was suspended while its request ran (the session check passed
 * before): the write statement found it inactive under its users row lock and wrote nothing.
 * 401, as the writer's next request gets from the revoked session.
 */
export function suspendedMeanwhile(): AppError {
  return new AppError('UNAUTHENTICATED', 'The account was suspended; nothing was written');
}
