import type { Database, QueryContext } from '../../db/database.ts';
import type { Logger } from '../../logging/logger.ts';
import { AppError } from '../../errors/app-error.ts';
import type { RelationshipListRow, SocialRepository, SocialWrite } from '../../repositories/social.repository.ts';
import { MIN_UUID } from '../../repositories/sql-fragments.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import type { WriteHooks } from '../hooks.ts';
import { runIdempotent, type IdempotencyKey } from '../idempotency.ts';
import { noteWriteAnd, notSelf, pageSize, type Page, type Written } from '../support.ts';

export interface SocialResult {
  readonly user_id: string;
  readonly kind: 'friend' | 'favorite' | 'block';
  /** friend: 'pending' | 'accepted'; favorite/block: 'active' after add, 'removed' after delete. */
  readonly status: 'pending' | 'accepted' | 'active' | 'removed';
  /** false when the call changed nothing (it was already so). */
  readonly changed: boolean;
}

export interface RelationshipItem {
  readonly user: { readonly id: string; readonly username: string; readonly display_name: string | null };
  readonly kind: 'friend' | 'favorite' | 'block';
  readonly status: 'pending' | 'accepted';
  readonly direction: 'incoming' | 'outgoing';
  readonly created_at: string;
}

interface SocialDeps {
  readonly db: Database;
  readonly logger: Logger | undefined;
  readonly social: SocialRepository;
  readonly hooks: WriteHooks;
}

const ACTIONS: Record<SocialWrite, { kind: SocialResult['kind']; verb: string; status?: SocialResult['status'] }> = {
  favoriteAdd: { kind: 'favorite', verb: 'favourite', status: 'active' },
  favoriteRemove: { kind: 'favorite', verb: 'unfavourite', status: 'removed' },
  friendRequest: { kind: 'friend', verb: 'befriend' },
  friendAccept: { kind: 'friend', verb: 'accept a friend request from' },
  block: { kind: 'block', verb: 'block', status: 'active' },
  unblock: { kind: 'block', verb: 'unblock', status: 'removed' },
};

/** Friends, favourites and blocks. Every write is one statement after its pair's lock (see social.repository.ts). */
export class SocialService {
  constructor(private readonly d: SocialDeps) {}

  favorite(userId: string, targetId: string) { return this.#write('favoriteAdd', userId, targetId); }
  unfavorite(userId: string, targetId: string) { return this.#write('favoriteRemove', userId, targetId); }
  friendRequest(userId: string, targetId: string, key?: IdempotencyKey) { return this.#write('friendRequest', userId, targetId, key); }
  acceptFriend(userId: string, requesterId: string) { return this.#write('friendAccept', userId, requesterId); }
  block(userId: string, targetId: string) { return this.#write('block', userId, targetId); }
  unblock(userId: string, targetId: string) { return this.#write('unblock', userId, targetId); }

  async #write(op: SocialWrite, userId: string, targetId: string, key?: IdempotencyKey): Promise<Written<SocialResult>> {
    const action = ACTIONS[op];
    notSelf(userId, targetId, action.verb);
    const { value, replayed } = await runIdempotent(this.d.db, key, async (q): Promise<SocialResult> => {
      const row = await this.d.social.write(op, userId, targetId, q);
      if (!row.target_exists) throw new AppError('NOT_FOUND', 'No such user');
      if (row.blocked) throw new AppError('BLOCKED', `You cannot ${action.verb} this user`);
      const status = action.status ?? row.status;
      if (!status) throw new AppError('NOT_FOUND', 'No pending friend request from this user');
      return { user_id: targetId, kind: action.kind, status, changed: row.changed };
    });
    let lsn: string | undefined;
    if (value.changed) {
      lsn = await noteWriteAnd(this.d.db, this.d.logger, userId, (at) => this.d.hooks.relationshipChanged(userId, targetId, at));
    }
    return { value, lsn, replayed };
  }

  async list(userId: string, cursor: string | undefined, limit: number | undefined, ctx: QueryContext): Promise<Page<RelationshipItem>> {
    const n = pageSize(limit);
    const c = decodeCursor('relationships', cursor);
    const after = c ? { direction: c.d, otherId: c.o, kind: c.k } : { direction: '', otherId: MIN_UUID, kind: '' };
    const rows = await this.d.social.list(userId, after, n + 1, ctx);
    const items = rows.slice(0, n).map(toItem);
    const last = rows[n - 1];
    return {
      items,
      next_cursor: rows.length > n && last ? encodeCursor('relationships', { d: last.direction, o: last.other_id, k: last.kind }) : null,
    };
  }
}

function toItem(r: RelationshipListRow): RelationshipItem {
  return {
    user: { id: r.other_id, username: r.username, display_name: r.display_name },
    kind: r.kind, status: r.status, direction: r.direction, created_at: r.created_at,
  };
}
