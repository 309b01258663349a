import type { Logger } from '../logging/logger.ts';
import type { Metrics } from '../metrics/registry.ts';
import type { LeaderLock } from '../db/leader-lock.ts';
import type { QueryDef } from '../catalog/types.ts';
import { schedulerQueries } from './scheduler.repository.ts';

export interface JobContext {
  /** Aborted when the scheduler stops or this instance loses leadership mid-run. */
  readonly signal: AbortSignal;
  readonly instanceId: string;
  readonly logger: Logger;
  /** When this run was claimed: the database's clock for leader-only jobs, this process's otherwise. */
  readonly startedAt: Date;
}

export interface JobSpec {
  /** Also the metrics label and the scheduled_jobs key: 'area.action'. */
  readonly name: string;
  readonly intervalMs: number;
  readonly run: (ctx: JobContext) => Promise<void>;
  /**
   * Leader-only jobs (the default) run on one instance per database, at most once per
   * interval across all instances. Others run on every instance on a local timer.
   */
  readonly leaderOnly?: boolean;
}

export interface JobState {
  readonly name: string;
  readonly intervalMs: number;
  readonly leaderOnly: boolean;
  readonly running: boolean;
  readonly runs: number;
  readonly failures: number;
  readonly lastStartedAt: Date | null;
  readonly lastSuccessAt: Date | null;
  readonly lastError: string | null;
  readonly lastDurationMs: number | null;
}

interface Job {
  readonly spec: Required<JobSpec>;
  running: AbortController | null;
  done: Promise<void> | null;
  runs: number;
  failures: number;
  lastStartedAt: Date | null;
  lastSuccessAt: Date | null;
  lastError: string | null;
  lastDurationMs: number | null;
}

export interface SchedulerOptions {
  readonly leader: LeaderLock;
  readonly instanceId: string;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** How often to check leadership and due jobs; default a quarter of the shortest interval, 50 ms–30 s. */
  readonly tickMs?: number;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * A small in-process scheduler for background jobs (partition maintenance now; cache
 * warming, stats snapshots, the monthly report later). One timer ticks; each tick
 * confirms or takes leadership (LeaderLock) and starts due jobs. A job never runs twice at
 * once on one instance (re-entry guard) and, if leader-only, at most once per interval
 * across instances (the claim in scheduled_jobs). Failures are logged, counted in
 * bgc_job_failures_total{job} and stored; nothing is ever thrown out of the timer.
 */
export class Scheduler {
  readonly #opts: SchedulerOptions;
  readonly #jobs = new Map<string, Job>();
  #timer: NodeJS.Timeout | null = null;
  #stopped = true;
  #leader = false;
  #ticking: Promise<void> | null = null;

  constructor(opts: SchedulerOptions) {
    this.#opts = opts;
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  register(spec: JobSpec): void {
    if (this.#jobs.has(spec.name)) throw new Error(`job ${spec.name} is already registered`);
    if (!(spec.intervalMs > 0)) throw new Error(`job ${spec.name}: interval must be positive`);
    this.#jobs.set(spec.name, {
      // `?? true`, not a default before the spread: a spec passing `leaderOnly: undefined` through
      // would otherwise run on every instance.
      spec: { ...spec, leaderOnly: spec.leaderOnly ?? true }, running: null, done: null, runs: 0, failures: 0,
      lastStartedAt: null, lastSuccessAt: null, lastError: null, lastDurationMs: null,
    });
    // Export the failure series at 0 so alert rules see it before the first failure.
    this.#opts.metrics?.jobFailures.inc({ job: spec.name }, 0);
    if (spec.leaderOnly !== false) this.#opts.metrics?.jobRecordFailures.inc({ job: spec.name }, 0);
  }

  states(): JobState[] {
    return [...this.#jobs.values()].map((j) => ({
      name: j.spec.name, intervalMs: j.spec.intervalMs, leaderOnly: j.spec.leaderOnly, running: j.running !== null,
      runs: j.runs, failures: j.failures, lastStartedAt: j.lastStartedAt, lastSuccessAt: j.lastSuccessAt,
      lastError: j.lastError, lastDurationMs: j.lastDurationMs,
    }));
  }

  #tickMs(): number {
    if (this.#opts.tickMs) return this.#opts.tickMs;
    const shortest = Math.min(...[...this.#jobs.values()].map((j) => j.spec.intervalMs), 120_000);
    return Math.max(50, Math.min(30_000, Math.floor(shortest / 4)));
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#ticking = this.#tick().catch((err: unknown) => {
        this.#opts.logger.error({ err: message(err) }, 'scheduler tick failed');
      }).finally(() => {
        this.#ticking = null;
        this.#schedule(this.#tickMs());
      });
    }, delayMs);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    const jobs = [...this.#jobs.values()];
    if (jobs.some((j) => j.spec.leaderOnly)) await this.#checkLeadership();
    for (const job of jobs) {
      if (this.#stopped || job.running) continue; // re-entry guard
      try {
        if (job.spec.leaderOnly) {
          if (!this.#leader) continue;
          const claimed = await this.#opts.leader.query<{ last_started_at: Date }>(schedulerQueries.claim, [job.spec.name, job.spec.intervalMs, this.#opts.instanceId]);
          if (claimed.length === 0) continue;
          job.lastStartedAt = claimed[0]?.last_started_at ?? new Date();
        } else {
          if (job.lastStartedAt && Date.now() - job.lastStartedAt.getTime() < job.spec.intervalMs) continue;
          job.lastStartedAt = new Date();
        }
      } catch (err) {
        this.#opts.logger.warn({ job: job.spec.name, err: message(err) }, 'job claim failed');
        continue;
      }
      this.#launch(job);
    }
  }

  async #checkLeadership(): Promise<void> {
    const was = this.#leader;
    const check = await this.#opts.leader.check();
    this.#leader = check.leader;
    if (check.leader && !was) this.#opts.logger.info({ instance: this.#opts.instanceId }, 'scheduler: became leader');
    if (!check.leader && was) this.#abortLeaderJobs(check.reason);
  }

  /**
   * The leader lock's session is gone (LeaderLock's onLost): the server has released the lock,
   * and another instance may take it at its next tick. Leader-only jobs stop now, not at this
   * instance's next tick (up to 30 s later), while another leader's runs may already start.
   */
  leadershipLost(reason: string): void {
    if (!this.#leader) return;
    this.#leader = false;
    this.#abortLeaderJobs(reason);
  }

  #abortLeaderJobs(reason: string | undefined): void {
    this.#opts.logger.warn({ instance: this.#opts.instanceId, reason }, 'scheduler: lost leadership; aborting leader-only jobs');
    for (const j of this.#jobs.values()) if (j.spec.leaderOnly) j.running?.abort(new Error('leadership lost'));
  }

  #launch(job: Job): void {
    const controller = new AbortController();
    job.running = controller;
    job.runs++;
    const started = Date.now();
    const ctx: JobContext = { signal: controller.signal, instanceId: this.#opts.instanceId, logger: this.#opts.logger, startedAt: job.lastStartedAt ?? new Date() };
    job.done = (async () => {
      try {
        await job.spec.run(ctx);
        job.lastSuccessAt = new Date();
        job.lastError = null;
        job.lastDurationMs = Date.now() - started;
        this.#opts.metrics?.jobLastSuccess.set({ job: job.spec.name }, job.lastSuccessAt.getTime() / 1000);
        if (job.spec.leaderOnly) await this.#record(job, schedulerQueries.recordSuccess, [job.spec.name, job.lastDurationMs]);
      } catch (err) {
        job.failures++;
        job.lastError = message(err);
        job.lastDurationMs = Date.now() - started;
        this.#opts.metrics?.jobFailures.inc({ job: job.spec.name });
        this.#opts.logger.error({ job: job.spec.name, err: job.lastError, ms: job.lastDurationMs }, 'job failed');
        if (job.spec.leaderOnly) await this.#record(job, schedulerQueries.recordFailure, [job.spec.name, job.lastError.slice(0, 2000), job.lastDurationMs]);
      } finally {
        job.running = null;
        job.done = null;
      }
    })();
  }

  /**
   * Writes a run's outcome to scheduled_jobs. The run itself is over and counted either way;
   * a failed write (the leader session dropped, the primary went away) only leaves the table
   * one run behind, so it is logged and counted (bgc_job_record_failures_total), never thrown.
   */
  async #record(job: Job, def: QueryDef, params: readonly unknown[]): Promise<void> {
    try {
      await this.#opts.leader.query(def, params);
    } catch (err) {
      this.#opts.metrics?.jobRecordFailures.inc({ job: job.spec.name });
      this.#opts.logger.warn({ job: job.spec.name, statement: def.name, err: message(err) }, 'job outcome not recorded');
    }
  }

  /**
   * Stops ticking, asks running jobs to abort, waits for them (bounded), then closes the
   * leader session, which releases leadership to another instance at once.
   */
  async stop(waitMs = 10_000): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#ticking?.catch(() => undefined);
    const running = [...this.#jobs.values()].filter((j) => j.done !== null);
    for (const j of running) j.running?.abort(new Error('scheduler stopping'));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((r) => { timer = setTimeout(r, waitMs); timer.unref(); });
    await Promise.race([Promise.allSettled(running.map((j) => j.done)), timeout]);
    clearTimeout(timer);
    this.#leader = false;
    await this.#opts.leader.close();
  }
}
