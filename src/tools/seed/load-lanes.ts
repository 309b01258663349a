import type pg from 'pg';
import type { Database } from '../../db/database.ts';
import { partitionName, type PartitionedTable } from '../../partitions/naming.ts';
import { copyInto, TableCopy, type RowProducer } from './copy-into.ts';
import { COMMENT_COLUMNS, POST_COLUMNS, type FeedGenerator } from './gen-feed.ts';
import { CONVERSATION_COLUMNS, MEMBER_COLUMNS, MESSAGE_COLUMNS, type MessageGenerator } from './gen-messages.ts';
import {
  GROUP_COLUMNS, groupRows, MEMBERSHIP_COLUMNS, membershipRows, RATING_COLUMNS, ratingRows, RELATIONSHIP_COLUMNS,
  relationshipRows, ROOM_COLUMNS, roomRows,
} from './gen-social.ts';
import { PROFILE_COLUMNS, profileRows, USER_COLUMNS, userRows } from './gen-users.ts';
import { CASE_COLUMNS, caseRows, PHOTO_COLUMNS, photoRows, planReports, REPORT_COLUMNS, reportRows } from './gen-moderation-photos.ts';
import { completePartitionedIndexes, detachSecondaryIndexes, indexPartitions } from './partition-indexes.ts';
import { IndexRebuild, withIndexesRebuilt } from './rebuild-indexes.ts';
import { FREEZABLE, SEED_SQL, type SeededTable } from './seed.sql.ts';
import { SeedError } from './seed-error.ts';
import type { World } from './world.ts';

export interface LaneContext {
  readonly db: Database;
  readonly world: World;
  readonly messages: MessageGenerator;
  readonly feed: FeedGenerator;
  readonly passwordHash: string;
  readonly onRows: (table: string, n: number) => void;
  /** Rows the server reported per table, filled in as COPYs complete. */
  readonly loaded: Record<string, number>;
  /** Wall-clock seconds per step (steps on different lanes overlap). */
  readonly seconds: Record<string, number>;
}

const PARTITION = /_y\d{4}m\d{2}$/;
const round = (ms: number) => Math.round(ms / 100) / 10;

async function prepareSession(client: pg.ClientBase): Promise<void> {
  for (const sql of SEED_SQL.sessionSetup) {
    try {
      await client.query(sql);
    } catch (err) {
      if ((err as { code?: string }).code === '42501') { // insufficient_privilege
        throw new SeedError('SEED_NEEDS_SUPERUSER', 'seeding needs a superuser connection (it loads with foreign-key triggers disabled, like pg_restore --disable-triggers)', { cause: err });
      }
      throw err;
    }
  }
}

/** Runs `fn` on a primary connection prepared for loading, and resets the session after. */
export function loader<T>(db: Database, fn: (client: pg.ClientBase) => Promise<T>): Promise<T> {
  return db.withPrimaryClient(async (client) => {
    await prepareSession(client);
    try {
      return await fn(client);
    } finally {
      await client.query(SEED_SQL.sessionReset).catch(() => undefined);
    }
  });
}

async function timed<T>(ctx: LaneContext, label: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await fn();
  } finally {
    ctx.seconds[label] = round((ctx.seconds[label] ?? 0) * 1000 + Date.now() - t0);
  }
}

/**
 * One COPY. A monthly partition is loaded inside its month's transaction (loadMonths);
 * any other table in an IndexRebuild transaction of its own, so every table is loaded
 * with its secondary indexes dropped and rebuilt.
 */
async function copy(ctx: LaneContext, client: pg.ClientBase, table: string, columns: readonly string[], produce: RowProducer, between?: () => Promise<void>): Promise<void> {
  const partition = PARTITION.test(table);
  const logical = table.replace(PARTITION, '');
  const target = { table, columns, freeze: partition || FREEZABLE.has(table) };
  const load = () => copyInto(client, target, produce, (k) => ctx.onRows(logical, k), between);
  const n = await timed(ctx, logical, () => (partition ? load() : withIndexesRebuilt(client, table, load)));
  ctx.loaded[logical] = (ctx.loaded[logical] ?? 0) + n;
}

async function analyze(ctx: LaneContext, client: pg.ClientBase, table: SeededTable): Promise<void> {
  await timed(ctx, 'analyze', () => client.query(SEED_SQL.analyze(table)));
}

/** A promise with its resolve/reject in hand (a month's "rows generated" signal). */
function signal(): { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } {
  let resolve: () => void = () => undefined;
  let reject: (err: unknown) => void = () => undefined;
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
  promise.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
  return { promise, resolve, reject };
}

function* thenSignal(rows: Generator<number, void, void>, done: () => void): Generator<number, void, void> {
  yield* rows;
  done();
}

type MonthLoader = (client: pg.ClientBase, slice: number, partition: string, rowsGenerated: () => void) => Promise<void>;

/**
 * Every month of a partitioned table, `workers` connections taking months in turn, each
 * month in its own transaction: TRUNCATE + COPY FREEZE, then its indexes (see
 * partition-indexes.ts). A month's rows are generated only after the previous month's
 * (generators carry state across months), but its index build overlaps with the next
 * month's COPY on the other connection. Returns when the parent indexes are valid again.
 */
async function loadMonths(ctx: LaneContext, table: PartitionedTable, workers: number, loadMonth: MonthLoader, generatedAll: () => void = () => undefined): Promise<void> {
  const slices = ctx.world.timeline.slices;
  const generated = slices.map(() => signal());
  await loader(ctx.db, (client) => detachSecondaryIndexes(client, table));
  const worker = (first: number) => loader(ctx.db, async (client) => {
    for (let i = first; i < slices.length; i += workers) {
      const month = slices[i];
      if (!month) break;
      const partition = partitionName(table, month.month);
      try {
        if (i > 0) await generated[i - 1]?.promise;
        await client.query('BEGIN');
        await loadMonth(client, i, partition, () => generated[i]?.resolve());
        await timed(ctx, `${table} indexes`, () => indexPartitions(client, table, partition));
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        for (const g of generated.slice(i)) g.reject(err); // the other workers stop waiting
        throw err;
      }
    }
  });
  const done = Promise.all(generated.map((g) => g.promise)).then(generatedAll);
  // Awaited below, unless a worker failed first (settle throws): then its rejection had no
  // handler, an unhandled rejection that ends the process (a seed interrupted by an error).
  done.catch(() => undefined);
  await settle(Array.from({ length: Math.min(workers, slices.length) }, (_, w) => worker(w)));
  await done;
  await loader(ctx.db, (client) => completePartitionedIndexes(client, table));
}

/** Like Promise.all, but waits for every task to stop before rethrowing the first failure. */
export async function settle(tasks: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(tasks);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed && failed.status === 'rejected') throw failed.reason;
}

/**
 * Lane 1: messages on two connections. `generated` fires once the last message row is
 * written, which is when the conversations' final state (last message, unread) is known.
 */
export async function messageLane(ctx: LaneContext, generated: () => void): Promise<void> {
  await timed(ctx, 'messages incl. indexes', () => loadMonths(ctx, 'messages', 2, (client, i, partition, rowsGenerated) =>
    copy(ctx, client, partition, MESSAGE_COLUMNS, (enc) => thenSignal(ctx.messages.sliceRows(i, enc), rowsGenerated)), generated));
  await loader(ctx.db, (client) => analyze(ctx, client, 'messages'));
}

/** Lane 2: conversations and their members, while lane 1 still builds indexes. */
export async function conversationLane(ctx: LaneContext, messagesGenerated: Promise<void>): Promise<void> {
  await messagesGenerated;
  await loader(ctx.db, async (client) => {
    await copy(ctx, client, 'conversations', CONVERSATION_COLUMNS, (enc) => ctx.messages.conversationRows(enc));
    await analyze(ctx, client, 'conversations');
    await copy(ctx, client, 'conversation_members', MEMBER_COLUMNS, (enc) => ctx.messages.memberRows(enc));
    await analyze(ctx, client, 'conversation_members');
  });
}

/** Lane 3: users and the social graph, then the feed (comments on a fourth connection). */
export async function socialLane(ctx: LaneContext): Promise<void> {
  const { world } = ctx;
  const reports = planReports(world);
  await loader(ctx.db, async (client) => {
    const steps: [SeededTable, readonly string[], RowProducer][] = [
      ['users', USER_COLUMNS, (enc) => userRows(world, ctx.passwordHash, enc)],
      ['profiles', PROFILE_COLUMNS, (enc) => profileRows(world, enc)],
      ['chat_rooms', ROOM_COLUMNS, (enc) => roomRows(world, enc)],
      ['community_groups', GROUP_COLUMNS, (enc) => groupRows(world, enc)],
      ['group_memberships', MEMBERSHIP_COLUMNS, (enc) => membershipRows(world, enc)],
      ['relationships', RELATIONSHIP_COLUMNS, (enc) => relationshipRows(world, enc)],
      ['profile_ratings', RATING_COLUMNS, (enc) => ratingRows(world, enc)],
      ['photos', PHOTO_COLUMNS, (enc) => photoRows(world, enc)],
      ['moderation_cases', CASE_COLUMNS, (enc) => caseRows(world, reports, enc)],
      ['content_reports', REPORT_COLUMNS, (enc) => reportRows(world, reports, enc)],
    ];
    for (const [table, columns, produce] of steps) {
      await copy(ctx, client, table, columns, produce);
      await analyze(ctx, client, table);
    }
    await loader(ctx.db, async (commentClient) => {
      await feedLoad(ctx, commentClient);
      await analyze(ctx, commentClient, 'post_comments');
    });
    await analyze(ctx, client, 'status_updates');
  });
}

/**
 * Status updates month by month on two connections; each post's comments go into one
 * concurrent COPY of post_comments (CopySink keeps the two loaders' chunks in order).
 */
async function feedLoad(ctx: LaneContext, commentClient: pg.ClientBase): Promise<void> {
  const commentIndexes = await IndexRebuild.begin(commentClient, 'post_comments');
  const comments = await TableCopy.begin(commentClient, { table: 'post_comments', columns: COMMENT_COLUMNS, freeze: true });
  let commentsDone: Promise<number> | undefined;
  try {
    await timed(ctx, 'status_updates incl. indexes', () => loadMonths(ctx, 'status_updates', 2, (client, i, partition, rowsGenerated) =>
      copy(ctx, client, partition, POST_COLUMNS, (enc) => thenSignal(ctx.feed.sliceRows(i, enc, comments.enc), rowsGenerated), () => comments.flush()),
    () => {
      // The comments' COPY and index builds complete on their own connection meanwhile.
      commentsDone = comments.end().then(async (n) => { await commentIndexes.commit(); return n; });
      commentsDone.catch(() => undefined); // awaited below; no unhandled rejection meanwhile
    }));
    ctx.loaded.post_comments = await timed(ctx, 'post_comments (after posts)', () => commentsDone ?? Promise.reject(new Error('comments never finished')));
  } catch (err) {
    comments.fail(err);
    await commentIndexes.rollback();
    throw err;
  }
}
