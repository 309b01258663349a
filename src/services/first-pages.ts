import type { QueryContext } from '../db/database.ts';

/**
 * The first pages of the hot lists (issue 15): a user's inbox, a conversation's history as
 * one member reads it, the global feed's head and a user's following feed. They are read
 * far more often than they change for any one reader, so the cache layer may answer them
 * (src/cache/page-cache.ts, given as ServiceDeps.firstPages); the services only say which
 * read is a first page and how to load it. `load` is called with the context the read
 * must honour: the cache passes one that asks for a position (minLsn) or the primary.
 */
export type FirstPageKind = 'inbox' | 'history' | 'feed_global' | 'feed_following'; // FIRST_PAGE_KINDS in src/metrics/cache.metrics.ts

/**
 * What a chat page depends on, for the cache's invalidation: a user's inbox changes with a
 * message to or from them and with their reads; a conversation's history with its messages.
 * The after-commit hooks raise the scope's change position (src/cache/page-versions.ts),
 * so a cached page can live longer than a replica's lag without hiding a new message.
 */
export const pageScope = {
  inbox: (userId: string): string => `i:${userId}`,
  conversation: (conversationId: string): string => `c:${conversationId}`,
} as const;

export interface FirstPages {
  /** `scope` (pageScope): the page is invalidated by that scope's changes and may be kept longer. */
  page<T>(kind: FirstPageKind, key: string, ctx: QueryContext, load: (ctx: QueryContext) => Promise<T>, scope?: string): Promise<T>;
}

/** No cache (BGC_CACHE_ENABLED=false, the baseline, tests of the services alone): every read loads. */
export const uncachedFirstPages: FirstPages = {
  page: (_kind, _key, ctx, load) => load(ctx),
};
