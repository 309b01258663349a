import { z } from 'zod';
import { AppError } from '../errors/app-error.ts';

/**
 * Opaque pagination cursors: base64url of a small JSON object tagged with its `kind`. They
 * are validated strictly on the way in (shape, kind, formats) so a damaged or foreign
 * cursor is a 400 INVALID_CURSOR, never a 500 from a bad SQL parameter. They are not
 * signed: every value in them only positions a keyset scan the caller is already
 * allowed to run, so an edited cursor can reveal nothing new.
 */
const MAX_CURSOR_CHARS = 600;
/** Largest time window a history/feed cursor may ask for (about ten years). */
export const MAX_WINDOW_DAYS = 3660;

/**
 * A real UTC instant: Date.parse rolls 2027-02-29 over to March 1st and 24:00 to the next
 * day, where PostgreSQL refuses them (22008), so the day and hour must survive the parse.
 */
const isRealInstant = (s: string): boolean => {
  const ms = Date.parse(s);
  return !Number.isNaN(ms) && new Date(ms).toISOString().slice(0, 13) === s.slice(0, 13);
};
const isoTs = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/).refine(isRealInstant);
const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
const windowDays = z.number().int().min(1).max(MAX_WINDOW_DAYS);

const schemas = {
  inbox: z.object({ ts: isoTs, id: uuid }).strict(),
  conversation_history: z.object({ c: uuid, ts: isoTs, id: uuid, w: windowDays }).strict(),
  room_history: z.object({ c: uuid, ts: isoTs, id: uuid, w: windowDays }).strict(),
  feed_global: z.object({ ts: isoTs, id: uuid, w: windowDays }).strict(),
  feed_following: z.object({ ts: isoTs, id: uuid, w: windowDays }).strict(),
  comments: z.object({ c: uuid, ts: isoTs, id: uuid }).strict(),
  search: z.object({ ts: isoTs, id: uuid }).strict(),
  search_near: z.object({ d: z.number().min(0).max(2e7), id: uuid }).strict(),
  rooms: z.object({ name: z.string().min(1).max(100), id: uuid }).strict(),
  relationships: z.object({ d: z.enum(['incoming', 'outgoing']), o: uuid, k: z.enum(['friend', 'favorite', 'block']) }).strict(),
  groups: z.object({ id: uuid }).strict(),
  group_members: z.object({ g: uuid, o: uuid }).strict(),
  group_requests: z.object({ g: uuid, o: uuid }).strict(),
  group_feed: z.object({ g: uuid, ts: isoTs, id: uuid, w: windowDays }).strict(),
  moderation_queue: z.object({ n: z.number().int().min(0).max(2_147_483_647), ts: isoTs, id: uuid }).strict(),
  photos: z.object({ o: uuid, ts: isoTs, id: uuid }).strict(),
} as const;

export type CursorKind = keyof typeof schemas;
export type CursorOf<K extends CursorKind> = z.infer<(typeof schemas)[K]>;

export function encodeCursor<K extends CursorKind>(kind: K, value: CursorOf<K>): string {
  return Buffer.from(JSON.stringify({ ...value, kind }), 'utf8').toString('base64url');
}

/** Decodes a cursor of the expected kind; undefined input means "first page". */
export function decodeCursor<K extends CursorKind>(kind: K, raw: string | undefined): CursorOf<K> | undefined {
  if (raw === undefined || raw === '') return undefined;
  const invalid = () => new AppError('INVALID_CURSOR');
  if (raw.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(raw)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (typeof parsed !== 'object' || parsed === null || (parsed as { kind?: unknown }).kind !== kind) throw invalid();
  const { kind: _kind, ...rest } = parsed as Record<string, unknown>;
  const result = schemas[kind].safeParse(rest);
  if (!result.success) throw invalid();
  return result.data as CursorOf<K>;
}
