import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/index.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../logging/logger.ts';
import type { Metrics } from '../metrics/registry.ts';
import { CacheLayer } from './cache-layer.ts';
import {
  cachedProfileReader, cachedRelationshipReader, cachedSessionResolver,
  type ProfileReaderLike, type RelationshipReaderLike, type SessionResolverLike,
} from './readers.ts';
import { pairInvalidationKeys } from './relationship-sets.ts';
import { RelationshipSetRepository } from './relationship-sets.repository.ts';
import { RelationshipSetLoader } from './relationship-set-loader.ts';
import { cacheStats } from './stats.ts';
import { PageCache } from './page-cache.ts';
import { pageVersionsFor } from './page-versions.ts';
import { PageScopeRepository } from './page-scopes.repository.ts';
import { SUSPENSION_FANOUT_DEFAULTS, SuspensionFanout } from './page-suspension.ts';
import { pageScope, type FirstPages } from '../services/first-pages.ts';
import { warmProfiles, warmRelationshipSets, type BatchProfileReaderLike } from './warm.ts';
import type { WarmReport } from './types.ts';
import { WarmRepository } from './warm.repository.ts';

/**
 * Everything the runtime needs from the cache, so that src/app/runtime.ts only calls
 * this (a handful of lines there): reader wrappers for createServices, after-commit hook
 * subscriptions, start-up warming, the admin route and the Redis readiness line.
 * With the cache disabled (BGC_CACHE_ENABLED=false, or the baseline mode) every part is
 * a pass-through and nothing connects to Redis.
 */
interface HooksLike {
  onProfileChanged(fn: (userId: string, lsn: string | undefined) => void | Promise<void>): void;
  onSessionRevoked(fn: (tokenHash: string, userId: string) => void | Promise<void>): void;
  onRelationshipChanged(fn: (userId: string, otherUserId: string, lsn: string | undefined) => void | Promise<void>): void;
  onDirectMessage(fn: (w: { readonly message: { readonly conversation_id: string; readonly sender_id: string }; readonly recipientId: string }, lsn: string | undefined) => void | Promise<void>): void;
  onConversationRead(fn: (w: { readonly conversationId: string; readonly userId: string }, lsn: string | undefined) => void | Promise<void>): void;
  onDirectMessageReplayed(fn: (w: { readonly conversationId: string; readonly senderId: string; readonly recipientId: string | null }, lsn: string | undefined) => void | Promise<void>): void;
  onMessageHidden(fn: (w: { readonly conversationId: string; readonly memberIds: readonly string[] }, lsn: string | undefined) => void | Promise<void>): void;
  onAccountSuspended(fn: (w: { readonly userId: string }, lsn: string | undefined) => void | Promise<void>): void;
}
interface ServicesLike {
  readonly hooks: HooksLike;
}

export interface CacheWiring {
  readonly layer: CacheLayer | undefined;
  readonly wrapReaders: {
    readonly profile?: <V>(inner: ProfileReaderLike<V>) => ProfileReaderLike<V>;
    readonly session?: <S extends { readonly expiresAt: string }>(inner: SessionResolverLike<S>) => SessionResolverLike<S>;
    readonly relationship?: (inner: RelationshipReaderLike) => RelationshipReaderLike;
  };
  /** First pages from the cache (page-cache.ts); absent: the services load every page. */
  readonly firstPages: FirstPages | undefined;
  /** Subscribes cache invalidation to the services' after-commit hooks. */
  attach(services: ServicesLike): void;
  /**
   * Start-up warming, bounded by config.cache.warmCount / warmSetsCount / warmTimeoutMs:
   * settles once the first warmBeforeReady profiles and the sets are warm, and starts the
   * rest of warmCount in the background (stopped by close()).
   */
  warm(): Promise<WarmReport | undefined>;
  /** Settles when the background part of the warm-up has ended (at once if there is none). */
  warmedAfterReady(): Promise<void>;
  readonly adminRoute: (app: FastifyInstance) => Promise<void>;
  redisStatus(): { ok: boolean; error?: string };
  close(): Promise<void>;
}

export async function startCache(config: Config, deps: { db: Database; metrics: Metrics; logger: Logger; name?: string }): Promise<CacheWiring> {
  if (!config.cache.enabled) {
    return {
      layer: undefined,
      wrapReaders: {},
      firstPages: undefined,
      attach: () => undefined,
      warm: async () => undefined,
      warmedAfterReady: async () => undefined,
      adminRoute: async (app) => { app.get('/admin/api/cache', async () => ({ enabled: false })); },
      redisStatus: () => ({ ok: true }),
      close: async () => undefined,
    };
  }
  const layer = new CacheLayer(config, { logger: deps.logger, metrics: deps.metrics, name: deps.name });
  await layer.start();
  deps.db.router.setLsnStore(layer.lsnStore);
  const log = deps.logger.child({ component: 'cache' });
  let stopWarming = false;
  let backgroundWarm: Promise<void> | undefined;
  // Warming loads through the DATABASE reader: going through the cached one would re-enter
  // the cache for the key whose load is in progress (and wait on its own lock).
  // DbProfileReader also loads views in batches (BatchProfileReaderLike), which warming uses.
  let dbProfileReader: (ProfileReaderLike<unknown> & Partial<BatchProfileReaderLike<unknown>>) | undefined;
  // One loader for the reader and the warm-up: both store siblings the same way.
  const setLoader = new RelationshipSetLoader(layer.relationships, new RelationshipSetRepository(deps.db));
  const { pageTtlMs, chatPageTtlMs, pageMaxBytes } = config.cache;
  // A scope's position outlives every entry loaded against it, and any replica's lag.
  const versions = pageTtlMs > 0 && chatPageTtlMs > 0
    ? pageVersionsFor(layer, Math.max(2 * chatPageTtlMs, 60_000))
    : undefined;
  const firstPages = pageTtlMs > 0
    ? new PageCache(layer, deps.db.router, { ttlMs: pageTtlMs, scopedTtlMs: versions ? chatPageTtlMs : pageTtlMs, maxBytesPerStore: pageMaxBytes, versions })
    : undefined;
  const raise = async (scopes: string[], lsn: string | undefined): Promise<void> => {
    if (!versions) return;
    // After the commit and before the answer (and before real-time delivery, whose listener
    // comes later): a reader who learns of the message finds the raised position. A raise
    // Redis did not take is sent again once it can (page-versions.ts); the write stands.
    try {
      await versions.raise(scopes, lsn);
    } catch (err) {
      log.warn({ err: err instanceof Error ? err.message : String(err), scopes: scopes.length }, 'chat page change not recorded');
    }
  };
  // Without change positions there are no long-lived chat pages to raise (chat TTL 0). Past
  // the chat TTL plus a replica's lag after the commit, no entry of a scope not yet raised can
  // hold the account's messages: the last loaded before the replicas replayed it has expired.
  const scopes = new PageScopeRepository(deps.db);
  const suspensions = versions
    ? new SuspensionFanout({ conversationsOf: (...a) => scopes.conversationsOf(...a), raise, log },
      { ...SUSPENSION_FANOUT_DEFAULTS, giveUpAfterMs: chatPageTtlMs + config.replicas.maxLagMs })
    : undefined;
  return {
    layer,
    wrapReaders: {
      profile: <V>(inner: ProfileReaderLike<V>) => {
        dbProfileReader = inner;
        return cachedProfileReader(layer, inner);
      },
      session: <S extends { readonly expiresAt: string }>(inner: SessionResolverLike<S>) => cachedSessionResolver(layer, inner),
      relationship: (inner: RelationshipReaderLike) => cachedRelationshipReader(layer, inner, setLoader),
    },
    firstPages,
    attach: (services) => {
      services.hooks.onProfileChanged((userId) => layer.invalidate('profile', [userId]));
      // Answered only once every live instance dropped the session (bounded; acked-invalidation.ts).
      services.hooks.onSessionRevoked(async (tokenHash) => { await layer.invalidateAcknowledged('session', [tokenHash]); });
      services.hooks.onRelationshipChanged((userId, otherUserId) => layer.invalidate('relationship', pairInvalidationKeys(userId, otherUserId)));
      // A message changes its conversation's history and both members' inboxes; a read, the reader's inbox.
      services.hooks.onDirectMessage(({ message, recipientId }, lsn) => raise([
        pageScope.conversation(message.conversation_id), pageScope.inbox(message.sender_id), pageScope.inbox(recipientId),
      ], lsn));
      services.hooks.onConversationRead(({ userId }, lsn) => raise([pageScope.inbox(userId)], lsn));
      // The first attempt's raise may never have run (its instance died after the commit):
      // the same three scopes as the message itself.
      services.hooks.onDirectMessageReplayed(({ conversationId, senderId, recipientId }, lsn) => raise([
        pageScope.conversation(conversationId), pageScope.inbox(senderId), ...(recipientId ? [pageScope.inbox(recipientId)] : []),
      ], lsn));
      // A moderator's hide takes the message out of the history, and maybe out of both inboxes
      // (their last message, the recipient's unread count).
      services.hooks.onMessageHidden(({ conversationId, memberIds }, lsn) => raise([
        pageScope.conversation(conversationId), ...memberIds.map((id) => pageScope.inbox(id)),
      ], lsn));
      // A suspension takes the account's messages out of every conversation they are in: the
      // histories and the other members' inboxes rise, in bounded batches (page-suspension.ts).
      services.hooks.onAccountSuspended(async ({ userId }, lsn) => { await suspensions?.accountSuspended(userId, lsn); });
    },
    warm: async () => {
      // BGC_CACHE_WARM_COUNT=0 turns all start-up warming off, the sets' too.
      if (config.cache.warmCount <= 0) return undefined;
      const started = Date.now();
      const repo = new WarmRepository(deps.db);
      let report: WarmReport | undefined;
      // The hottest profiles before ready; the rest after, unless there are no more candidates.
      const beforeReady = Math.min(config.cache.warmCount, config.cache.warmBeforeReady);
      try {
        if (dbProfileReader && beforeReady > 0) {
          report = await warmProfiles(layer, repo, dbProfileReader, { count: beforeReady, timeoutMs: config.cache.warmTimeoutMs });
          log.info(report, 'cache warm-up done');
        }
        // Then the most recently active users' relationship sets, in what is left of the same time budget.
        if (config.cache.warmSetsCount > 0) {
          const sets = await warmRelationshipSets(layer, repo, setLoader, {
            count: config.cache.warmSetsCount, timeoutMs: Math.max(0, started + config.cache.warmTimeoutMs - Date.now()),
          });
          log.info(sets, 'relationship set warm-up done');
        }
      } catch (err) {
        // A failed warm-up leaves a cold cache, not a dead instance.
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'cache warm-up failed');
      }
      const reader = dbProfileReader;
      const more = reader !== undefined && config.cache.warmCount > beforeReady && (report === undefined || report.candidates >= beforeReady);
      if (more && !stopWarming) {
        // Re-reads the candidates: the first ones are L1 hits now. Stops at close() or the timeout.
        backgroundWarm = warmProfiles(layer, repo, reader, { count: config.cache.warmCount, timeoutMs: config.cache.warmTimeoutMs, shouldStop: () => stopWarming })
          .then((r) => { log.info({ ...r, background: true }, 'cache warm-up after ready done'); })
          .catch((err: unknown) => { log.warn({ err: err instanceof Error ? err.message : String(err) }, 'cache warm-up after ready failed'); });
      }
      return report;
    },
    warmedAfterReady: () => backgroundWarm ?? Promise.resolve(),
    adminRoute: async (app) => {
      app.get<{ Querystring: { keys?: string } }>('/admin/api/cache', async (req) => cacheStats(layer, { keyCounts: req.query.keys === '1' || req.query.keys === 'true' }));
    },
    redisStatus: () => {
      if (!layer.health.ready) return { ok: false, error: layer.health.lastError ?? 'not connected (serving from PostgreSQL)' };
      // Connected, but not yet known to hold nothing older than our invalidations (master-guard.ts).
      if (layer.masterGuard.holding) return { ok: false, error: 'checking the Redis master before using the cache again (serving from PostgreSQL)' };
      return { ok: true };
    },
    close: async () => {
      stopWarming = true;
      await suspensions?.close();
      versions?.stop();
      await backgroundWarm;
      await layer.close();
    },
  };
}
