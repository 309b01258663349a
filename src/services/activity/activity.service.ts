import type { QueryContext } from '../../db/database.ts';
import { AppError } from '../../errors/app-error.ts';
import type { ActivityRepository, MostActiveRow, TopPostRow } from '../../repositories/activity.repository.ts';
import type { Page } from '../support.ts';
import { DAY_MS } from '../time-window.ts';

export const DEFAULT_ACTIVITY_DAYS = 7;
export const MAX_ACTIVITY_DAYS = 90;
const DEFAULT_ACTIVITY_LIMIT = 10;

/** User-activity reports over the last `days` days (window functions in activity.*). Not paginated: next_cursor is always null. */
export class ActivityService {
  constructor(private readonly activity: ActivityRepository) {}

  /** The period's most active users as `viewerId` may see them: none blocking or blocked by them, no suspended account. */
  async mostActive(viewerId: string, days: number | undefined, limit: number | undefined, ctx: QueryContext): Promise<Page<MostActiveRow>> {
    const p = period(days);
    return { items: await this.activity.mostActive(viewerId, p.since, p.until, limit ?? DEFAULT_ACTIVITY_LIMIT, ctx), next_cursor: null };
  }

  /** The period's most commented posts as `viewerId` may see them: none of users blocking or blocked by them. */
  async topPosts(viewerId: string, days: number | undefined, limit: number | undefined, ctx: QueryContext): Promise<Page<TopPostRow>> {
    const p = period(days);
    return { items: await this.activity.topPosts(viewerId, p.since, p.until, limit ?? DEFAULT_ACTIVITY_LIMIT, ctx), next_cursor: null };
  }
}

function period(days: number | undefined): { since: string; until: string } {
  const d = days ?? DEFAULT_ACTIVITY_DAYS;
  if (!Number.isInteger(d) || d < 1 || d > MAX_ACTIVITY_DAYS) throw new AppError('VALIDATION_FAILED', `days must be an integer from 1 to ${MAX_ACTIVITY_DAYS}`);
  const now = Date.now();
  return { since: new Date(now - d * DAY_MS).toISOString(), until: new Date(now).toISOString() };
}
