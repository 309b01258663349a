import type { QueryContext } from '../db/database.ts';
import { isWellFormedToken, tokenHashHex } from '../auth/tokens.ts';
import type { CacheLayer } from './cache-layer.ts';
import { lookupPair, SplitDepthHints, type EdgeLike } from './relationship-sets.ts';
import type { RelationshipSetLoader } from './relationship-set-loader.ts';
import type { LoadOptions } from './typed-cache.ts';

/**
 * Cache-aside wrappers for the three hot readers the services expose
 * (ServiceDeps.wrapReaders). Structural types, so the cache layer depends only on the
 * shape of ProfileReader / SessionResolver, not on the services module.
 */
export interface ProfileReaderLike<V> {
  getProfileView(userId: string, ctx: QueryContext): Promise<V | null>;
}
export interface SessionResolverLike<S extends { readonly expiresAt: string }> {
  resolve(token: string): Promise<S | null>;
}
export interface RelationshipReaderLike {
  getRelationship(viewerId: string, otherUserId: string, ctx: QueryContext): Promise<EdgeLike[]>;
}

/**
 * Profile views by user id. Read-your-writes: a user reading their own profile while
 * their last write is still fresh (the shared LSN mark exists), or any request carrying
 * an X-BGC-LSN, goes around the cache to the router, which picks a caught-up node. All
 * other reads share one cached copy; a load right after an invalidation reads the primary.
 */
export function cachedProfileReader<V>(layer: CacheLayer, inner: ProfileReaderLike<V>): ProfileReaderLike<V> {
  const load = (id: string, opts: LoadOptions) => inner.getProfileView(id, {
    ...(opts.fresh ? { forcePrimary: true } : {}), ...(opts.onDegradedRead ? { onDegradedRead: opts.onDegradedRead } : {}),
  });
  return {
    async getProfileView(userId: string, ctx: QueryContext): Promise<V | null> {
      if (ctx.minLsn !== undefined || ctx.forcePrimary) return inner.getProfileView(userId, ctx);
      if (ctx.userId === userId && (await layer.lsnStore.get(userId)) !== undefined) return inner.getProfileView(userId, ctx);
      // The cache hands back what the loader produced (a JSON round trip of a V).
      return (await layer.profiles.get(userId, load)) as V | null;
    },
  };
}

/** Session lookups by the hex sha256 of the token (the token itself never becomes a key). */
export function cachedSessionResolver<S extends { readonly expiresAt: string }>(layer: CacheLayer, inner: SessionResolverLike<S>): SessionResolverLike<S> {
  return {
    async resolve(token: string): Promise<S | null> {
      // Malformed tokens never reach the cache or the database.
      if (!isWellFormedToken(token)) return null;
      return (await layer.sessions.get(tokenHashHex(token), () => inner.resolve(token))) as S | null;
    },
  };
}

/**
 * The rows between a viewer and another user, from the VIEWER's cached relationship set
 * (relationship-sets.ts): one or a few cache lookups, no database round trip on a hit.
 * Read-your-writes: the writing instance dropped the nodes involved before the write's
 * response (WriteHooks.onRelationshipChanged: its L1 and Redis); other instances drop
 * them when the bus delete (published before that response) or the NOTIFY arrives, a few
 * ms later. A request carrying X-BGC-LSN goes around the cache to the router, which is
 * exact on every instance. Loads right after an invalidation read the primary. A miss
 * below the root loads the node's 15 siblings with it (relationship-set-loader.ts).
 */
export function cachedRelationshipReader(layer: CacheLayer, inner: RelationshipReaderLike, loader: RelationshipSetLoader): RelationshipReaderLike {
  const { load } = loader;
  const hints = new SplitDepthHints();
  return {
    async getRelationship(viewerId: string, otherUserId: string, ctx: QueryContext): Promise<EdgeLike[]> {
      const viewer = viewerId.toLowerCase();
      const other = otherUserId.toLowerCase();
      if (ctx.minLsn !== undefined || ctx.forcePrimary || viewer === other) return inner.getRelationship(viewerId, otherUserId, ctx);
      const edges = await lookupPair((key) => layer.relationships.get(key, load), viewer, other, hints);
      // undefined: the viewer's set is too large to cache (more than 1M rows).
      return edges ?? inner.getRelationship(viewerId, otherUserId, ctx);
    },
  };
}
