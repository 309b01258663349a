import type { Database } from '../db/database.ts';
import { classifyDbError, DbUnavailableError, sqlState, waitedOnUniqueRowOf } from '../db/errors.ts';
import type { Logger } from '../logging/logger.ts';
import { withPartitionRetry } from '../partitions/on-demand.ts';
import type { PartitionedTable } from '../partitions/naming.ts';
import { AppError } from '../errors/app-error.ts';
import { retryTransient, type IdempotencyKey } from './idempotency.ts';
import { WriteBatcher, type Settled, type WriteBatcherOptions, type WriteBatcherStats } from './write-batcher.ts';

/**
 * Creating writes through app-level group commit (issue 16): concurrent writes of one kind
 * are grouped (src/services/write-batcher.ts) into ONE auto-committed statement that writes
 * all of them (`writeMany`: one row per member, in input order), and every caller gets its
 * own row after that commit. Used by direct-message sends and posts.
 *
 * When the group's statement fails:
 * - with an error PostgreSQL raised for the statement (a SQLSTATE that is not about the
 *   connection), the statement rolled back whole and nothing of the group exists, so each
 *   member runs again ALONE (with the partition and deadlock retries of a single write): a
 *   bad member (text PostgreSQL cannot store, a month without a partition, a deadlock, a
 *   foreign key) fails or recovers by itself and never fails the others;
 * - when the connection broke or the server refused work (connection, too many
 *   connections, read-only after a failover, no pool connection), the group may or may
 *   not have committed, or the cause is the same for every member: each member gets that
 *   error (503, as a single write would). A keyed client's retry then finds its record.
 *   A statement timeout is such a cause too, unless PostgreSQL says it came while a keyed
 *   member's insert waited on a twin request's key (keyWaitMayHaveTimedOut).
 *
 * After a group, ONE primary LSN fetch serves the read-your-writes mark of every writer in
 * it (a single write fetched it once per request). What each written member must announce
 * before it is answered (`afterCommit`: a send raises its pages' change positions) runs
 * alongside the marks, not after them: both are Redis round trips that need only the LSN,
 * and under mixed load on `large` each cost a send 4-7 ms of waiting (docs/PERFORMANCE.md,
 * "Where a send's time went"). The group keeps its in-flight slot until
 * the marks are recorded: freeing the slot at the commit instead made groups smaller (15
 * members → fewer), and sends at 50 connections fell from 2,055–2,539/s to 1,902–1,983/s
 * with more primary CPU per send (docs/PERFORMANCE.md). The time a group holds its slot
 * is what lets the next one grow.
 */

/** What every grouped write carries. */
export interface GroupedItem {
  /** The acting user (read-your-writes mark). */
  readonly writerId: string;
  /** ISO-8601: the row's partition month. */
  readonly createdAt: string;
  readonly key?: IdempotencyKey;
}

export interface Grouped<Row> {
  readonly row: Row;
  /** The primary's WAL position after the group's commit (X-BGC-LSN), when replicas exist. */
  readonly lsn: string | undefined;
}

export interface GroupCommitSpec<Item extends GroupedItem, Row> {
  /** Writes the group in one auto-committed statement; one row per item, in input order. */
  readonly writeMany: (items: readonly Item[]) => Promise<Row[]>;
  /** True when the member's row was written (refused and key-held members were not). */
  readonly wrote: (row: Row) => boolean;
  /** The partitioned table the rows land in (a missing month is created on a member's own run). */
  readonly table: PartitionedTable;
  /** The statement's catalog name, for the log line of a failed group. */
  readonly name: string;
  /**
   * Runs for each written member once the group's LSN is known (undefined if it could not
   * be fetched), together with the writers' marks; the member is answered after it, and
   * fails with its error if it throws (the row is committed: a keyed retry replays it).
   */
  readonly afterCommit?: (item: Item, row: Row, lsn: string | undefined) => Promise<void>;
}

export class GroupCommitWriter<Item extends GroupedItem, Row> {
  readonly #batcher: WriteBatcher<Item, Grouped<Row>>;

  constructor(
    private readonly db: Database,
    private readonly logger: Logger | undefined,
    private readonly spec: GroupCommitSpec<Item, Row>,
    /** config.sendGrouping (BGC_SEND_GROUP_MAX, BGC_SEND_GROUP_IN_FLIGHT). */
    options: WriteBatcherOptions,
  ) {
    this.#batcher = new WriteBatcher<Item, Grouped<Row>>((items) => this.#runGroup(items), options, exclusiveKeyOf);
  }

  /** Settles after the commit of the group that carried `item`, with its own row. */
  write(item: Item): Promise<Grouped<Row>> {
    return this.#batcher.submit(item);
  }

  get stats(): WriteBatcherStats {
    return this.#batcher.stats;
  }

  async #runGroup(items: readonly Item[]): Promise<Array<Settled<Grouped<Row>>>> {
    let outcomes: Array<Settled<Row>>;
    try {
      const rows = await this.spec.writeMany(items);
      if (rows.length !== items.length) throw new Error(`${this.spec.name} returned ${rows.length} rows for ${items.length} writes`);
      outcomes = rows.map((row) => ({ ok: true, value: row }));
    } catch (err) {
      const keyWait = keyWaitMayHaveTimedOut(err, items);
      if (!rolledBackByStatement(err) && !keyWait) throw err;
      // Alone, it is the keyed member's own wait: no second one.
      if (keyWait && items.length === 1) return [{ ok: false, error: keyInUse(err) }];
      if (items.length > 1) {
        this.logger?.warn({ err: err instanceof Error ? err.message : String(err), sqlState: sqlState(err), members: items.length },
          `grouped ${this.spec.name} failed; each member runs alone`);
      }
      // A group of one runs again too: its partition and deadlock retries apply. A few at a
      // time: all of a failed group's members at once were up to maxGroup × maxInFlight
      // statements (128 by default) against a pool of 30, and members with nothing wrong
      // waited past the acquire timeout.
      // After a key wait, the unkeyed members first: a keyed member waiting on its key again
      // holds its conversation's row meanwhile, and a member of that conversation beside it
      // would time out behind it (CI saw exactly that).
      // With one keyed member, it is the one that waited: 409 at once, not a second wait that
      // would hold its conversation's row again (and fail whatever queues behind it).
      const waiter = keyWait && items.filter((i) => i.key !== undefined).length === 1 ? items.findIndex((i) => i.key !== undefined) : -1;
      outcomes = keyWait
        ? await keyedLast(items, (part) => mapLimited(part, ALONE_CONCURRENCY, (item) => (item === items[waiter] ? Promise.resolve({ ok: false as const, error: keyInUse(err) }) : this.#alone(item))))
        : await mapLimited(items, ALONE_CONCURRENCY, (item) => this.#alone(item));
    }
    const written = outcomes.flatMap((o, i) => {
      const item = items[i];
      return o.ok && item !== undefined && this.spec.wrote(o.value) ? [{ i, item, row: o.value }] : [];
    });
    if (written.length === 0) return outcomes.map((o) => (o.ok ? { ok: true, value: { row: o.value, lsn: undefined } } : o));
    const lsn = await this.#writtenLsn(written.length);
    const failed = new Map<number, unknown>();
    const announce = this.spec.afterCommit;
    await Promise.all([
      lsn === undefined ? undefined : this.db.router.markWrites(written.map((w) => w.item.writerId), lsn),
      ...(announce ? written.map(async (w) => {
        try {
          await announce(w.item, w.row, lsn);
        } catch (error) {
          failed.set(w.i, error);
        }
      }) : []),
    ]);
    return outcomes.map((o, i) => (!o.ok ? o : failed.has(i) ? { ok: false, error: failed.get(i) } : { ok: true, value: { row: o.value, lsn } }));
  }

  /** One member in a statement of its own, after its group's statement rolled back. */
  async #alone(item: Item): Promise<Settled<Row>> {
    try {
      const rows = await withPartitionRetry(() => retryTransient(() => this.spec.writeMany([item])), this.db, this.spec.table, item.createdAt);
      const row = rows[0];
      return row !== undefined ? { ok: true, value: row } : { ok: false, error: new Error(`${this.spec.name} returned no row`) };
    } catch (error) {
      // Alone, a keyed member's wait on its key: a twin request still in flight (runIdempotent answers the same).
      if (item.key && classifyDbError(error) === 'statement_timeout' && waitedOnUniqueRowOf(error, 'idempotency_keys')) return { ok: false, error: keyInUse(error) };
      return { ok: false, error };
    }
  }

  async #writtenLsn(writers: number): Promise<string | undefined> {
    try {
      return await this.db.router.writtenLsn();
    } catch (err) {
      // The group committed: only the bookkeeping failed. Writers' next reads may hit a
      // lagging replica, so it is logged (as noteWrite does for a single write).
      this.logger?.warn({ err: err instanceof Error ? err.message : String(err), writers }, 'could not record write LSN');
      return undefined;
    }
  }
}

/** Two writes with one Idempotency-Key (same user) never share or overlap a group. */
function exclusiveKeyOf(item: GroupedItem): string | undefined {
  return item.key ? `${item.key.scope}\u0000${item.key.key}` : undefined;
}

/**
 * True when PostgreSQL refused the statement itself, so its implicit transaction rolled
 * back and nothing of it remains, and the cause may be one member's: any SQLSTATE except
 * the connection's and the server's refusals of all work (those are every member's).
 */
function rolledBackByStatement(err: unknown): boolean {
  if (err instanceof DbUnavailableError || sqlState(err) === undefined) return false;
  const cls = classifyDbError(err);
  // A statement timeout is the database's load (or a lock held elsewhere), not one member's
  // fault: running every member again would only add load. Every member gets the 503.
  return cls !== 'connection' && cls !== 'unavailable' && cls !== 'read_only' && cls !== 'statement_timeout';
}

/**
 * A statement timeout that PostgreSQL says came while waiting on a row of idempotency_keys:
 * one member's key insert waited for a twin request with the same key still in flight (on
 * another instance, or held behind a lock). The other members did nothing wrong, so they run
 * again alone while the keyed one gets 409 IDEMPOTENCY_KEY_IN_USE. Any other timeout is the
 * database's load, and every member gets the 503 (rolledBackByStatement): running them again
 * would only add load.
 */
function keyWaitMayHaveTimedOut(err: unknown, items: readonly GroupedItem[]): boolean {
  return !(err instanceof DbUnavailableError) && classifyDbError(err) === 'statement_timeout'
    && items.some((i) => i.key !== undefined) && waitedOnUniqueRowOf(err, 'idempotency_keys');
}

function keyInUse(cause: unknown): AppError {
  return new AppError('IDEMPOTENCY_KEY_IN_USE', 'A request with this Idempotency-Key is still in progress; retry', undefined, { cause });
}

/** `run` over the unkeyed items, then over the keyed ones; results in input order. */
async function keyedLast<T extends GroupedItem, R>(items: readonly T[], run: (part: readonly T[]) => Promise<R[]>): Promise<R[]> {
  const unkeyed = items.flatMap((item, i) => (item.key === undefined ? [i] : []));
  const keyed = items.flatMap((item, i) => (item.key !== undefined ? [i] : []));
  const out = new Array<R>(items.length);
  for (const part of [unkeyed, keyed]) {
    const results = await run(part.map((i) => items[i] as T));
    part.forEach((i, k) => { out[i] = results[k] as R; });
  }
  return out;
}

/** Members of a failed group re-run at most this many at a time. */
const ALONE_CONCURRENCY = 4;

/** `fn` over `items` with at most `limit` running at once; results in input order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
