import type { ManagedPool } from './managed-pool.ts';
import { formatLsn, parseLsn, maxLsn } from './lsn.ts';
import { systemQueries } from './system-queries.ts';
import { DbUnavailableError } from './errors.ts';
import { FallbackBudget } from './fallback-budget.ts';
import { LSN_TTL_MS, MARK_UNKNOWN, MemoryLsnStore, type LsnStore, type MarkAnswer } from './lsn-store.ts';
import type { QueryContext } from './query-context.ts';

export type RouteReason =
  | 'primary_only' | 'no_replicas' | 'least_loaded' | 'caught_up' | 'ryw_waited'
  | 'ryw_primary' | 'fallback_unhealthy' | 'retry_other_replica' | 'retry_primary' | 'last_resort' | 'lagging_over_budget';

export interface RouteDecision {
  readonly query: string;
  readonly pool: ManagedPool;
  readonly node: string;
  readonly reason: RouteReason;
  readonly requiredLsn?: string;
}

export interface ReplicaState {
  readonly node: string;
  available: boolean;
  reachable: boolean;
  /** No longer in recovery: never read from it as a replica again. */
  promoted: boolean;
  paused: boolean;
  replayLsn: string | undefined;
  lagMs: number;
  lagBytes: number;
  lastPollAt: number;
  lastError: string | undefined;
  /** Consecutive healthy polls while out of rotation (hysteresis). */
  healthyStreak: number;
  /** Consecutive failed polls; a replica leaves rotation at PROBE_FAILURES_TO_EJECT. */
  failedPolls: number;
  /**
   * Out for a failed read while its checks go around its pool (ManagedPool.checksDirect): it
   * comes back only once a statement through the pool answers too (#pollReplica).
   */
  poolPathSuspect: boolean;
  /**
   * Failed reads reported so far: a check through the pool clears poolPathSuspect only when no
   * read failed while it ran (a check that started before a failure proves nothing after it).
   */
  failedReads: number;
  inFlight: number;
}

/** What one probe of a replica found (system.replica_status), or why it failed. */
export type ProbeResult =
  | {
    readonly ok: true; readonly inRecovery: boolean; readonly replayLsn: string | undefined; readonly lagMs: number; readonly paused: boolean;
    /** pg_last_wal_receive_lsn(): how far its stream got (undefined: not streaming). */
    readonly receiveLsn?: string;
  }
  | { readonly ok: false; readonly error: string };

export interface ReplicaRouterOptions {
  readonly maxLagMs: number;
  readonly pollMs: number;
  readonly readYourWritesWaitMs: number;
  /** The clock (Unix ms) for the fallback budget and poll times; tests pass their own. */
  readonly now?: () => number;
}

/**
 * A probe is one trivial statement; under CPU saturation (benchmarks, CI running test files
 * in parallel) 100 ms timed out on healthy replicas and ejected them (5,134 history 503s in
 * the large benchmark run). 250 ms and two strikes keep a healthy but busy replica in
 * rotation; a replica that really died is ejected at once by the first failed read
 * (reportFailure), so the probe does not need to be fast to protect readers.
 */
const POLL_TIMEOUT_MS = 250;
const PROBE_FAILURES_TO_EJECT = 2;
const READMIT_STREAK = 3;
const STALE_BYTES = 64 * 1024 * 1024;
/** At most this many of the primary's polled positions are kept (see #behindFor). */
const MAX_PRIMARY_SAMPLES = 256;
/**
 * A client's X-BGC-LSN more than this past the primary's newest sampled position is checked
 * against the primary's position now, and lowered to it if it names WAL that does not exist
 * yet (#plausibleClientLsn); nearer claims are taken as they are. A forged `FFFFFFFF/FFFFFFFF`
 * otherwise made every read of the request poll a replica for the whole wait and then read
 * the primary, outside the primary fallback budget. What stays possible, by design: a client
 * sending a real, fresh position (its own write's) gets that wait and a primary read.
 */
const CLIENT_LSN_SLACK = 64n << 20n;
/** Samples older than this are not trusted to clamp with (the primary may be unreachable). */
const CLAMP_SAMPLE_MAX_AGE_MS = 5_000;

/**
 * Chooses a node for each replica-ok read (docs/ARCHITECTURE.md, "Replica routing").
 *  - A background loop polls each replica's replay LSN and lag; routing reads the cache.
 *  - Out of rotation: unreachable, or lag above maxLag. Back in only after three healthy
 *    polls with lag below half the limit (hysteresis), so a flapping node stays out.
 *  - Lag is the tighter of two bounds on how stale the replica can be: the replica's own
 *    (time since its last replayed commit) and how long ago the primary was at a position
 *    the replica has replayed (the poller's samples of the primary's LSN).
 *  - Selection: least in-flight queries among available replicas, random tie-break.
 *  - Read-your-writes: the caller's required LSN (its last write, or the X-BGC-LSN
 *    header) picks only replicas that replayed past it; else a bounded wait, then primary.
 *  - Fallback to the primary for unhealthy replicas spends a token bucket, so losing all
 *    replicas cannot multiply the primary's read load without limit.
 */
export class ReplicaRouter {
  readonly #states = new Map<ManagedPool, ReplicaState>();
  #timer: NodeJS.Timeout | undefined;
  #lsnStore: LsnStore = new MemoryLsnStore();
  #replicasMayJoin = false;
  /** The next shared primary-position statement, not sent yet (#positionNow). */
  #pendingPosition: Promise<string | undefined> | undefined;
  /** When the oldest position statement still unanswered was sent (#positionNow). */
  #positionSentAt: number | undefined;
  #observer: (d: RouteDecision) => void = () => undefined;
  readonly #ctxLsn = new WeakMap<QueryContext, Promise<string | undefined>>();
  #primaryLsn: string | undefined;
  /** The primary's LSN at each poll and when it was asked for (router clock), oldest first. */
  readonly #primarySamples: Array<{ readonly lsn: bigint; readonly at: number }> = [];
  /** Writes whose position could not be asked for: each takes the first primary poll asked after it (writtenLsn). */
  readonly #positionWaiters: Array<{ readonly since: number; readonly resolve: (lsn: string) => void }> = [];
  readonly #budget: FallbackBudget;
  readonly #now: () => number;
  readonly #primaryInFlight = { n: 0 };
  /**
   * The poll statements still running, by pool. A node that stopped answering keeps its probe
   * waiting until the pool's query timeout destroys the connection; the next polls count as
   * failed without sending another, so a frozen node holds one connection, not one per poll.
   */
  readonly #probing = new Set<ManagedPool>();
  /** Replicas with a poll running (#pollReplica): a later tick skips them. */
  readonly #pollingReplicas = new Set<ManagedPool>();
  /** Pools with a check through their own connections in flight (#checkPoolPath). */
  readonly #poolPathChecks = new Set<ManagedPool>();
  /** Reads sent to the primary because no replica was in rotation (the budget's spending). */
  get fallbacks(): number { return this.#budget.spent; }
  rywWaits = 0;

  /** The replicas in the routing set; BGC_PATRONI_URLS discovery changes it at run time (add/removeReplica). */
  readonly #replicas: ManagedPool[] = [];
  #started = false;

  constructor(
    readonly primary: ManagedPool,
    replicas: readonly ManagedPool[],
    private readonly cfg: ReplicaRouterOptions,
  ) {
    this.#now = cfg.now ?? Date.now;
    this.#budget = new FallbackBudget(undefined, undefined, this.#now);
    for (const r of replicas) this.addReplica(r);
  }

  get replicas(): readonly ManagedPool[] { return this.#replicas; }

  /**
   * Replicas can join later (Patroni's members, discovered while running): writes keep their
   * read-your-writes marks even while the set is empty. Without them, a member that joined
   * within a second of a user's write (admitted after one poll, up to 1 s behind) served
   * that user's next read from before it.
   */
  expectReplicasToJoin(): void { this.#replicasMayJoin = true; }

  /** A replica joins the set out of rotation; the poller admits it after a healthy poll. */
  addReplica(pool: ManagedPool): void {
    if (this.#states.has(pool)) return;
    this.#replicas.push(pool);
    this.#states.set(pool, {
      node: pool.name, available: false, reachable: false, promoted: false, paused: false, replayLsn: undefined,
      lagMs: 0, lagBytes: 0, lastPollAt: 0, lastError: undefined, healthyStreak: READMIT_STREAK - 1, failedPolls: 0, inFlight: 0,
      poolPathSuspect: false,
      failedReads: 0,
    });
    if (this.#started && !this.#timer) this.#startPolling();
  }

  /** A replica leaves the set (promoted, or gone from the cluster); its owner closes the pool. */
  removeReplica(pool: ManagedPool): void {
    const i = this.#replicas.indexOf(pool);
    if (i >= 0) this.#replicas.splice(i, 1);
    this.#states.delete(pool);
  }

  setLsnStore(store: LsnStore): void { this.#lsnStore = store; }
  setObserver(fn: (d: RouteDecision) => void): void { this.#observer = fn; }

  async start(): Promise<void> {
    this.#started = true;
    if (this.replicas.length === 0) return;
    await this.pollOnce();
    this.#startPolling();
  }

  #startPolling(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => { void this.pollOnce(); }, this.cfg.pollMs);
    this.#timer.unref();
  }

  stop(): void {
    this.#started = false;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async pollOnce(): Promise<void> {
    try {
      // Stamped before asking: the primary was at least at this position from then on.
      const askedAt = this.#now();
      const rows = await withTimeout(this.#probe(this.primary, () => this.primary.probe<{ lsn: string }>(systemQueries.primaryLsn.text, systemQueries.primaryLsn.name)), POLL_TIMEOUT_MS * 5);
      this.#primaryLsn = rows.rows[0]?.lsn;
      if (this.#primaryLsn) {
        this.#samplePrimary(parseLsn(this.#primaryLsn), askedAt);
        this.#answerPositionWaiters(this.#primaryLsn, askedAt);
      }
    } catch {
      // The primary being down does not change replica health; lag bytes just stay as they were.
    }
    await Promise.all(this.replicas.map((r) => this.#pollReplica(r)));
  }

  /**
   * One poll of `pool`, unless its previous poll is still running. Ticks come every pollMs, but
   * pollOnce checks the primary first (up to 1.25 s): with a slow primary a tick's replica poll
   * landed while the next tick's was in flight, its probe was refused ("the previous probe has
   * not answered") and counted as a failed poll of a replica that was fine.
   */
  async #pollReplica(pool: ManagedPool): Promise<void> {
    if (this.#pollingReplicas.has(pool)) return;
    this.#pollingReplicas.add(pool);
    try {
      await this.#pollReplicaOnce(pool);
    } finally {
      this.#pollingReplicas.delete(pool);
    }
  }

  async #pollReplicaOnce(pool: ManagedPool): Promise<void> {
    let result: ProbeResult;
    try {
      type Row = { in_recovery: boolean; replay_lsn: string | null; receive_lsn: string | null; lag_ms: number; paused: boolean };
      const res = await withTimeout(this.#probe(pool, () => pool.probe<Row>(systemQueries.replicaStatus.text, systemQueries.replicaStatus.name)), POLL_TIMEOUT_MS);
      const row = res.rows[0];
      if (!row) throw new Error('no row');
      result = {
        ok: true, inRecovery: row.in_recovery, replayLsn: row.replay_lsn ?? undefined, lagMs: Number(row.lag_ms), paused: row.paused,
        receiveLsn: row.receive_lsn ?? undefined,
      };
    } catch (err) {
      result = { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    // Out for a failed read while the check goes to the node directly (behind PgBouncer): the
    // check cannot see what failed the read (a dead or full PgBouncer), so before, the replica
    // came back after three good checks, the next read failed, and it flapped every 1.5 s.
    // It now comes back only once a statement through its pool answers too.
    const suspect = this.#states.get(pool);
    if (result.ok && suspect?.poolPathSuspect) {
      const failedReadsBefore = suspect.failedReads;
      const failed = await this.#checkPoolPath(pool);
      if (failed !== undefined) result = { ok: false, error: `through its pool: ${failed}` };
      // A read that failed while the check ran reset the streak and keeps the replica suspect:
      // the next poll checks the pool again (before, this check cleared that newer mark).
      else if (suspect.failedReads === failedReadsBefore) suspect.poolPathSuspect = false;
    }
    // Removed while its probe ran (Patroni's /cluster dropped it): no longer ours to judge.
    if (!this.#states.has(pool)) return;
    try {
      this.applyProbe(pool, result);
    } catch (err) {
      // A row we cannot read (a malformed LSN) counts as a failed probe, never as a rejection of the poll loop.
      this.applyProbe(pool, { ok: false, error: err instanceof Error ? err.message : String(err) });
    }
  }

  /**
   * SELECT 1 through `pool`'s own connections (PgBouncer, for a replica whose checks go around
   * it); one at a time per pool, since through a full PgBouncer it waits up to
   * query_wait_timeout. Bounded by what a read would wait for a connection (the pool's acquire
   * timeout) plus a poll, so a path that is slow but answers counts as answering. Returns why
   * it failed, or undefined when it answered.
   */
  async #checkPoolPath(pool: ManagedPool): Promise<string | undefined> {
    if (this.#poolPathChecks.has(pool)) return 'the previous check through the pool has not answered';
    this.#poolPathChecks.add(pool);
    const asked = pool.query(systemQueries.ping.text);
    asked.then(() => this.#poolPathChecks.delete(pool), () => this.#poolPathChecks.delete(pool));
    try {
      await withTimeout(asked, pool.acquireTimeoutMs + POLL_TIMEOUT_MS);
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }

  /** Runs one poll statement on `pool`, unless the last one there is still running (then fails at once). */
  #probe<T>(pool: ManagedPool, run: () => Promise<T>): Promise<T> {
    if (this.#probing.has(pool)) return Promise.reject(new Error('the previous probe has not answered'));
    this.#probing.add(pool);
    const p = run();
    p.then(() => this.#probing.delete(pool), () => this.#probing.delete(pool));
    return p;
  }

  /**
   * Applies one probe result with the rotation rules (two failed probes eject, three
   * comfortable ones re-admit, a promoted node never serves as a replica). The poller's
   * only way to change a replica's state, and the supported way for tests to put a replica
   * in a given state: the same rules apply, so no test sets a state the poller never could.
   */
  applyProbe(pool: ManagedPool, result: ProbeResult): void {
    const st = this.#states.get(pool);
    if (!st) throw new Error(`${pool.name} is not a replica of this router`);
    st.lastPollAt = this.#now();
    if (!result.ok) {
      st.failedPolls++;
      st.lastError = result.error;
      if (st.failedPolls >= PROBE_FAILURES_TO_EJECT) {
        st.reachable = false;
        st.available = false;
        st.healthyStreak = 0;
      }
      return;
    }
    st.reachable = true;
    st.failedPolls = 0;
    st.lastError = undefined;
    st.paused = result.paused;
    st.replayLsn = result.replayLsn;
    st.lagMs = Math.min(result.lagMs, this.#behindFor(st.replayLsn));
    // A stream that stopped (its primary died and Patroni has not repointed it yet, or a
    // partition): everything it received is replayed, so its own figure says 0, and no sample
    // is old enough for #behindFor, while the primary moves on. How long the primary has been
    // past what the replica received tells: milliseconds while the stream flows. A standby that
    // has not streamed since it started (its upstream down or refusing it) has no received
    // position (NULL) and says 0 too: what it replayed is all it has.
    const received = result.receiveLsn ?? result.replayLsn;
    const streamBehind = received === undefined ? 0 : this.#primaryPastFor(received);
    if (streamBehind > this.cfg.maxLagMs) st.lagMs = Math.max(st.lagMs, streamBehind);
    st.lagBytes = this.#primaryLsn && st.replayLsn ? Math.max(0, Number(parseLsn(this.#primaryLsn) - parseLsn(st.replayLsn))) : 0;
    st.promoted = !result.inRecovery;
    const tooFar = st.lagMs > this.cfg.maxLagMs || st.lagBytes > STALE_BYTES;
    const comfortable = st.lagMs <= this.cfg.maxLagMs / 2 && st.lagBytes <= STALE_BYTES / 2;
    if (st.promoted || tooFar) {
      st.available = false;
      st.healthyStreak = 0;
      if (st.promoted) st.lastError = 'not in recovery (promoted?)';
    } else if (!st.available) {
      st.healthyStreak = comfortable ? st.healthyStreak + 1 : 0;
      if (st.healthyStreak >= READMIT_STREAK) st.available = true;
    }
  }

  #samplePrimary(lsn: bigint, at: number): void {
    const s = this.#primarySamples;
    s.push({ lsn, at });
    // A sample older than maxLag (plus a poll) could only prove a lag past the limit, which
    // the replica's own figure then decides the same way; one poll more keeps a sample past
    // maxLag for a stopped stream (#primaryPastFor) whatever the polls' timing.
    const horizon = at - this.cfg.maxLagMs - 2 * this.cfg.pollMs;
    while (s.length > MAX_PRIMARY_SAMPLES || (s.length > 1 && (s[0] as { at: number }).at < horizon)) s.shift();
  }

  /**
   * How stale a replica that has replayed `replayLsn` can be, by the primary's samples: it
   * shows every commit the primary had made when the newest sample at or below `replayLsn`
   * was asked for. Infinity when no sample is that old (the replica's own figure decides).
   *
   * The replica's own figure, now() - pg_last_xact_replay_timestamp() whenever received WAL
   * is not yet replayed, is the time since the last *commit* it replayed. Between sparse
   * commits, any WAL in flight (a vacuum, a checkpoint, a standby snapshot, another
   * database's traffic) turns a few ms of replay into seconds of "lag", on both replicas at
   * once since both receive it. Issue 15: 10 readers of search.profiles on `large` (CPU busy,
   * replay slower) saw 2-25 s with 8 bytes to 28 KB unreplayed; both replicas left rotation
   * together for three polls, again and again, and searches went to the primary as
   * fallback_unhealthy. Both figures bound staleness from above (commits are synchronous, as
   * read-your-writes assumes), so the smaller is kept: a replica that has replayed what the
   * primary had one poll ago is at most a poll behind, however old its last commit.
   */
  #behindFor(replayLsn: string | undefined): number {
    if (replayLsn === undefined) return Number.POSITIVE_INFINITY;
    const replayed = parseLsn(replayLsn);
    for (let i = this.#primarySamples.length - 1; i >= 0; i--) {
      const s = this.#primarySamples[i] as { lsn: bigint; at: number };
      if (s.lsn <= replayed) return Math.max(0, this.#now() - s.at);
    }
    return Number.POSITIVE_INFINITY;
  }

  /**
   * How long the primary has been known to be past `lsn`: since the oldest retained sample
   * beyond it (0 if none is). Samples are kept about maxLagMs + pollMs, so a stream stopped
   * that long shows as at least maxLagMs behind.
   */
  #primaryPastFor(lsn: string): number {
    const at = parseLsn(lsn);
    for (const s of this.#primarySamples) if (s.lsn > at) return Math.max(0, this.#now() - s.at);
    return 0;
  }

  /** Marks a replica out after a failed read; the poller re-admits it when healthy. */
  reportFailure(pool: ManagedPool, err: unknown): void {
    const st = this.#states.get(pool);
    if (!st) return;
    st.available = false;
    st.healthyStreak = 0;
    st.lastError = err instanceof Error ? err.message : String(err);
    st.failedReads++;
    if (pool.checksDirect) st.poolPathSuspect = true;
  }

  enter(pool: ManagedPool): void {
    const st = this.#states.get(pool);
    if (st) st.inFlight++; else if (pool === this.primary) this.#primaryInFlight.n++;
  }

  leave(pool: ManagedPool): void {
    const st = this.#states.get(pool);
    if (st) st.inFlight--; else if (pool === this.primary) this.#primaryInFlight.n--;
  }

  /** Remembers the primary's LSN after a user's write; returns it for the X-BGC-LSN header. */
  async noteWrite(userId: string | undefined): Promise<string | undefined> {
    return this.noteWrites(userId ? [userId] : []);
  }

  /** noteWrite for the writers of one grouped commit (chat.send_messages): one LSN fetch for all of them. */
  async noteWrites(userIds: readonly string[]): Promise<string | undefined> {
    const lsn = await this.writtenLsn();
    if (lsn) await this.markWrites(userIds, lsn);
    return lsn;
  }

  /**
   * The primary's WAL position now: asked after a commit, a position every replica must reach
   * before it shows that commit. Undefined without replicas, unless some may join (no read needs it).
   */
  async writtenLsn(): Promise<string | undefined> {
    if (this.replicas.length === 0 && !this.#replicasMayJoin) return undefined;
    try {
      const res = await this.primary.query<{ lsn: string }>(systemQueries.primaryLsn.text, [], systemQueries.primaryLsn.name);
      return res.rows[0]?.lsn;
    } catch (err) {
      // The app's primary pool had no connection for it (saturated: exactly when replicas lag).
      // The write has committed, so any primary position asked for from now on covers it: the
      // poller asks on its own connection every pollMs. Without this the user got no mark and
      // their next read could go to a replica that had not replayed their write.
      if (!this.#timer) throw err; // no poller running (stopped, or no replica to poll yet)
      return this.#nextPolledPosition(2 * this.cfg.pollMs + POLL_TIMEOUT_MS * 5).catch(() => { throw err; });
    }
  }

  /** The primary's position from the first poll asked after now; rejects after `timeoutMs`. */
  #nextPolledPosition(timeoutMs: number): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const waiter = { since: this.#now(), resolve: (lsn: string) => { clearTimeout(timer); resolve(lsn); } };
      const timer = setTimeout(() => {
        const i = this.#positionWaiters.indexOf(waiter);
        if (i >= 0) this.#positionWaiters.splice(i, 1);
        reject(new Error(`no primary poll answered within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.#positionWaiters.push(waiter);
    });
  }

  #answerPositionWaiters(lsn: string, askedAt: number): void {
    for (let i = this.#positionWaiters.length - 1; i >= 0; i--) {
      const w = this.#positionWaiters[i];
      if (!w) continue;
      if (w.since > askedAt) continue;
      this.#positionWaiters.splice(i, 1);
      w.resolve(lsn);
    }
  }

  /** Records `lsn` as each user's last write (the read-your-writes marks); a mark that fails is skipped. */
  async markWrites(userIds: readonly string[], lsn: string): Promise<void> {
    await Promise.all([...new Set(userIds)].map((u) => this.#lsnStore.set(u, lsn).catch(() => undefined)));
  }

  /**
   * The position a read for `ctx` must see: the larger of its X-BGC-LSN and its user's last
   * write (memoized per context, so a cache check and the read that may follow share it).
   */
  requiredLsn(ctx: QueryContext): Promise<string | undefined> {
    return this.#requiredLsn(ctx);
  }

  /**
   * A position every replica in rotation has replayed, by the last polls: a read that asks
   * for it can go to any of them without waiting. Undefined without replicas in rotation.
   */
  rotationFloorLsn(): string | undefined {
    let floor: string | undefined;
    for (const r of this.replicas) {
      const st = this.#states.get(r);
      if (!st?.available || r.closed || st.replayLsn === undefined) continue;
      if (floor === undefined || parseLsn(st.replayLsn) < parseLsn(floor)) floor = st.replayLsn;
    }
    return floor;
  }

  #requiredLsn(ctx: QueryContext): Promise<string | undefined> {
    let p = this.#ctxLsn.get(ctx);
    if (!p) {
      const fromStore = ctx.userId ? this.#lsnStore.get(ctx.userId).catch((): MarkAnswer => MARK_UNKNOWN) : Promise.resolve(undefined);
      const claimed = this.#plausibleClientLsn(ctx.minLsn);
      p = Promise.all([fromStore, claimed]).then(async ([stored, claim]) => maxLsn(stored === MARK_UNKNOWN ? await this.#positionNow() : stored, claim));
      this.#ctxLsn.set(ctx, p);
    }
    return p;
  }

  /**
   * The primary's position, asked after this call: what a reader whose mark cannot be known
   * (the shared store unreachable) must assume it wrote up to. Callers of one event-loop
   * turn share one statement, sent after all of them arrived. If the primary cannot answer,
   * the newest polled position: no later write can have been acknowledged by it either,
   * unless within the last poll.
   */
  #positionNow(): Promise<string | undefined> {
    const newestSample = (): string | undefined => {
      const newest = this.#primarySamples[this.#primarySamples.length - 1];
      return newest ? formatLsn(newest.lsn) : undefined;
    };
    // A primary that stopped answering gets no pile of these: while one has waited past the
    // bound, readers take the newest sample at once.
    if (this.#positionSentAt !== undefined && performance.now() - this.#positionSentAt > POLL_TIMEOUT_MS) return Promise.resolve(newestSample());
    if (this.#pendingPosition) return this.#pendingPosition;
    const p = new Promise<string | undefined>((resolve) => {
      setImmediate(() => {
        this.#pendingPosition = undefined;
        const sentAt = performance.now();
        this.#positionSentAt ??= sentAt;
        const asked = this.primary.query<{ lsn: string }>(systemQueries.primaryLsn.text, [], systemQueries.primaryLsn.name);
        asked.then(() => undefined, () => undefined).finally(() => { if (this.#positionSentAt === sentAt) this.#positionSentAt = undefined; });
        withTimeout(asked, POLL_TIMEOUT_MS).then((res) => resolve(res.rows[0]?.lsn ?? newestSample()), () => resolve(newestSample()));
      });
    });
    this.#pendingPosition = p;
    return p;
  }

  /**
   * The client's LSN, or the primary's position where the client's is past any that can
   * exist. A claim far past the newest sample is checked against the primary's position now
   * (#positionNow): the sample can be seconds old (probes timing out under load) while a
   * bulk write (an index build, an archive COPY) moved the WAL on by more than the slack, and
   * lowering a genuine position to the sample sent its reader to a replica without the write.
   */
  async #plausibleClientLsn(lsn: string | undefined): Promise<string | undefined> {
    if (lsn === undefined) return undefined;
    const newest = this.#primarySamples[this.#primarySamples.length - 1];
    if (!newest || this.#now() - newest.at > CLAMP_SAMPLE_MAX_AGE_MS) return lsn;
    if (parseLsn(lsn) <= newest.lsn + CLIENT_LSN_SLACK) return lsn;
    const now = await this.#positionNow();
    const ceiling = now === undefined || parseLsn(now) < newest.lsn ? newest.lsn : parseLsn(now);
    return parseLsn(lsn) > ceiling ? formatLsn(ceiling) : lsn;
  }

  async choose(query: string, ctx: QueryContext, tried: ReadonlySet<ManagedPool>): Promise<RouteDecision> {
    const decide = (pool: ManagedPool, reason: RouteReason, requiredLsn?: string): RouteDecision => {
      const d: RouteDecision = { query, pool, node: pool.name, reason, requiredLsn };
      this.#observer(d);
      return d;
    };
    if (this.replicas.length === 0) return decide(this.primary, 'no_replicas');
    const retry = tried.size > 0;
    const candidates = this.replicas.filter((r) => !tried.has(r) && this.#states.get(r)?.available && !r.closed);
    if (candidates.length === 0) {
      if (this.#budget.take()) return decide(this.primary, retry ? 'retry_primary' : 'fallback_unhealthy');
      // The primary's budget for replica reads is spent. A replica that is only lagging
      // (reachable, still a standby) still answers consistently, just from further back,
      // and replica-ok entries tolerate lag: better an older page than a 503. Never for a
      // reader whose required LSN it has not replayed.
      const lagging = await this.#laggingServing(ctx, tried);
      if (lagging) return decide(lagging.pool, 'lagging_over_budget', lagging.required);
      throw new DbUnavailableError('DB_UNAVAILABLE', `no healthy replica for ${query} and the primary fallback budget is spent`, 'replicas');
    }
    const required = await this.#requiredLsn(ctx);
    if (required === undefined) return decide(this.#leastLoaded(candidates), retry ? 'retry_other_replica' : 'least_loaded');
    const caughtUp = this.#replayedPast(candidates, required);
    if (caughtUp.length > 0) return decide(this.#leastLoaded(caughtUp), 'caught_up', required);
    const waited = await this.#waitForReplay(this.#leastLoaded(candidates), required);
    if (waited) return decide(waited, 'ryw_waited', required);
    return decide(this.primary, 'ryw_primary', required);
  }

  /**
   * A replica for a read the primary just failed (Database.query): any replica not tried
   * yet, in rotation or not, that has replayed the caller's required LSN (waiting the
   * usual read-your-writes bound for one), so read-your-writes still holds. Undefined when
   * there is none: the caller reports the primary's error.
   */
  async lastResort(query: string, ctx: QueryContext, tried: ReadonlySet<ManagedPool>): Promise<RouteDecision | undefined> {
    // A signed-in reader not from a replica known to be further behind than a mark lives
    // (#laggingServing); one not probed yet may still serve.
    const tooFar = (r: ManagedPool): boolean => signedIn(ctx) && (this.#states.get(r)?.lagMs ?? 0) >= LSN_TTL_MS;
    const candidates = this.replicas.filter((r) => !tried.has(r) && !r.closed && !tooFar(r));
    if (candidates.length === 0) return undefined;
    const decide = (pool: ManagedPool, requiredLsn?: string): RouteDecision => {
      const d: RouteDecision = { query, pool, node: pool.name, reason: 'last_resort', requiredLsn };
      this.#observer(d);
      return d;
    };
    const required = await this.#requiredLsn(ctx);
    if (required === undefined) return decide(this.#leastLoaded(candidates));
    const caughtUp = this.#replayedPast(candidates, required);
    if (caughtUp.length > 0) return decide(this.#leastLoaded(caughtUp), required);
    const waited = await this.#waitForReplay(this.#leastLoaded(candidates), required);
    return waited ? decide(waited, required) : undefined;
  }

  async #waitForReplay(pool: ManagedPool, lsn: string): Promise<ManagedPool | undefined> {
    this.rywWaits++;
    // Real time, not the injected clock: this bounds an actual wait on round trips.
    const deadline = Date.now() + this.cfg.readYourWritesWaitMs;
    const st = this.#states.get(pool);
    do {
      try {
        const res = await withTimeout(pool.query<{ caught_up: boolean; replay_lsn: string }>(systemQueries.replayedPast.text, [lsn], systemQueries.replayedPast.name), POLL_TIMEOUT_MS);
        const row = res.rows[0];
        if (st && row?.replay_lsn) st.replayLsn = maxLsn(st.replayLsn, row.replay_lsn);
        if (row?.caught_up) return pool;
      } catch {
        return undefined;
      }
      await new Promise((r) => setTimeout(r, 5));
    } while (Date.now() < deadline);
    return undefined;
  }

  #leastLoaded(pools: readonly ManagedPool[]): ManagedPool {
    // Power of two choices on in-flight count: near-optimal balance, no herd on one node.
    const a = pools[Math.floor(Math.random() * pools.length)] as ManagedPool;
    if (pools.length === 1) return a;
    let b = pools[Math.floor(Math.random() * pools.length)] as ManagedPool;
    if (b === a) b = pools[(pools.indexOf(a) + 1) % pools.length] as ManagedPool;
    const fa = this.#states.get(a)?.inFlight ?? 0;
    const fb = this.#states.get(b)?.inFlight ?? 0;
    return fb < fa ? b : a;
  }

  /**
   * A reachable standby out of rotation only for lag, that has replayed the reader's required
   * LSN. A signed-in reader's marks last LSN_TTL_MS: a write older than that has no mark, so
   * only a standby less than that far behind surely shows it (one 60 s behind would hide the
   * reader's own write of 40 s ago). An anonymous reader wrote nothing: any lag will do.
   */
  async #laggingServing(ctx: QueryContext, tried: ReadonlySet<ManagedPool>): Promise<{ pool: ManagedPool; required: string | undefined } | undefined> {
    const maxLagMs = signedIn(ctx) ? LSN_TTL_MS : Number.POSITIVE_INFINITY;
    const reachable = this.replicas.filter((r) => {
      const st = this.#states.get(r);
      return !tried.has(r) && !r.closed && st !== undefined && st.reachable && !st.promoted && st.replayLsn !== undefined && st.lagMs < maxLagMs;
    });
    if (reachable.length === 0) return undefined;
    const required = await this.#requiredLsn(ctx);
    const usable = required === undefined ? reachable : this.#replayedPast(reachable, required);
    return usable.length > 0 ? { pool: this.#leastLoaded(usable), required } : undefined;
  }

  /** The pools whose last polled replay LSN has reached `lsn` (no round trip). */
  #replayedPast(pools: readonly ManagedPool[], lsn: string): ManagedPool[] {
    const need = parseLsn(lsn);
    return pools.filter((r) => {
      const replayed = this.#states.get(r)?.replayLsn;
      return replayed !== undefined && parseLsn(replayed) >= need;
    });
  }

  /** The router's view of every node, for /readyz, `bgc stack status` and the admin API. */
  snapshot(): Array<Omit<ReplicaState, 'healthyStreak' | 'failedPolls' | 'poolPathSuspect' | 'failedReads'> & { role: 'replica' }> {
    return [...this.#states.values()].map(({ healthyStreak: _h, failedPolls: _f, poolPathSuspect: _p, failedReads: _r, ...s }) => ({ ...s, role: 'replica' as const }));
  }

  get primaryLsn(): string | undefined { return this.#primaryLsn; }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e: unknown) => { clearTimeout(t); reject(e); });
  });
}

/** A read whose reader may have written: a user on the context, or a shared load for signed-in readers. */
function signedIn(ctx: QueryContext): boolean {
  return ctx.userId !== undefined || ctx.boundedLag === true;
}
