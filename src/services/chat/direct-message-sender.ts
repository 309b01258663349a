import type { Database } from '../../db/database.ts';
import { classifyDbError, DbUnavailableError, sqlState } from '../../db/errors.ts';
import type { Logger } from '../../logging/logger.ts';
import { withPartitionRetry } from '../../partitions/on-demand.ts';
import type { MessageBatchRepository, MessageToSend, SentRow } from '../../repositories/message-batch.repository.ts';
import { KEY_TTL_HOURS, retryTransient } from '../idempotency.ts';
import { WriteBatcher, type Settled, type WriteBatcherOptions, type WriteBatcherStats } from '../write-batcher.ts';

/**
 * Direct-message sends through app-level group commit (issue 16). Concurrent sends are
 * grouped (src/services/write-batcher.ts) into ONE statement, chat.send_messages, which
 * commits them together; every caller gets its own row of that statement after the commit.
 *
 * When the group's statement fails:
 * - with an error PostgreSQL raised for the statement (a SQLSTATE that is not about the
 *   connection), the statement rolled back whole and nothing of the group exists, so each
 *   member runs again ALONE (with the partition and deadlock retries of a single send): a
 *   bad member (text PostgreSQL cannot store, a month without a partition, a deadlock)
 *   fails or recovers by itself and never fails the others;
 * - when the connection broke or the server refused work (connection, too many
 *   connections, read-only after a failover, no pool connection), the group may or may
 *   not have committed, or the cause is the same for every member: each member gets that
 *   error (503, as a single send would). A keyed client's retry then finds its record.
 *
 * After a group, ONE primary LSN fetch serves the read-your-writes mark of every sender in
 * it (a single send fetched it once per message).
 */

export interface GroupedSend {
  readonly row: SentRow;
  /** The primary's WAL position after the group's commit (X-BGC-LSN), when replicas exist. */
  readonly lsn: string | undefined;
}

export class DirectMessageSender {
  readonly #batcher: WriteBatcher<MessageToSend, GroupedSend>;

  constructor(
    private readonly db: Database,
    private readonly repo: MessageBatchRepository,
    private readonly logger: Logger | undefined,
    /** config.sendGrouping (BGC_SEND_GROUP_MAX, BGC_SEND_GROUP_IN_FLIGHT). */
    options: WriteBatcherOptions,
  ) {
    this.#batcher = new WriteBatcher((items) => this.#runGroup(items), options, exclusiveKeyOf);
  }

  /** Settles after the commit of the group that carried `send`, with its own row. */
  send(send: MessageToSend): Promise<GroupedSend> {
    return this.#batcher.submit(send);
  }

  get stats(): WriteBatcherStats {
    return this.#batcher.stats;
  }

  async #runGroup(items: readonly MessageToSend[]): Promise<Array<Settled<GroupedSend>>> {
    let outcomes: Array<Settled<SentRow>>;
    try {
      const rows = await this.repo.sendMany(items, KEY_TTL_HOURS);
      outcomes = rows.map((row) => ({ ok: true, value: row }));
    } catch (err) {
      if (!rolledBackByStatement(err)) throw err;
      if (items.length > 1) {
        this.logger?.warn({ err: err instanceof Error ? err.message : String(err), sqlState: sqlState(err), members: items.length },
          'grouped send failed; each member runs alone');
      }
      // A group of one runs again too: its partition and deadlock retries apply.
      outcomes = await Promise.all(items.map((item) => this.#alone(item)));
    }
    const senders = outcomes.flatMap((o, i) => (o.ok && o.value.inserted ? [items[i]?.senderId ?? ''] : []));
    const lsn = senders.length > 0 ? await this.#noteWrites(senders) : undefined;
    return outcomes.map((o) => (o.ok ? { ok: true, value: { row: o.value, lsn } } : o));
  }

  /** One member in a statement of its own, after its group's statement rolled back. */
  async #alone(item: MessageToSend): Promise<Settled<SentRow>> {
    try {
      const rows = await withPartitionRetry(() => retryTransient(() => this.repo.sendMany([item], KEY_TTL_HOURS)), this.db, 'messages', item.createdAt);
      const row = rows[0];
      return row ? { ok: true, value: row } : { ok: false, error: new Error('chat.send_messages returned no row') };
    } catch (error) {
      return { ok: false, error };
    }
  }

  async #noteWrites(userIds: readonly string[]): Promise<string | undefined> {
    try {
      return await this.db.router.noteWrites(userIds);
    } catch (err) {
      // The group committed: only the bookkeeping failed. Senders' next reads may hit a
      // lagging replica, so it is logged (as noteWrite does for a single write).
      this.logger?.warn({ err: err instanceof Error ? err.message : String(err), senders: userIds.length }, 'could not record write LSN');
      return undefined;
    }
  }
}

/** Two sends with one Idempotency-Key (same user) never share or overlap a group. */
function exclusiveKeyOf(send: MessageToSend): string | undefined {
  return send.key ? `${send.key.scope}\u0000${send.key.key}` : undefined;
}

/**
 * True when PostgreSQL refused the statement itself, so its implicit transaction rolled
 * back and nothing of it remains, and the cause may be one member's: any SQLSTATE except
 * the connection's and the server's refusals of all work (those are every member's).
 */
function rolledBackByStatement(err: unknown): boolean {
  if (err instanceof DbUnavailableError || sqlState(err) === undefined) return false;
  const cls = classifyDbError(err);
  return cls !== 'connection' && cls !== 'unavailable' && cls !== 'read_only';
}
