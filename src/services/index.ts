import type { Config } from '../config/index.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../logging/logger.ts';
import { UserRepository } from '../repositories/users.repository.ts';
import { SessionRepository } from '../repositories/sessions.repository.ts';
import { ProfileRepository } from '../repositories/profiles.repository.ts';
import { SearchRepository } from '../repositories/search.repository.ts';
import { SocialRepository } from '../repositories/social.repository.ts';
import { ConversationRepository } from '../repositories/conversations.repository.ts';
import { RoomRepository } from '../repositories/chat-rooms.repository.ts';
import { FeedRepository } from '../repositories/feed.repository.ts';
import { ActivityRepository } from '../repositories/activity.repository.ts';
import { RatingRepository } from '../repositories/ratings.repository.ts';
import { GroupRepository } from '../repositories/groups.repository.ts';
import { GroupFeedRepository } from '../repositories/group-feed.repository.ts';
import { ModerationRepository } from '../repositories/moderation.repository.ts';
import { PhotoRepository } from '../repositories/photos.repository.ts';
import { ChatImageRepository } from '../repositories/chat-images.repository.ts';
import { createStorage } from '../storage/create-storage.ts';
import type { PhotoStorage } from '../storage/photo-storage.ts';
import { WriteHooks } from './hooks.ts';
import { uncachedFirstPages, type FirstPages } from './first-pages.ts';
import { AuthService } from './auth/auth.service.ts';
import { DbSessionResolver, type SessionResolver } from './auth/session-resolver.ts';
import { ProfileService } from './profiles/profile.service.ts';
import { DbProfileReader, type ProfileReader } from './profiles/profile-reader.ts';
import { DbRelationshipReader, type RelationshipReader } from './profiles/relationship-reader.ts';
import { SearchService } from './search/search.service.ts';
import { ConversationService } from './chat/conversations.service.ts';
import { RoomService } from './chat/rooms.service.ts';
import { FeedService } from './feed/feed.service.ts';
import { SocialService } from './social/social.service.ts';
import { ActivityService } from './activity/activity.service.ts';
import { RatingService } from './ratings/ratings.service.ts';
import { GroupService } from './groups/groups.service.ts';
import { GroupFeedService } from './groups/group-feed.service.ts';
import { ModerationService } from './moderation/moderation.service.ts';
import { PhotoService } from './photos/photos.service.ts';
import { ChatImageService } from './chat/chat-images.service.ts';

export { WriteHooks } from './hooks.ts';
export type { SessionInfo, SessionResolver } from './auth/session-resolver.ts';
export type { ProfileReader, ProfileView } from './profiles/profile-reader.ts';
export type { RelationshipReader, RelationshipEdge } from './profiles/relationship-reader.ts';

/** The domain services the routes call. Services know nothing of HTTP. */
export interface Services {
  readonly auth: AuthService;
  readonly profiles: ProfileService;
  readonly search: SearchService;
  readonly conversations: ConversationService;
  readonly rooms: RoomService;
  readonly feed: FeedService;
  readonly social: SocialService;
  readonly activity: ActivityService;
  readonly ratings: RatingService;
  readonly groups: GroupService;
  readonly groupFeed: GroupFeedService;
  readonly moderation: ModerationService;
  readonly photos: PhotoService;
  readonly chatImages: ChatImageService;
  /** Subscribe here to hear about committed writes (cache invalidation). */
  readonly hooks: WriteHooks;
  /** The (possibly wrapped) hot readers, e.g. for cache warming. */
  readonly readers: { readonly session: SessionResolver; readonly profile: ProfileReader; readonly relationship: RelationshipReader };
}

/**
 * How the cache layer puts itself in front of the hot reads without touching routes:
 * each function receives the database-backed reader and returns the one to use.
 */
export interface ReaderWrappers {
  readonly session?: (inner: SessionResolver) => SessionResolver;
  readonly profile?: (inner: ProfileReader) => ProfileReader;
  readonly relationship?: (inner: RelationshipReader) => RelationshipReader;
}

export interface ServiceDeps {
  readonly config: Config;
  readonly db: Database;
  readonly logger?: Logger;
  readonly wrapReaders?: ReaderWrappers;
  /** Where photo bytes go; by default the store config.photoStorage names (the data directory, or S3). */
  readonly photoStorage?: PhotoStorage;
  /** First pages of the hot lists from the cache (src/cache/page-cache.ts); otherwise every page loads. */
  readonly firstPages?: FirstPages;
  /** Pass one in to subscribe before services exist; otherwise a fresh one is made. */
  readonly hooks?: WriteHooks;
}

export function createServices(deps: ServiceDeps): Services {
  const { config, db, logger } = deps;
  const hooks = deps.hooks ?? new WriteHooks();
  const sessions = new SessionRepository(db);
  const profiles = new ProfileRepository(db);
  const social = new SocialRepository(db);
  const wrap = deps.wrapReaders ?? {};
  const readers = {
    session: (wrap.session ?? ((r: SessionResolver) => r))(new DbSessionResolver(sessions)),
    profile: (wrap.profile ?? ((r: ProfileReader) => r))(new DbProfileReader(profiles)),
    relationship: (wrap.relationship ?? ((r: RelationshipReader) => r))(new DbRelationshipReader(social)),
  };
  const profileService = new ProfileService({ db, logger, profiles, reader: readers.profile, relationships: readers.relationship, hooks });
  const firstPages = deps.firstPages ?? uncachedFirstPages;
  const conversations = new ConversationService({ config, db, logger, conversations: new ConversationRepository(db), hooks, firstPages });
  const rooms = new RoomService({ config, db, logger, rooms: new RoomRepository(db), hooks });
  return {
    auth: new AuthService({ config, db, logger, users: new UserRepository(db), sessions, resolver: readers.session, hooks }),
    profiles: profileService,
    search: new SearchService(new SearchRepository(db)),
    conversations,
    rooms,
    // The shared global head only with the cache: its per-viewer block filter asks the
    // relationship reader once per author on the page, an L1 lookup when cached but a
    // statement each without (the baseline got 503s from its saturated pool that way).
    feed: new FeedService({ config, db, logger, feed: new FeedRepository(db), firstPages, relationships: deps.firstPages ? readers.relationship : undefined }),
    social: new SocialService({ db, logger, social, hooks }),
    activity: new ActivityService(new ActivityRepository(db)),
    ratings: new RatingService({ db, logger, ratings: new RatingRepository(db), profiles: profileService, hooks }),
    groups: new GroupService({ db, logger, groups: new GroupRepository(db) }),
    groupFeed: new GroupFeedService({ config, db, logger, feed: new GroupFeedRepository(db) }),
    moderation: new ModerationService({ db, logger, moderation: new ModerationRepository(db), hooks }),
    photos: new PhotoService({ db, logger, photos: new PhotoRepository(db), storage: deps.photoStorage ?? createStorage(config.photoStorage, 'photos'), profiles: profileService }),
    chatImages: new ChatImageService({
      db, logger, images: new ChatImageRepository(db), storage: createStorage(config.photoStorage, 'chat-images'), conversations, rooms,
    }),
    hooks,
    readers,
  };
}
