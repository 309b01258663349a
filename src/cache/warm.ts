import type { LoadOptions } from './typed-cache.ts';
import type { QueryContext } from '../db/database.ts';
import type { CacheLayer } from './cache-layer.ts';
import type { ProfileReaderLike } from './readers.ts';
import type { RelationshipSetLoader } from './relationship-set-loader.ts';
import type { WarmRepository } from './warm.repository.ts';
import type { WarmReport } from './types.ts';

/**
 * Cache warming (FR-012): read N profile views through the cache, so they end up in this
 * instance's L1 and in Redis. Which N (WarmRepository.profileWarmCandidates): mostly the
 * users most others follow (inbound favorites and accepted friendships), whose profiles
 * readers ask for most, with a fifth of the most recently active users interleaved (they
 * read their own profile right after logging in). On bgc_bench_large 5,000 such profiles
 * cover 0.742 of a Zipf(1.0) read mass over the readable profiles, against 0.670 for the
 * 5,000 most recently active (ideal 0.777).
 *
 *  - Batches of `batchSize` ids go through the cache all at once; their Redis GETs, lease
 *    SETs and value SETs are issued in the same ticks, and ioredis auto-pipelining sends
 *    each group in one round trip. `parallelBatches` batches are in flight at once, so
 *    the waits of one (Redis, PostgreSQL) overlap the work of the others.
 *  - The misses of a batch are loaded with ONE statement (`profile.get_many`, ids as an
 *    array) when the reader can (BatchProfileReaderLike): bentocache still calls one
 *    loader per key, and ViewBatcher gathers those calls into a query per few ms. Without
 *    it, misses load one by one, at most `dbConcurrency` (16) at a time.
 *  - Bounded by count and by `timeoutMs`: whatever is not done by then is left cold.
 *  - Keys another instance already cached come from Redis, not PostgreSQL.
 *  - Warm reads do not count in the hit/miss metrics (they are not traffic).
 */
export interface BatchProfileReaderLike<V> {
  getProfileViews(userIds: readonly string[], ctx: QueryContext): Promise<ReadonlyMap<string, V>>;
}

export interface WarmOptions {
  readonly count: number;
  readonly timeoutMs: number;
  readonly batchSize?: number;
  /** Batches in flight at once (default 4): one batch's round trips overlap the others'. */
  readonly parallelBatches?: number;
  /** Without batch loading: single-view loads in flight at once (default 16). */
  readonly dbConcurrency?: number;
  readonly onProgress?: (p: WarmProgress) => void;
  /** Checked before each batch: true stops the warm-up there (the server is closing). */
  readonly shouldStop?: () => boolean;
}

export interface WarmProgress { readonly done: number; readonly total: number; readonly elapsedMs: number }

/** A counting semaphore: at most `n` holders at a time. */
function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: Array<() => void> = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((resolve) => queue.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}

const SYNC_WAIT_MS = 5_000;

interface Waiter<V> { resolve(v: V | null): void; reject(err: unknown): void; onDegradedRead?: () => void }

/**
 * Turns the per-key loader calls of one warm batch into one `getProfileViews` call per
 * window (or per `maxBatch` ids), separately for fresh (primary) and ordinary loads.
 */
export class ViewBatcher<V> {
  readonly #pending = new Map<boolean, Map<string, Array<Waiter<V>>>>();
  readonly #timers = new Map<boolean, NodeJS.Timeout>();
  statements = 0;

  constructor(private readonly reader: BatchProfileReaderLike<V>, private readonly maxBatch: number, private readonly windowMs = 3) {}

  /** `onDegradedRead`: told if the batch's read came from a replica that may be behind the max lag (typed-cache.ts). */
  load(id: string, fresh: boolean, onDegradedRead?: () => void): Promise<V | null> {
    let ids = this.#pending.get(fresh);
    if (!ids) {
      ids = new Map();
      this.#pending.set(fresh, ids);
      this.#timers.set(fresh, setTimeout(() => { void this.#flush(fresh); }, this.windowMs));
    }
    const waiters = ids.get(id) ?? [];
    ids.set(id, waiters);
    const out = new Promise<V | null>((resolve, reject) => waiters.push({ resolve, reject, ...(onDegradedRead ? { onDegradedRead } : {}) }));
    if (ids.size >= this.maxBatch) void this.#flush(fresh);
    return out;
  }

  async #flush(fresh: boolean): Promise<void> {
    const ids = this.#pending.get(fresh);
    clearTimeout(this.#timers.get(fresh));
    this.#pending.delete(fresh);
    this.#timers.delete(fresh);
    if (!ids || ids.size === 0) return;
    this.statements++;
    try {
      const onDegradedRead = () => { for (const waiters of ids.values()) for (const w of waiters) w.onDegradedRead?.(); };
      const views = await this.reader.getProfileViews([...ids.keys()], { ...(fresh ? { forcePrimary: true } : {}), onDegradedRead });
      for (const [id, waiters] of ids) for (const w of waiters) w.resolve(views.get(id) ?? null);
    } catch (err) {
      for (const waiters of ids.values()) for (const w of waiters) w.reject(err);
    }
  }
}

export async function warmProfiles<V>(
  layer: CacheLayer,
  repo: WarmRepository,
  reader: ProfileReaderLike<V> & Partial<BatchProfileReaderLike<V>>,
  opts: WarmOptions,
): Promise<WarmReport> {
  const started = Date.now();
  const deadline = started + opts.timeoutMs;
  const batchSize = opts.batchSize ?? 250;
  const dbLimit = limiter(opts.dbConcurrency ?? 16);
  const batcher = reader.getProfileViews ? new ViewBatcher<V>({ getProfileViews: reader.getProfileViews.bind(reader) }, batchSize) : undefined;
  let fromDatabase = 0;
  let singleStatements = 0;
  // The degraded-read signal goes through both paths: a warm-up on replicas behind the max lag
  // (its thousands of reads can spend the primary's budget) must not keep their rows for the TTL.
  const load = (id: string, o: LoadOptions): Promise<V | null> => {
    fromDatabase++;
    if (batcher) return batcher.load(id, o.fresh, o.onDegradedRead);
    return dbLimit(() => {
      singleStatements++;
      return reader.getProfileView(id, { ...(o.fresh ? { forcePrimary: true } : {}), ...(o.onDegradedRead ? { onDegradedRead: o.onDegradedRead } : {}) });
    });
  };

  // A start-up flush of Redis still running would delete what we write (CacheLayer.whenSynced).
  // Bounded: a listener that cannot connect must not keep the warm-up from running at all.
  await layer.whenSynced(Math.max(0, Math.min(SYNC_WAIT_MS, deadline - Date.now())));
  const ids = await repo.profileWarmCandidates(opts.count);
  let warmed = 0;
  let missing = 0;
  let failed = 0;
  let done = 0;
  let batches = 0;
  let timedOut = false;
  const batchLimit = limiter(opts.parallelBatches ?? 4);
  const chunks: string[][] = [];
  for (let i = 0; i < ids.length; i += batchSize) chunks.push(ids.slice(i, i + batchSize));
  await Promise.all(chunks.map((chunk) => batchLimit(async () => {
    if (Date.now() >= deadline) { timedOut = true; return; }
    if (opts.shouldStop?.()) return;
    batches++;
    await Promise.all(chunk.map(async (id) => {
      try {
        const v = await layer.profiles.getUncounted(id, load);
        if (v === null) missing++; else warmed++;
      } catch {
        failed++;
      }
      done++;
    }));
    opts.onProgress?.({ done, total: ids.length, elapsedMs: Date.now() - started });
  })));
  const durationMs = Date.now() - started;
  layer.metrics?.warmupDuration.set(durationMs / 1000);
  const report: WarmReport = {
    requested: opts.count, candidates: ids.length, warmed, fromDatabase, missing, failed, timedOut, batches,
    dbStatements: (batcher?.statements ?? 0) + singleStatements, durationMs,
  };
  layer.lastWarm = report;
  return report;
}

export interface SetWarmReport {
  readonly requested: number;
  readonly owners: number;
  /** Nodes read through the cache (uncounted), each from L1, Redis or a load. */
  readonly nodes: number;
  /** Statements that loaded 16 sibling nodes at once, and the siblings they stored. */
  readonly siblingLoads: number;
  readonly siblingsStored: number;
  readonly failed: number;
  readonly timedOut: boolean;
  readonly durationMs: number;
}

/**
 * Warms the relationship sets (relationship-sets.ts) of the `count` most recently active
 * users, every node of each: a busy viewer's set is split into up to hundreds of leaves,
 * each a cold miss on its first read, and the busiest viewers are the ones read first.
 * Viewers, not the most linked-to users: a set is read when its owner views others.
 * Each split node's children come from one sibling load. Owners `parallelOwners` (4) at a
 * time; stops at `timeoutMs`, leaving the rest cold. Not counted as hits or misses.
 */
export async function warmRelationshipSets(
  layer: CacheLayer,
  repo: WarmRepository,
  loader: RelationshipSetLoader,
  opts: { readonly count: number; readonly timeoutMs: number; readonly parallelOwners?: number },
): Promise<SetWarmReport> {
  const started = Date.now();
  const deadline = started + opts.timeoutMs;
  const loadsBefore = loader.siblingLoads;
  const storedBefore = loader.siblingsStored;
  await layer.whenSynced(Math.max(0, Math.min(SYNC_WAIT_MS, deadline - Date.now())));
  const ids = opts.count > 0 && Date.now() < deadline ? await repo.recentlyActiveUserIds(opts.count) : [];
  const stop = () => Date.now() >= deadline;
  const ownerLimit = limiter(opts.parallelOwners ?? 4);
  let owners = 0;
  let nodes = 0;
  let failed = 0;
  await Promise.all(ids.map((id) => ownerLimit(async () => {
    if (stop()) return;
    try {
      const read = await loader.warmOwner(id.toLowerCase(), stop);
      nodes += read;
      owners++;
    } catch {
      failed++;
    }
  })));
  return {
    requested: opts.count, owners, nodes, failed, timedOut: stop() && owners + failed < ids.length,
    siblingLoads: loader.siblingLoads - loadsBefore, siblingsStored: loader.siblingsStored - storedBefore,
    durationMs: Date.now() - started,
  };
}
