import type { QueryContext } from '../db/database.ts';
import { MIN_UUID } from '../repositories/sql-fragments.ts';
import { pageScope } from '../services/first-pages.ts';
import type { ConversationsAfter, MemberConversationRow } from './page-scopes.repository.ts';

/**
 * A suspension takes the account's messages out of every history and inbox the SQL answers
 * (chat.conversation_history, chat.inbox), but the cached first pages of those scopes were
 * loaded against positions raised before it: without a raise, other instances served them
 * for up to BGC_CACHE_CHAT_PAGE_TTL_MS. After the suspension commits this raises, at its LSN,
 * each of the account's conversations' history scope and each other member's inbox scope
 * (the conversation's last message and unread count), plus the account's own inbox.
 *
 * An account can have thousands of conversations: they are read a keyset page at a time
 * (cache.member_conversations, most recent activity first, so the pages most likely cached
 * go first) and each page is raised as one batch. The moderator's answer waits at most
 * `answerWithinMs`; the rest carries on in the background until `giveUpAfterMs` after the
 * commit (the chat TTL plus a replica's lag), past which every entry that could hold the
 * account's messages has expired by itself: entries of a scope not yet raised that miss the
 * suspension were loaded before the replicas replayed it. Nothing here throws: the suspension
 * stands, and what was not raised is bounded by that TTL (logged).
 */
export interface SuspensionFanoutDeps {
  /** One keyset page of the account's conversations with a message (PageScopeRepository). */
  conversationsOf(userId: string, after: ConversationsAfter, limit: number, ctx: QueryContext): Promise<MemberConversationRow[]>;
  /** Raises the scopes' change positions (wiring.ts: a Redis failure is logged and retried there, not thrown). */
  raise(scopes: string[], lsn: string | undefined): Promise<void>;
  readonly log: {
    info(obj: Record<string, unknown>, msg: string): void;
    warn(obj: Record<string, unknown>, msg: string): void;
  };
}

export interface SuspensionFanoutOptions {
  /** Conversations per statement and per raise (two scopes each). */
  readonly pageSize: number;
  /** How long the moderator's request waits for the raises. */
  readonly answerWithinMs: number;
  /** When the background part stops: after it, no entry that misses the suspension is left to raise (wiring.ts). */
  readonly giveUpAfterMs: number;
}

export interface SuspensionFanoutReport {
  readonly userId: string;
  /** Conversations whose scopes were raised (Redis may still hold some back: page-versions.ts retries them). */
  readonly conversations: number;
  /** complete: every conversation; the others left the rest to the TTL. */
  readonly end: 'complete' | 'gave_up' | 'closed' | 'failed';
  readonly ms: number;
}

export const SUSPENSION_FANOUT_DEFAULTS = { pageSize: 500, answerWithinMs: 1_000 } as const;

export class SuspensionFanout {
  readonly #running = new Set<Promise<SuspensionFanoutReport>>();
  #closed = false;

  constructor(private readonly deps: SuspensionFanoutDeps, private readonly opts: SuspensionFanoutOptions) {}

  /**
   * Raises the scopes holding `userId`'s messages at `lsn` (undefined: position unknown, the
   * scopes are then read from the database until their keys expire). Settles with the
   * report once done, or with undefined after `answerWithinMs` while the rest goes on. Never rejects.
   */
  async accountSuspended(userId: string, lsn: string | undefined): Promise<SuspensionFanoutReport | undefined> {
    if (this.#closed) return undefined;
    const run = this.#run(userId, lsn);
    this.#running.add(run);
    const forget = (): void => { this.#running.delete(run); };
    void run.then(forget, forget);
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), this.opts.answerWithinMs); });
    try {
      return await Promise.race([run, waited]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops the background parts after their current step and waits for them (the cache's close). */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#running);
  }

  async #run(userId: string, lsn: string | undefined): Promise<SuspensionFanoutReport> {
    const started = Date.now();
    // The conversations as of the commit: a replica that replayed it, or the primary.
    const ctx: QueryContext = lsn === undefined ? { forcePrimary: true } : { minLsn: lsn };
    let after: ConversationsAfter = { ts: 'infinity', id: MIN_UUID };
    let conversations = 0;
    let end: SuspensionFanoutReport['end'] = 'complete';
    try {
      // Their own inbox shows what they sent as before; one key keeps it out of the question.
      await this.deps.raise([pageScope.inbox(userId)], lsn);
      for (;;) {
        if (this.#closed) { end = 'closed'; break; }
        if (Date.now() - started >= this.opts.giveUpAfterMs) { end = 'gave_up'; break; }
        // A conversation that a new message moves ahead of the cursor meanwhile is skipped:
        // that send raised its scopes itself, at a position after the suspension.
        const rows = await this.deps.conversationsOf(userId, after, this.opts.pageSize, ctx);
        if (rows.length > 0) await this.deps.raise(rows.flatMap((r) => [pageScope.conversation(r.id), pageScope.inbox(r.other_id)]), lsn);
        conversations += rows.length;
        const last = rows[rows.length - 1];
        if (last === undefined || rows.length < this.opts.pageSize) break;
        after = { ts: last.last_message_at, id: last.id };
      }
    } catch (err) {
      end = 'failed';
      this.deps.log.warn({ err: err instanceof Error ? err.message : String(err), userId, conversations }, 'suspended account\'s chat pages: fan-out failed');
    }
    const report: SuspensionFanoutReport = { userId, conversations, end, ms: Date.now() - started };
    // The rest of the conversations keep their cached pages for up to the chat TTL.
    if (end === 'complete') this.deps.log.info({ ...report }, 'suspended account\'s chat pages raised');
    else this.deps.log.warn({ ...report }, 'suspended account\'s chat pages raised in part; the rest expire with the chat TTL');
    return report;
  }
}
