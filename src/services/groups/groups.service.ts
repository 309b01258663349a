import type { Database, QueryContext } from '../../db/database.ts';
import type { Logger } from '../../logging/logger.ts';
import { AppError } from '../../errors/app-error.ts';
import type { GroupRepository, GroupRole, GroupRow } from '../../repositories/groups.repository.ts';
import { MIN_UUID } from '../../repositories/sql-fragments.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { runIdempotent, type IdempotencyKey } from '../idempotency.ts';
import { newId } from '../ids.ts';
import { noteWrite, pageSize, type Page, type Written } from '../support.ts';

export type GroupVisibility = 'public' | 'private';

export interface Group {
  readonly id: string;
  readonly name: string;
  readonly description: string | null;
  readonly visibility: GroupVisibility;
  readonly owner_id: string | null;
  readonly member_count: number;
  /** The viewer's standing: a role, 'pending' (asked to join a private group) or 'none'. */
  readonly membership: GroupRole | 'pending' | 'none';
  readonly created_at: string;
}

export interface Membership {
  readonly group_id: string;
  readonly user_id: string;
  readonly status: GroupRole | 'pending' | 'none';
  /** false when the call changed nothing (it already was so). */
  readonly changed: boolean;
}

export interface GroupMember {
  readonly user: { readonly id: string; readonly username: string; readonly display_name: string | null };
  readonly role: GroupRole;
  readonly joined_at: string;
}

export interface JoinRequest {
  readonly user: { readonly id: string; readonly username: string; readonly display_name: string | null };
  readonly created_at: string;
}

interface GroupDeps {
  readonly db: Database;
  readonly logger: Logger | undefined;
  readonly groups: GroupRepository;
}

/**
 * Groups: anyone signed in may list, search and create them (the creator owns the group);
 * a public group is joined at once, a private one on request, approved by its owner or a
 * moderator. The owner cannot leave (there would be nobody to approve requests). A
 * private group's member list is for its members; group feeds are in group-feed.service.
 */
export class GroupService {
  constructor(private readonly d: GroupDeps) {}

  async list(viewerId: string, q: { q?: string; mine?: boolean; cursor?: string; limit?: number }, ctx: QueryContext): Promise<Page<Group>> {
    const n = pageSize(q.limit);
    const c = decodeCursor('groups', q.cursor);
    const text = q.q?.trim() ? q.q.trim() : null;
    const rows = await this.d.groups.list(viewerId, { q: text, mine: q.mine ?? false, afterId: c?.id ?? null }, n + 1, ctx);
    const items = rows.slice(0, n).map(toGroup);
    const last = items[items.length - 1];
    return { items, next_cursor: rows.length > n && last ? encodeCursor('groups', { id: last.id }) : null };
  }

  async get(viewerId: string, groupId: string, ctx: QueryContext): Promise<Group> {
    const row = await this.d.groups.get(viewerId, groupId, ctx);
    if (!row) throw new AppError('NOT_FOUND', 'No such group');
    return toGroup(row);
  }

  /** With `key`, a retry answers the first group again and creates no second one (docs/RELIABILITY.md, "Idempotent writes"). */
  async create(ownerId: string, input: { name: string; description?: string | null; visibility?: GroupVisibility }, key?: IdempotencyKey): Promise<Written<Group>> {
    const name = input.name.trim();
    if (name.length === 0) throw new AppError('VALIDATION_FAILED', 'name must not be blank');
    const description = input.description?.trim() ? input.description.trim() : null;
    const { value, replayed } = await runIdempotent(this.d.db, key, async (q) =>
      toGroup(await this.d.groups.create(ownerId, { id: newId(), name, description, visibility: input.visibility ?? 'public' }, q)));
    const lsn = await noteWrite(this.d.db, this.d.logger, ownerId);
    return { value, lsn, replayed };
  }

  async join(userId: string, groupId: string): Promise<Written<Membership>> {
    const row = await this.d.groups.join(groupId, userId);
    if (!row.group_exists) throw new AppError('NOT_FOUND', 'No such group');
    if (row.blocked) throw new AppError('BLOCKED', "You cannot ask to join this group: a block stands between you and its owner");
    const status = row.role ?? (row.requested ? 'pending' : 'none');
    return this.#written(userId, { group_id: groupId, user_id: userId, status, changed: row.changed });
  }

  async leave(userId: string, groupId: string): Promise<Written<Membership>> {
    const row = await this.d.groups.leave(groupId, userId);
    if (!row.group_exists) throw new AppError('NOT_FOUND', 'No such group');
    if (row.is_owner) throw new AppError('CONFLICT', 'The owner cannot leave their group');
    return this.#written(userId, { group_id: groupId, user_id: userId, status: 'none', changed: row.changed });
  }

  async members(viewerId: string, groupId: string, cursor: string | undefined, limit: number | undefined, ctx: QueryContext): Promise<Page<GroupMember>> {
    const n = pageSize(limit);
    const c = decodeCursor('group_members', cursor);
    if (c && c.g !== groupId) throw new AppError('INVALID_CURSOR', 'This cursor belongs to another group');
    const rows = await this.d.groups.members(groupId, viewerId, c?.o ?? MIN_UUID, n + 1, ctx);
    const head = rows[0];
    if (!head?.group_exists) throw new AppError('NOT_FOUND', 'No such group');
    if (!head.can_see) throw new AppError('FORBIDDEN', "A private group's members are visible to its members only");
    const all = rows.flatMap((r) => (r.user_id && r.username !== null && r.role && r.joined_at
      ? [{ user: { id: r.user_id, username: r.username, display_name: r.display_name }, role: r.role, joined_at: r.joined_at }]
      : []));
    const items = all.slice(0, n);
    const last = items[items.length - 1];
    return { items, next_cursor: all.length > n && last ? encodeCursor('group_members', { g: groupId, o: last.user.id }) : null };
  }

  async requests(viewerId: string, groupId: string, cursor: string | undefined, limit: number | undefined, ctx: QueryContext): Promise<Page<JoinRequest>> {
    const n = pageSize(limit);
    const c = decodeCursor('group_requests', cursor);
    if (c && c.g !== groupId) throw new AppError('INVALID_CURSOR', 'This cursor belongs to another group');
    const rows = await this.d.groups.requests(groupId, viewerId, c?.o ?? MIN_UUID, n + 1, ctx);
    const head = rows[0];
    if (!head?.group_exists) throw new AppError('NOT_FOUND', 'No such group');
    if (!head.can_manage) throw new AppError('FORBIDDEN', "Only the group's owner and moderators see join requests");
    const all = rows.flatMap((r) => (r.user_id && r.username !== null && r.created_at
      ? [{ user: { id: r.user_id, username: r.username, display_name: r.display_name }, created_at: r.created_at }]
      : []));
    const items = all.slice(0, n);
    const last = items[items.length - 1];
    return { items, next_cursor: all.length > n && last ? encodeCursor('group_requests', { g: groupId, o: last.user.id }) : null };
  }

  /** An owner or moderator approves (the requester becomes a member) or rejects a join request. */
  async decide(managerId: string, groupId: string, userId: string, approve: boolean): Promise<Written<Membership>> {
    const row = await this.d.groups.decide(groupId, userId, managerId, approve);
    if (!row.group_exists) throw new AppError('NOT_FOUND', 'No such group');
    if (!row.allowed) throw new AppError('FORBIDDEN', "Only the group's owner and moderators decide join requests");
    if (approve && row.blocked && !row.is_member) throw new AppError('BLOCKED', "A block stands between this user and the group's owner");
    if (!row.changed && !row.is_member) throw new AppError('NOT_FOUND', 'No pending join request from this user');
    const status = row.is_member ? 'member' : 'none';
    // The requester's own next reads (the group feed) must see the membership too, even
    // on a lagging replica: their read-your-writes position moves with the manager's.
    if (row.changed && approve) await noteWrite(this.d.db, this.d.logger, userId);
    return this.#written(managerId, { group_id: groupId, user_id: userId, status, changed: row.changed });
  }

  async #written(actorId: string, m: Membership): Promise<Written<Membership>> {
    const lsn = m.changed ? await noteWrite(this.d.db, this.d.logger, actorId) : undefined;
    return { value: m, lsn };
  }
}

function toGroup(r: GroupRow): Group {
  return {
    id: r.id, name: r.name, description: r.description, visibility: r.visibility, owner_id: r.owner_id,
    member_count: r.member_count, membership: r.my_role ?? (r.requested ? 'pending' : 'none'), created_at: r.created_at,
  };
}
