import type { PresenceStore } from '../cache/presence-store.ts';
import type { QueryContext } from '../db/database.ts';
import { AppError } from '../errors/app-error.ts';
import type { ProfileService } from '../services/profiles/profile.service.ts';

export interface PresenceView {
  readonly user_id: string;
  readonly online: boolean;
  /** ISO-8601; the last time the user had a socket open (30-day memory), null if unknown. */
  readonly last_seen_at: string | null;
}

/**
 * GET /api/profiles/:id/presence. Presence is part of the profile, so it is visible exactly
 * where the profile is: the profile service's rules decide (404 when the owner blocked the
 * viewer, 403 for a private profile or a friends-only one of a non-friend), and a viewer
 * who blocked the owner gets 404 too: blocked users get nothing about each other.
 */
export class PresenceReader {
  constructor(private readonly profiles: ProfileService, private readonly store: PresenceStore) {}

  async read(viewerId: string, userId: string, ctx: QueryContext): Promise<PresenceView> {
    if (viewerId !== userId) {
      const profile = await this.profiles.get(viewerId, userId, ctx);
      if (profile.relationship.is_blocked) throw new AppError('NOT_FOUND', 'No such profile');
    }
    const reading = await this.store.read(userId);
    if (!reading) throw new AppError('PRESENCE_UNAVAILABLE');
    return {
      user_id: userId,
      online: reading.online,
      last_seen_at: reading.lastSeenMs === null ? null : new Date(reading.lastSeenMs).toISOString(),
    };
  }
}
