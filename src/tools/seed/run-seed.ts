import { hashPasswordWithSalt } from '../../auth/password.ts';
import type { Database } from '../../db/database.ts';
import { ensureMonthPartitions } from '../../partitions/create.ts';
import { PARTITIONED_TABLES } from '../../partitions/naming.ts';
import { completePartitionedIndexes } from './partition-indexes.ts';
import { FeedGenerator } from './gen-feed.ts';
import { MessageGenerator } from './gen-messages.ts';
import { conversationLane, loader, messageLane, settle, socialLane, type LaneContext } from './load-lanes.ts';
import { PRESETS, type PresetName } from './presets.ts';
import { Prng } from './prng.ts';
import { SEED_SQL } from './seed.sql.ts';
import { SeedError } from './seed-error.ts';
import { buildTextPools } from './text.ts';
import { buildTimeline, defaultAnchor, partitionMonths } from './timeline.ts';
import { buildWorld, type World } from './world.ts';

/** Every seeded user signs in with this password (demo data only). */
export const DEMO_PASSWORD = 'demo-password-123';

export interface SeedOptions {
  readonly preset: PresetName;
  readonly seed: number;
  readonly force: boolean;
  /** End of the generated history (Unix ms). Default: the start of the current UTC hour. */
  readonly anchorMs?: number;
  /** Months of partitions to create after the anchor's month. */
  readonly monthsAhead: number;
}

export interface SeedProgress {
  start(totalRows: number): void;
  rows(table: string, n: number): void;
  phase(message: string): void;
  stop(): void;
}

export interface SeedResult {
  readonly preset: PresetName;
  readonly seed: number;
  readonly anchor: string;
  readonly historyStart: string;
  readonly partitionsCreated: number;
  readonly rows: Record<string, number>;
  /** Wall-clock seconds spent loading each table (lanes run concurrently, so these overlap). */
  readonly tableSeconds: Record<string, number>;
  readonly seconds: number;
}

function expectedRows(world: World): Record<string, number> {
  const p = world.preset;
  return {
    users: p.users, profiles: p.users, chat_rooms: p.chatRooms, community_groups: p.groups, group_memberships: p.groupMemberships,
    relationships: p.relationships, profile_ratings: p.ratings, messages: p.messages, conversations: p.conversations,
    conversation_members: 2 * p.conversations, status_updates: p.statusUpdates, post_comments: p.comments,
    photos: p.photos, moderation_cases: Math.min(p.reportCases, p.users), content_reports: p.reports,
  };
}

/**
 * Loads a preset (DESIGN §4) with binary COPY over four primary connections at once
 * (see load-lanes.ts): messages; conversations once the messages are written; users, the
 * social graph and status updates; and the comments written alongside the status updates.
 * Each table is ANALYZEd as soon as it is loaded. Deterministic for (seed, anchor).
 */
export async function runSeed(db: Database, opts: SeedOptions, progress: SeedProgress): Promise<SeedResult> {
  // Held on a connection of its own for the whole run (seed.sql.ts, tryLock).
  return db.withPrimaryClient(async (lock) => {
    if (!((await lock.query<{ locked: boolean }>(SEED_SQL.tryLock)).rows[0]?.locked ?? false)) {
      throw new SeedError('SEED_RUNNING', 'another seed is loading this database now; wait for it to finish', { exitCode: 3 });
    }
    try {
      return await seedLocked(db, opts, progress);
    } finally {
      await lock.query(SEED_SQL.unlock).catch(() => undefined);
    }
  });
}

async function seedLocked(db: Database, opts: SeedOptions, progress: SeedProgress): Promise<SeedResult> {
  const started = Date.now();
  const preset = PRESETS[opts.preset];
  const anchorMs = opts.anchorMs ?? defaultAnchor(Date.now());
  const timeline = buildTimeline(anchorMs, preset.months);

  let runId = '';
  const partitionsCreated = await loader(db, async (client) => {
    const nonEmpty = (await client.query<{ non_empty: boolean }>(SEED_SQL.anyRows)).rows[0]?.non_empty ?? false;
    if (nonEmpty && !opts.force) {
      const unfinished = (await client.query<{ unfinished: boolean }>(SEED_SQL.lastRunUnfinished)).rows[0]?.unfinished ?? false;
      throw new SeedError('SEED_NOT_EMPTY', unfinished
        ? 'the database holds an earlier seed that did not finish (interrupted); rerun with --force to empty it and seed again'
        : 'the database already has data; rerun with --force to empty it and seed again', { exitCode: 3 });
    }
    runId = (await client.query<{ id: string }>(SEED_SQL.runStarted, [opts.preset, opts.seed])).rows[0]?.id ?? '';
    if (nonEmpty) { progress.phase('emptying the seeded tables (--force)'); await client.query(SEED_SQL.truncateAll); }
    progress.phase('creating monthly partitions');
    const months = partitionMonths(timeline, opts.monthsAhead);
    const created = (await ensureMonthPartitions(client, 'messages', months)) + (await ensureMonthPartitions(client, 'status_updates', months));
    // A seed that died while loading months leaves invalid parent indexes: finish them first.
    for (const table of PARTITIONED_TABLES) await completePartitionedIndexes(client, table);
    return created;
  });

  const prepareSeconds = Math.round((Date.now() - started) / 100) / 10;
  progress.phase('planning');
  const world = buildWorld(opts.seed, preset, timeline);
  const pools = buildTextPools(new Prng(opts.seed, 'text.pools'));
  const salt = Buffer.alloc(16);
  const saltRng = new Prng(opts.seed, 'password.salt');
  for (let i = 0; i < 16; i += 4) salt.writeUInt32BE(saltRng.uint32(), i);
  // Hashed once: 16 MiB and ~50 ms of scrypt per user would dominate the whole seed.
  const passwordHash = await hashPasswordWithSalt(DEMO_PASSWORD, salt);
  const messages = new MessageGenerator(world, pools);
  const feed = new FeedGenerator(world, pools);

  const expected = expectedRows(world);
  const ctx: LaneContext = {
    db, world, messages, feed, passwordHash, loaded: {}, seconds: {},
    onRows: (table, n) => progress.rows(table, n),
  };
  progress.start(Object.values(expected).reduce((a, b) => a + b, 0));
  let generated: () => void = () => undefined;
  let notGenerated: (err: unknown) => void = () => undefined;
  const messagesGenerated = new Promise<void>((resolve, reject) => { generated = resolve; notGenerated = reject; });
  const lane1 = messageLane(ctx, generated);
  lane1.catch((err: unknown) => notGenerated(err)); // lane 2 must not wait for messages that never come
  try {
    await settle([lane1, conversationLane(ctx, messagesGenerated), socialLane(ctx)]);
  } finally {
    progress.stop();
  }
  for (const [table, n] of Object.entries(expected)) {
    if (ctx.loaded[table] !== n) throw new SeedError('SEED_COUNT_MISMATCH', `${table}: loaded ${ctx.loaded[table] ?? 0} rows, expected ${n}`);
  }
  await db.withPrimaryClient(async (client) => {
    await client.query(SEED_SQL.conversationBlocks);
    await client.query(SEED_SQL.runFinished, [runId]);
  });

  return {
    preset: opts.preset,
    seed: opts.seed,
    anchor: new Date(anchorMs).toISOString(),
    historyStart: new Date(timeline.startMs).toISOString(),
    partitionsCreated,
    rows: ctx.loaded,
    tableSeconds: { prepare: prepareSeconds, ...ctx.seconds },
    seconds: Math.round((Date.now() - started) / 100) / 10,
  };
}
