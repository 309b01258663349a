import type { Database, QueryContext } from '../../db/database.ts';
import type { Logger } from '../../logging/logger.ts';
import { AppError } from '../../errors/app-error.ts';
import type { RatingRepository, RatingWriteRow } from '../../repositories/ratings.repository.ts';
import type { WriteHooks } from '../hooks.ts';
import type { ProfileService } from '../profiles/profile.service.ts';
import { noteWriteAnd, notSelf, type Written } from '../support.ts';

/** The product's scale; the table allows 1..10 (older data), the API only 1..5. */
export const MIN_SCORE = 1;
export const MAX_SCORE = 5;

export interface RatingResult {
  readonly user_id: string;
  /** Your score for this profile, null when you have not rated it (or just withdrew it). */
  readonly score: number | null;
  /** The profile's rating after this call, as GET /api/profiles/:id shows it. */
  readonly rating: { readonly average: number | null; readonly count: number };
}

interface RatingDeps {
  readonly db: Database;
  readonly logger: Logger | undefined;
  readonly ratings: RatingRepository;
  readonly profiles: ProfileService;
  readonly hooks: WriteHooks;
}

/**
 * Rating profiles 1..5: one rating per rater and profile, changeable, never your own,
 * never across a block, and only of a profile you may see (its privacy level). The
 * visibility check reads the (cached) profile view; the block check is repeated inside
 * the write statement, so a block made meanwhile still wins.
 */
export class RatingService {
  constructor(private readonly d: RatingDeps) {}

  async rate(raterId: string, ratedId: string, score: number, ctx: QueryContext): Promise<Written<RatingResult>> {
    notSelf(raterId, ratedId, 'rate');
    if (!Number.isInteger(score) || score < MIN_SCORE || score > MAX_SCORE) {
      throw new AppError('VALIDATION_FAILED', `score must be an integer from ${MIN_SCORE} to ${MAX_SCORE}`);
    }
    await this.#requireVisible(raterId, ratedId, ctx);
    const row = await this.d.ratings.upsert(raterId, ratedId, score);
    check(row);
    const lsn = await this.#committed(raterId, ratedId);
    return { value: toResult(ratedId, row.score, row), lsn };
  }

  /** Only for a profile you may see, as rating it: the answer carries its average and count. */
  async withdraw(raterId: string, ratedId: string, ctx: QueryContext): Promise<Written<RatingResult>> {
    notSelf(raterId, ratedId, 'rate');
    await this.#requireVisible(raterId, ratedId, ctx);
    const row = await this.d.ratings.remove(raterId, ratedId);
    check(row);
    const lsn = row.changed ? await this.#committed(raterId, ratedId) : undefined;
    return { value: toResult(ratedId, null, row), lsn };
  }

  /** Your score and the profile's current rating (the profile view, cached). */
  async mine(raterId: string, ratedId: string, ctx: QueryContext): Promise<RatingResult> {
    const [profile, score] = await Promise.all([
      this.d.profiles.get(raterId, ratedId, ctx),
      raterId === ratedId ? Promise.resolve(null) : this.d.ratings.mine(raterId, ratedId, ctx),
    ]);
    return { user_id: ratedId, score, rating: profile.rating };
  }

  /** 404 when the profile does not exist or its owner blocked you; 403 when it is private or friends-only. */
  async #requireVisible(viewerId: string, userId: string, ctx: QueryContext): Promise<void> {
    await this.d.profiles.get(viewerId, userId, ctx);
  }

  /** After commit: the rater's LSN for read-your-writes, then the rated profile's cached view goes. */
  async #committed(raterId: string, ratedId: string): Promise<string | undefined> {
    return noteWriteAnd(this.d.db, this.d.logger, raterId, (at) => this.d.hooks.profileChanged(ratedId, at));
  }
}

function check(row: RatingWriteRow): void {
  if (!row.target_exists) throw new AppError('NOT_FOUND', 'No such profile');
  if (row.blocked) throw new AppError('BLOCKED', 'You cannot rate this user');
}

function toResult(ratedId: string, score: number | null, row: RatingWriteRow): RatingResult {
  return { user_id: ratedId, score, rating: { average: row.rating_average, count: row.rating_count } };
}
