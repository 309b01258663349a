import type { Database, QueryContext } from '../../db/database.ts';
import type { Logger } from '../../logging/logger.ts';
import { AppError } from '../../errors/app-error.ts';
import type { ProfileRepository } from '../../repositories/profiles.repository.ts';
import type { WriteHooks } from '../hooks.ts';
import { noteWriteAnd, requireShallowJson, type Written } from '../support.ts';
import { ageFrom } from '../age.ts';
import { toProfileView, type ProfileReader, type ProfileView } from './profile-reader.ts';
import { relationshipStatus, type RelationshipReader, type RelationshipStatus } from './relationship-reader.ts';

/** What GET /api/profiles/:id returns: the shared view, the age, and the viewer's relationship. */
export type ProfileForViewer = Omit<ProfileView, 'lat' | 'lng'> & {
  readonly lat: number | null;
  readonly lng: number | null;
  readonly age: number | null;
  readonly relationship: Omit<RelationshipStatus, 'blocked_by'>;
};

/** The fields PUT /api/profiles/me accepts; absent keys stay, null clears (where allowed). */
export interface ProfilePatch {
  readonly display_name?: string | null;
  readonly bio?: string | null;
  readonly birthdate?: string | null;
  readonly gender?: string | null;
  readonly ethnicity?: string | null;
  readonly height_cm?: number | null;
  readonly body_type?: string | null;
  readonly relationship_status?: string | null;
  readonly city?: string | null;
  readonly state?: string | null;
  readonly lat?: number | null;
  readonly lng?: number | null;
  readonly roles?: readonly string[];
  readonly interests?: readonly string[];
  readonly metadata?: Record<string, unknown>;
  readonly privacy_level?: 'public' | 'friends' | 'private';
}

interface ProfileDeps {
  readonly db: Database;
  readonly logger: Logger | undefined;
  readonly profiles: ProfileRepository;
  readonly reader: ProfileReader;
  readonly relationships: RelationshipReader;
  readonly hooks: WriteHooks;
}

/** Tags (interests, roles) are stored trimmed, lower-case and unique, so containment search matches regardless of case. */
export function normaliseTags(tags: readonly string[]): string[] {
  return [...new Set(tags.map((t) => t.trim().toLowerCase()).filter((t) => t.length > 0))];
}

/** Fields search filters by equality: stored trimmed, blank as null, as search reads its input. */
const PLACE_KEYS = ['city', 'state', 'ethnicity'] as const;

export class ProfileService {
  constructor(private readonly d: ProfileDeps) {}

  /**
   * A profile as `viewerId` may see it. The shared view and the relationship rows are
   * read concurrently (one round trip of latency on a miss; none for the view on a cache
   * hit). Hidden as 404 when the owner blocked the viewer; 403 for a private profile or a
   * friends-only profile of a non-friend. Exact coordinates are shown to the owner only.
   */
  async get(viewerId: string, userId: string, ctx: QueryContext): Promise<ProfileForViewer> {
    const isSelf = viewerId === userId;
    const [view, edges] = await Promise.all([
      this.d.reader.getProfileView(userId, ctx),
      isSelf ? Promise.resolve([]) : this.d.relationships.getRelationship(viewerId, userId, ctx),
    ]);
    if (!view) throw new AppError('NOT_FOUND', 'No such profile');
    const { blocked_by, ...relationship } = relationshipStatus(edges, isSelf);
    if (blocked_by) throw new AppError('NOT_FOUND', 'No such profile');
    // A profile hidden by a moderator is gone for everyone but its owner.
    if (!isSelf && view.hidden) throw new AppError('NOT_FOUND', 'No such profile');
    if (!isSelf && view.privacy_level === 'private') throw new AppError('FORBIDDEN', 'This profile is private');
    if (!isSelf && view.privacy_level === 'friends' && relationship.friend_status !== 'friends') {
      throw new AppError('FORBIDDEN', 'This profile is visible to friends only');
    }
    return {
      ...view,
      lat: isSelf ? view.lat : null,
      lng: isSelf ? view.lng : null,
      age: ageFrom(view.birthdate),
      relationship,
    };
  }

  async updateMe(userId: string, patch: ProfilePatch): Promise<Written<ProfileForViewer>> {
    const p: Record<string, unknown> = { ...patch };
    if (('lat' in p) !== ('lng' in p) || (p.lat === null) !== (p.lng === null)) {
      throw new AppError('VALIDATION_FAILED', 'lat and lng must be given together');
    }
    if (typeof patch.birthdate === 'string') validateBirthdate(patch.birthdate);
    if (patch.metadata !== undefined) requireShallowJson(patch.metadata, 'metadata');
    // Search matches city, state and ethnicity by equality on the trimmed input
    // (search.service.ts); stored with spaces, " Austin " was never found by "Austin".
    for (const key of PLACE_KEYS) {
      const v = patch[key];
      if (typeof v === 'string') p[key] = v.trim() === '' ? null : v.trim();
    }
    if (patch.interests) p.interests = normaliseTags(patch.interests);
    if (patch.roles) p.roles = normaliseTags(patch.roles);
    const row = await this.d.profiles.update(userId, p);
    if (!row) throw new AppError('NOT_FOUND', 'No such profile');
    const lsn = await noteWriteAnd(this.d.db, this.d.logger, userId, (at) => this.d.hooks.profileChanged(userId, at));
    const view = toProfileView(row);
    return {
      value: {
        ...view, age: ageFrom(view.birthdate),
        relationship: { is_self: true, friend_status: 'none', is_favorite: false, is_blocked: false },
      },
      lsn,
    };
  }
}

function validateBirthdate(s: string): void {
  const t = Date.parse(`${s}T00:00:00Z`);
  const age = ageFrom(s);
  if (Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== s || age === null || age < 0 || age > 130) {
    throw new AppError('VALIDATION_FAILED', 'birthdate must be a real date in the past (YYYY-MM-DD)');
  }
}
