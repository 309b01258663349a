import type { QueryContext } from '../../db/database.ts';
import type { ProfileRepository, ProfileRow } from '../../repositories/profiles.repository.ts';

/**
 * The viewer-independent profile read model: identical for every viewer, so one cached
 * copy serves all of them. Plain JSON (strings, numbers, arrays, objects) so the cache can
 * serialise it without loss. Age is not stored here: it is derived from birthdate per
 * request, so a cached view never goes stale on a birthday.
 */
export type ProfileView = Omit<ProfileRow, 'rating_average' | 'rating_count'> & {
  readonly rating: { readonly average: number | null; readonly count: number };
};

/**
 * The hot profile read. The cache layer wraps it (ServiceDeps.wrapReaders.profile) and
 * invalidates through WriteHooks.onProfileChanged; on a cache hit GET /api/profiles/:id
 * needs no database round trip for this part. `ctx` carries read-your-writes: a user
 * reading their own profile right after PUT /api/profiles/me never sees the old one.
 */
export interface ProfileReader {
  getProfileView(userId: string, ctx: QueryContext): Promise<ProfileView | null>;
}

/** Many views in one statement (cache warming); ids without a view are absent from the map. */
export interface BatchProfileReader {
  getProfileViews(userIds: readonly string[], ctx: QueryContext): Promise<ReadonlyMap<string, ProfileView>>;
}

export function toProfileView(row: ProfileRow): ProfileView {
  const { rating_average, rating_count, ...rest } = row;
  return { ...rest, rating: { average: rating_average, count: rating_count } };
}

export class DbProfileReader implements ProfileReader, BatchProfileReader {
  constructor(private readonly profiles: ProfileRepository) {}

  async getProfileView(userId: string, ctx: QueryContext): Promise<ProfileView | null> {
    const row = await this.profiles.get(userId, ctx);
    return row ? toProfileView(row) : null;
  }

  async getProfileViews(userIds: readonly string[], ctx: QueryContext): Promise<ReadonlyMap<string, ProfileView>> {
    const rows = await this.profiles.getMany(userIds, ctx);
    return new Map(rows.map((r) => [r.id, toProfileView(r)]));
  }
}
