import type { Database, QueryContext } from '../../db/database.ts';
import type { Logger } from '../../logging/logger.ts';
import { AppError } from '../../errors/app-error.ts';
import type {
  Bounds, CaseAction, CaseReport, CaseRow, ModerationRepository, ResolveAction, TargetKind,
} from '../../repositories/moderation.repository.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import type { WriteHooks } from '../hooks.ts';
import { newId, uuidV7Millis } from '../ids.ts';
import type { SessionInfo } from '../auth/session-resolver.ts';
import { noteWrite, pageSize, type Page, type Written } from '../support.ts';
import { DAY_MS } from '../time-window.ts';

export const REPORT_REASONS = ['spam', 'harassment', 'hate', 'sexual', 'violence', 'scam', 'other'] as const;
export type ReportReason = (typeof REPORT_REASONS)[number];

export interface ReportInput {
  readonly target_type: TargetKind;
  readonly target_id: string;
  readonly reason: ReportReason;
  readonly details?: string | null;
}

export interface ReportResult {
  readonly target_type: TargetKind;
  readonly target_id: string;
  readonly reason: ReportReason;
  /** false when you had already reported this target (the first report stands). */
  readonly created: boolean;
}

export interface ModerationCase {
  readonly id: string;
  readonly target: { readonly type: TargetKind; readonly id: string; readonly preview: string | null };
  readonly user: { readonly id: string; readonly username: string };
  readonly report_count: number;
  readonly first_reported_at: string;
  readonly last_reported_at: string;
  readonly status: CaseRow['status'];
  readonly resolved_by: string | null;
  readonly resolved_at: string | null;
}

export type CaseDetail = ModerationCase & { readonly reports: readonly CaseReport[]; readonly actions: readonly CaseAction[] };

export interface Resolution {
  readonly case_id: string;
  readonly action: ResolveAction;
  readonly status: CaseRow['status'];
  /** The target is hidden now (false when it already was, or for dismiss). */
  readonly hidden: boolean;
  /** The author was suspended by this action. */
  readonly suspended: boolean;
  /** How many live sessions of the author ended. */
  readonly sessions_revoked: number;
  readonly moderator_id: string;
  readonly acted_at: string;
}

interface ModerationDeps {
  readonly db: Database;
  readonly logger: Logger | undefined;
  readonly moderation: ModerationRepository;
  readonly hooks: WriteHooks;
}

const STATUS_OF: Record<ResolveAction, CaseRow['status']> = { dismiss: 'dismissed', hide: 'hidden', suspend: 'suspended' };
/** First page of the queue: every open case has fewer reports than this. */
const QUEUE_START = { count: 2_147_483_647, ts: '-infinity', id: '00000000-0000-0000-0000-000000000000' };

/**
 * Reports (any signed-in user, about what they can see, never about themselves) and
 * moderation (superusers only): the queue of open cases, a case with its reports and
 * actions, and resolving a case. Hidden content is filtered out of every read that
 * shows content (see migration 0014); a suspension deactivates the account, so it can
 * neither log in nor use a session, and revokes its sessions at once, in the database
 * and in the session cache (WriteHooks.sessionRevoked, after commit).
 */
export class ModerationService {
  constructor(private readonly d: ModerationDeps) {}

  async report(reporterId: string, input: ReportInput): Promise<Written<ReportResult>> {
    const details = input.details?.trim() ? input.details.trim() : null;
    const row = await this.d.moderation.report({
      kind: input.target_type, targetId: input.target_id, bounds: boundsOf(input.target_type, input.target_id),
      reporterId, caseId: newId(), reason: input.reason, details,
    });
    if (!row.target_exists || !row.visible) throw new AppError('NOT_FOUND', `No such ${input.target_type}`);
    if (!row.allowed) throw new AppError('VALIDATION_FAILED', 'You cannot report yourself');
    const lsn = row.created ? await noteWrite(this.d.db, this.d.logger, reporterId) : undefined;
    return { value: { target_type: input.target_type, target_id: input.target_id, reason: input.reason, created: row.created }, lsn };
  }

  async queue(viewer: SessionInfo, cursor: string | undefined, limit: number | undefined, ctx: QueryContext): Promise<Page<ModerationCase>> {
    requireModerator(viewer);
    const n = pageSize(limit);
    const c = decodeCursor('moderation_queue', cursor);
    const rows = await this.d.moderation.queue(c ? { count: c.n, ts: c.ts, id: c.id } : QUEUE_START, n + 1, ctx);
    const items = rows.slice(0, n).map(toCase);
    const last = items[items.length - 1];
    return {
      items,
      next_cursor: rows.length > n && last ? encodeCursor('moderation_queue', { n: last.report_count, ts: last.first_reported_at, id: last.id }) : null,
    };
  }

  async getCase(viewer: SessionInfo, caseId: string, ctx: QueryContext): Promise<CaseDetail> {
    requireModerator(viewer);
    const row = await this.d.moderation.getCase(caseId, ctx);
    if (!row) throw new AppError('NOT_FOUND', 'No such case');
    return { ...toCase(row), reports: row.reports, actions: row.actions };
  }

  async resolve(viewer: SessionInfo, caseId: string, action: ResolveAction, note: string | null | undefined): Promise<Written<Resolution>> {
    requireModerator(viewer);
    // The case's target decides what to hide; read it where it was written.
    const found = await this.d.moderation.getCase(caseId, { forcePrimary: true });
    if (!found) throw new AppError('NOT_FOUND', 'No such case');
    if (action === 'suspend' && found.target_user_id === viewer.userId) {
      throw new AppError('VALIDATION_FAILED', 'You cannot suspend yourself');
    }
    const status = STATUS_OF[action];
    const outcome = await this.d.moderation.resolve({
      caseId, moderatorId: viewer.userId, action, status, actionId: newId(), note: note?.trim() ? note.trim() : null,
      kind: found.target_kind, targetId: found.target_id, bounds: boundsOf(found.target_kind, found.target_id), targetUserId: found.target_user_id,
    });
    if (outcome.kind === 'missing') throw new AppError('NOT_FOUND', 'No such case');
    if (outcome.kind === 'not_moderator') throw new AppError('FORBIDDEN', 'Moderators only: this account is suspended or no longer a moderator');
    if (outcome.kind === 'closed') {
      // A case is resolved once; a new report from someone else reopens it (report()).
      throw new AppError('CONFLICT', `This case is already resolved (${outcome.status})`, { status: outcome.status });
    }
    const row = outcome.row;
    if (!row.case_exists || !row.acted_at) throw new AppError('NOT_FOUND', 'No such case');
    const lsn = await noteWrite(this.d.db, this.d.logger, viewer.userId);
    // After commit: sessions out of the session cache on every instance, and the profile
    // view (hidden or suspended) out of the profile cache. The database triggers of
    // migration 0004 send the same invalidations; this is the fast path.
    // Side by side: each revocation waits (bounded) for every instance to drop it.
    await Promise.all(row.revoked_token_hashes.map((hash) => this.d.hooks.sessionRevoked(hash, found.target_user_id)));
    if (row.suspended || (row.hid && found.target_kind === 'profile')) await this.d.hooks.profileChanged(found.target_user_id, lsn);
    // A hidden direct message leaves its history and maybe both inboxes: their cached first pages' positions rise.
    if (row.hidden_conversation_id) {
      await this.d.hooks.messageHidden({ conversationId: row.hidden_conversation_id, memberIds: row.hidden_member_ids ?? [] }, lsn);
    }
    // A suspended account's messages leave every history and inbox they were in: the cached
    // first pages of all their conversations rise too (bounded; until 2026-12-07 they stayed
    // on other instances for up to the chat TTL).
    if (row.suspended) await this.d.hooks.accountSuspended({ userId: found.target_user_id }, lsn);
    return {
      value: {
        case_id: caseId, action, status, hidden: row.hid, suspended: row.suspended,
        sessions_revoked: row.revoked_token_hashes.length, moderator_id: viewer.userId, acted_at: row.acted_at,
      },
      lsn,
    };
  }
}

function requireModerator(viewer: SessionInfo): void {
  if (!viewer.isSuperuser) throw new AppError('FORBIDDEN', 'Moderators only');
}

/**
 * Messages and posts live in monthly partitions; their UUIDv7 id carries the time, and
 * ±1 day around it finds the row in one or two partitions. An id that is not UUIDv7 or
 * lies in the future names no such row; profiles and comments need no bounds.
 */
function boundsOf(kind: TargetKind, id: string): Bounds {
  if (kind !== 'message' && kind !== 'post') return { lowerTs: '-infinity', upperTs: 'infinity' };
  const ms = uuidV7Millis(id);
  if (ms === undefined || ms > Date.now() + DAY_MS) throw new AppError('NOT_FOUND', `No such ${kind}`);
  return { lowerTs: new Date(ms - DAY_MS).toISOString(), upperTs: new Date(ms + DAY_MS).toISOString() };
}

function toCase(r: CaseRow): ModerationCase {
  return {
    id: r.id,
    target: { type: r.target_kind, id: r.target_id, preview: r.preview },
    user: { id: r.target_user_id, username: r.target_username },
    report_count: r.report_count, first_reported_at: r.first_reported_at, last_reported_at: r.last_reported_at,
    status: r.status, resolved_by: r.resolved_by, resolved_at: r.resolved_at,
  };
}
