import type pg from 'pg';
import type { Database } from '../db/database.ts';
import { partitionName } from '../partitions/naming.ts';
import { copyInto, TableCopy, type RowProducer } from './copy-into.ts';
import { COMMENT_COLUMNS, POST_COLUMNS, type FeedGenerator } from './gen-feed.ts';
import { CONVERSATION_COLUMNS, MEMBER_COLUMNS, MESSAGE_COLUMNS, type MessageGenerator } from './gen-messages.ts';
import {
  GROUP_COLUMNS, groupRows, MEMBERSHIP_COLUMNS, membershipRows, RATING_COLUMNS, ratingRows, RELATIONSHIP_COLUMNS,
  relationshipRows, ROOM_COLUMNS, roomRows,
} from './gen-social.ts';
import { PROFILE_COLUMNS, profileRows, USER_COLUMNS, userRows } from './gen-users.ts';
import { withIndexesRebuilt } from './rebuild-indexes.ts';
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

async function copy(ctx: LaneContext, client: pg.ClientBase, table: string, columns: readonly string[], produce: RowProducer, between?: () => Promise<void>): Promise<void> {
  const partition = PARTITION.test(table);
  const logical = table.replace(PARTITION, '');
  // Partitions load inside withIndexesRebuilt's transaction: their TRUNCATE + FREEZE joins it.
  const target = { table, columns, freeze: partition || FREEZABLE.has(table), inTransaction: partition };
  const n = await timed(ctx, logical, () => copyInto(client, target, produce, (k) => ctx.onRows(logical, k), between));
  ctx.loaded[logical] = (ctx.loaded[logical] ?? 0) + n;
}

async function analyze(ctx: LaneContext, client: pg.ClientBase, table: SeededTable): Promise<void> {
  await timed(ctx, 'analyze', () => client.query(SEED_SQL.analyze(table)));
}

/**
 * Lane 1: every month of messages, in one transaction with the secondary indexes rebuilt
 * at the end. `generated` resolves once the last message row is written, which is when
 * the conversations' final state (last message, unread counts) is known.
 */
export async function messageLane(ctx: LaneContext, generated: () => void): Promise<void> {
  await loader(ctx.db, async (client) => {
    await timed(ctx, 'messages incl. indexes', () => withIndexesRebuilt(client, 'messages', async () => {
      for (const [i, slice] of ctx.world.timeline.slices.entries()) {
        await copy(ctx, client, partitionName('messages', slice.month), MESSAGE_COLUMNS, (enc) => ctx.messages.sliceRows(i, enc));
      }
      generated();
    }, () => ctx.onRows('messages indexes', 0)));
    await analyze(ctx, client, 'messages');
  });
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
  await loader(ctx.db, async (client) => {
    const steps: [SeededTable, readonly string[], RowProducer][] = [
      ['users', USER_COLUMNS, (enc) => userRows(world, ctx.passwordHash, enc)],
      ['profiles', PROFILE_COLUMNS, (enc) => profileRows(world, enc)],
      ['chat_rooms', ROOM_COLUMNS, (enc) => roomRows(world, enc)],
      ['community_groups', GROUP_COLUMNS, (enc) => groupRows(world, enc)],
      ['group_memberships', MEMBERSHIP_COLUMNS, (enc) => membershipRows(world, enc)],
      ['relationships', RELATIONSHIP_COLUMNS, (enc) => relationshipRows(world, enc)],
      ['profile_ratings', RATING_COLUMNS, (enc) => ratingRows(world, enc)],
    ];
    for (const [table, columns, produce] of steps) {
      await copy(ctx, client, table, columns, produce);
      await analyze(ctx, client, table);
    }
    await loader(ctx.db, async (commentClient) => {
      await feedLoad(ctx, client, commentClient);
      await analyze(ctx, commentClient, 'post_comments');
    });
    await analyze(ctx, client, 'status_updates');
  });
}

/** Status updates month by month; each post's comments go into a concurrent COPY of post_comments. */
async function feedLoad(ctx: LaneContext, client: pg.ClientBase, commentClient: pg.ClientBase): Promise<void> {
  const comments = await TableCopy.begin(commentClient, { table: 'post_comments', columns: COMMENT_COLUMNS, freeze: true });
  let commentsDone: Promise<number> | undefined;
  try {
    await timed(ctx, 'status_updates incl. indexes', () => withIndexesRebuilt(client, 'status_updates', async () => {
      for (const [i, slice] of ctx.world.timeline.slices.entries()) {
        await copy(ctx, client, partitionName('status_updates', slice.month), POST_COLUMNS,
          (enc) => ctx.feed.sliceRows(i, enc, comments.enc), () => comments.flush());
      }
      // The comments' COPY completes on its own connection while the status_updates indexes build.
      commentsDone = comments.end();
      commentsDone.catch(() => undefined); // awaited below; no unhandled rejection meanwhile
    }, () => ctx.onRows('status_updates indexes', 0)));
    ctx.loaded.post_comments = await (commentsDone ?? comments.end());
  } catch (err) {
    await comments.fail(err);
    throw err;
  }
}
