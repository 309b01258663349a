import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../../app/deps.ts';
import { decorateAuth } from './support/authenticate.ts';
import { authRoutes } from './auth.routes.ts';
import { profileRoutes } from './profiles.routes.ts';
import { searchRoutes } from './search.routes.ts';
import { chatRoutes } from './chat.routes.ts';
import { feedRoutes } from './feed.routes.ts';
import { socialRoutes } from './social.routes.ts';
import { activityRoutes } from './activity.routes.ts';
import { ratingRoutes } from './ratings.routes.ts';
import { groupRoutes } from './groups.routes.ts';
import { groupFeedRoutes } from './group-feed.routes.ts';
import { moderationRoutes } from './moderation.routes.ts';
import { photoRoutes } from './photos.routes.ts';
import { chatImageRoutes } from './chat-images.routes.ts';
import { realtimeRoutes } from './realtime.routes.ts';

/** Registers every /api route plugin (DESIGN §2). */
export async function apiRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  decorateAuth(app);
  await authRoutes(app, deps);
  await profileRoutes(app, deps);
  await searchRoutes(app, deps);
  await chatRoutes(app, deps);
  await feedRoutes(app, deps);
  await socialRoutes(app, deps);
  await activityRoutes(app, deps);
  await ratingRoutes(app, deps);
  await groupRoutes(app, deps);
  await groupFeedRoutes(app, deps);
  await moderationRoutes(app, deps);
  await photoRoutes(app, deps);
  await chatImageRoutes(app, deps);
  await realtimeRoutes(app, deps);
}
