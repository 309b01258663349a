import { z } from 'zod';
import { CACHE_NAMES, type CacheName } from '../metrics/cache.metrics.ts';

/**
 * The NOTIFY payload sent by migrations/0004_cache_invalidation.sql on channel
 * `bgc_cache_invalidate` (and 0008 for relationships):
 * {"v":1,"cache":"profile"|"session"|"relationship","keys":[...]} or
 * {"v":1,"cache":...,"flush":true}. Anything else is ignored (and counted), never thrown:
 * a malformed message must not take the listener down.
 */
export const INVALIDATION_CHANNEL = 'bgc_cache_invalidate';

const message = z.object({
  v: z.literal(1),
  cache: z.enum(CACHE_NAMES),
  keys: z.array(z.string().min(1).max(200)).max(1_000).optional(),
  flush: z.boolean().optional(),
});

export type InvalidationMessage =
  | { readonly cache: CacheName; readonly kind: 'keys'; readonly keys: readonly string[] }
  | { readonly cache: CacheName; readonly kind: 'flush' };

export function parseInvalidation(payload: string): InvalidationMessage | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(payload);
  } catch {
    return undefined;
  }
  const parsed = message.safeParse(raw);
  if (!parsed.success) return undefined;
  const m = parsed.data;
  if (m.flush) return { cache: m.cache, kind: 'flush' };
  if (m.keys && m.keys.length > 0) return { cache: m.cache, kind: 'keys', keys: m.keys };
  return undefined;
}
