import { untilShortBatch } from '../../jobs/batches.ts';
import crypto from 'node:crypto';
import os from 'node:os';
import type { Config } from '../../config/index.ts';
import type { Database, Tx } from '../../db/database.ts';
import { nodePoolStats } from '../../db/node-query.ts';
import type { Metrics } from '../../metrics/registry.ts';
import { collectAllNodes, type NodeSample } from './collect.ts';
import { readAppCounters, histogramDelta, type AppCounters } from './app-counters.ts';
import { computeStatementDeltas, counterDelta, catalogNameOf, type StatementCounters, type StatementDeltaResult } from './deltas.ts';
import { fetchAlerts } from './alertmanager.ts';
import { storeQueries as s } from './store.repository.ts';
import { buildRelationRows, buildSnapshotRow, type Baseline } from './rows.ts';

export interface SnapshotSummary {
  readonly runId: number;
  readonly takenAt: string;
  readonly durationMs: number;
  readonly nodes: ReadonlyArray<{
    readonly node: string; readonly ok: boolean; readonly error: string | null; readonly snapshotId: number;
    readonly statementsSeen: number; readonly statementsStored: number; readonly resetDetected: boolean;
    readonly deallocDelta: number | null; readonly firstSnapshot: boolean; readonly relationsCaptured: boolean;
  }>;
  readonly alertmanager: 'reachable' | 'unreachable' | 'disabled';
}

export interface HistoryRecorderDeps {
  readonly db: Database;
  readonly config: Config;
  /** The app's registry: cache counters and latency histograms. Absent in CLI use. */
  readonly metrics?: Metrics;
  /** Set to false to skip Alertmanager (tests without a monitoring stack). */
  readonly alertmanager?: boolean;
}

/** Statement texts are stored once per queryid; a multi-row VALUES list can be huge, its head identifies it. */
const MAX_QUERY_TEXT = 8_000;

interface PreviousRow {
  id: string; taken_at: Date; pgss_dealloc: string | null; pgss_stats_reset: Date | null;
  blks_hit: number | null; blks_read: number | null; idx_blks_hit: number | null; idx_blks_read: number | null;
  server_started_at: Date | null;
}

/**
 * Takes workload snapshots (FR-020). One recorder per process: it keeps this process's previous
 * app counters in memory, because those counters belong to the process and restart with it.
 * Leadership (one snapshot per interval across instances) is the scheduler's job.
 */
/** Snapshot runs per retention statement: each cascades to a few thousand rows. */
const RUNS_PER_DELETE = 5;

export class HistoryRecorder {
  readonly instanceId = `${os.hostname()}:${process.pid}:${crypto.randomBytes(3).toString('hex')}`;
  readonly processStartedAt = new Date(Date.now() - process.uptime() * 1000);
  #previousApp: { readonly counters: AppCounters; readonly at: number } | undefined;

  constructor(private readonly deps: HistoryRecorderDeps) {}

  async snapshot(): Promise<SnapshotSummary> {
    const { db, config } = this.deps;
    const started = process.hrtime.bigint();
    const relationsDue = await this.#relationsDue();
    const samples = await collectAllNodes(db, (n) => relationsDue.has(n));
    const app = this.deps.metrics ? await readAppCounters(this.deps.metrics) : undefined;
    const baselines = new Map<string, Baseline>();
    for (const sample of samples.filter((x) => x.ok)) baselines.set(sample.node.name, await this.#baseline(sample));
    const alerts = this.deps.alertmanager === false ? undefined : await fetchAlerts(config.history.alertmanagerUrl);

    const appBase = this.#appBaseline(Date.now());
    const prevApp = appBase === 'process-start' || appBase === 'none' ? undefined : appBase;
    const summary = await db.transaction(async (tx) => {
      const appDelta = (cur: number | null | undefined, prev: number | null | undefined) =>
        appBase === 'none' ? null : appBase === 'process-start' ? (cur ?? null) : counterDelta(cur, prev);
      const [run] = await tx.query<{ id: string; taken_at: Date }>(s.insertRun, [
        this.instanceId, this.processStartedAt.toISOString(), app?.cacheHits ?? null, app?.cacheMisses ?? null,
        appDelta(app?.cacheHits, prevApp?.cacheHits), appDelta(app?.cacheMisses, prevApp?.cacheMisses),
        app?.cacheMemoryBytes ?? null, app?.cacheMaxBytes ?? null,
      ]);
      if (!run) throw new Error('snapshot run was not created');
      const takenAt = run.taken_at.toISOString();
      const snapshotRows = samples.map((x) => buildSnapshotRow(run.id, takenAt, x, baselines.get(x.node.name), nodePoolStats(db, x.node.name), config.history.topStatements));
      const ids = new Map((await tx.query<{ id: string; node: string }>(s.insertSnapshot, [JSON.stringify(snapshotRows)])).map((r) => [r.node, r.id]));

      const nodes: Array<SnapshotSummary['nodes'][number]> = [];
      for (const sample of samples) {
        const snapshotId = ids.get(sample.node.name);
        if (!snapshotId) throw new Error(`snapshot row for ${sample.node.name} missing`);
        const b = baselines.get(sample.node.name);
        const stored = b ? await this.#storeStatements(tx, sample, b, snapshotId, takenAt) : 0;
        if (sample.relations) {
          const rel = buildRelationRows(snapshotId, sample.relations);
          await tx.query(s.insertTableStats, [JSON.stringify(rel.tables)]);
          await tx.query(s.insertIndexStats, [JSON.stringify(rel.indexes)]);
          if (rel.partitions.length > 0) await tx.query(s.insertPartitionStats, [JSON.stringify(rel.partitions)]);
        }
        nodes.push({
          node: sample.node.name, ok: sample.ok, error: sample.error, snapshotId: Number(snapshotId),
          statementsSeen: sample.statements.length, statementsStored: stored,
          resetDetected: b?.deltas.resetDetected ?? false, deallocDelta: b?.deltas.deallocDelta ?? null,
          firstSnapshot: b !== undefined && !b.deltas.hasBaseline, relationsCaptured: sample.relations !== null,
        });
      }
      if (app && appBase !== 'none') await this.#storeLatency(tx, run.id, app, prevApp);
      if (alerts?.reachable && alerts.alerts.length > 0) {
        await tx.query(s.upsertAlerts, [JSON.stringify(alerts.alerts.map((a) => ({
          fingerprint: a.fingerprint, starts_at: a.startsAt, alertname: a.alertname, severity: a.severity,
          summary: a.summary, labels: a.labels, last_seen_at: takenAt, ends_at: a.endsAt,
        })))]);
      }
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      await tx.query(s.finishRun, [run.id, durationMs]);
      return { runId: Number(run.id), takenAt, durationMs, nodes, alertmanager: alerts === undefined ? 'disabled' as const : alerts.reachable ? 'reachable' as const : 'unreachable' as const };
    });
    if (app) this.#previousApp = { counters: app, at: Date.now() };
    return summary;
  }

  /**
   * What this process's app counters (cache lookups, latency histograms) are compared with: its
   * reading at the previous snapshot, or its start when it started within the last interval and a
   * half. Otherwise (an instance up for weeks that has just become the leader, or one that led
   * before and lost the lead for a while) there is nothing to compare with: the counters hold
   * traffic of other days, so this run records none of it and becomes the baseline.
   */
  #appBaseline(now: number): AppCounters | 'process-start' | 'none' {
    const maxGapMs = this.deps.config.history.intervalSeconds * 1000 * 1.5;
    if (this.#previousApp && now - this.#previousApp.at <= maxGapMs) return this.#previousApp.counters;
    return now - this.processStartedAt.getTime() <= maxGapMs ? 'process-start' : 'none';
  }

  /**
   * Retention: deletes runs older than `retentionDays` (cascading to every per-run row), a few
   * runs per statement. One statement for all of them (each run holds thousands of statement,
   * table and index rows) outlived the pool's statement timeout after a backlog (retention
   * lowered, jobs off for a week), rolled back, and failed again every hour as the backlog grew.
   */
  async cleanup(now: Date = new Date(), signal?: AbortSignal): Promise<{ deletedRuns: number }> {
    const cutoff = new Date(now.getTime() - this.deps.config.history.retentionDays * 86_400_000).toISOString();
    const deletedRuns = await untilShortBatch(async (batch) => {
      const [row] = await this.deps.db.query<{ deleted: number }>(s.deleteOldRuns, [cutoff, batch]);
      return row?.deleted ?? 0;
    }, RUNS_PER_DELETE, signal);
    await this.deps.db.query(s.deleteOldCounters, [cutoff]);
    await this.deps.db.query(s.deleteOldAlerts, [cutoff]);
    return { deletedRuns };
  }

  async #relationsDue(): Promise<Set<string>> {
    const { db, config } = this.deps;
    const due = new Set<string>();
    // Half an interval of slack, so hourly capture does not slip to every second hour on jitter.
    const everyMs = Math.max(0, config.history.relationStatsMinutes * 60_000 - (config.history.intervalSeconds * 1000) / 2);
    for (const pool of [db.primary, ...db.replicas]) {
      const [row] = await db.query<{ taken_at: Date | null }>(s.lastRelationsAt, [pool.name]);
      if (!row?.taken_at || Date.now() - row.taken_at.getTime() >= everyMs) due.add(pool.name);
    }
    return due;
  }

  async #baseline(sample: NodeSample): Promise<Baseline> {
    const { db } = this.deps;
    const [last] = await db.query<PreviousRow>(s.previousSnapshot, [sample.node.name]);
    // Another server under the node's name (a failover promoted a replica to "primary", or the
    // node restarted): its counters have nothing to do with the last snapshot's, so this one is
    // a new baseline, and the stored statement counters of the old server are cleared.
    const serverChanged = last !== undefined && !sameServer(last.server_started_at, sample.stats?.server_started_at);
    const prev = serverChanged ? undefined : last;
    const counters = new Map<string, StatementCounters>();
    if (prev) {
      const rows = await db.query<{ queryid: string; calls: number; total_exec_time: number; rows: number; shared_blks_hit: number; shared_blks_read: number; temp_blks_written: number }>(s.statementCounters, [sample.node.name]);
      for (const r of rows) counters.set(r.queryid, { calls: r.calls, totalExecTime: r.total_exec_time, rows: r.rows, sharedBlksHit: r.shared_blks_hit, sharedBlksRead: r.shared_blks_read, tempBlksWritten: r.temp_blks_written });
    }
    const info = prev && prev.pgss_dealloc !== null ? { dealloc: Number(prev.pgss_dealloc), statsReset: prev.pgss_stats_reset ? prev.pgss_stats_reset.toISOString() : null } : undefined;
    const deltas: StatementDeltaResult = sample.pgss
      ? computeStatementDeltas(sample.statements, sample.pgss, { info, counters })
      : { hasBaseline: false, fullReset: false, resetDetected: false, deallocDelta: null, deltas: [] };
    return { previous: prev ? { blksHit: prev.blks_hit, blksRead: prev.blks_read, idxBlksHit: prev.idx_blks_hit, idxBlksRead: prev.idx_blks_read } : undefined, deltas, serverChanged };
  }

  async #storeStatements(tx: Tx, sample: NodeSample, baseline: Baseline, snapshotId: string, takenAt: string): Promise<number> {
    const node = sample.node.name;
    const result = baseline.deltas;
    // Register texts: every statement on a node's first snapshot, afterwards those that ran.
    const moved = new Set(result.deltas.map((d) => d.queryid));
    const register = sample.statements.filter((x) => !result.hasBaseline || moved.has(x.queryid));
    if (register.length > 0) {
      await tx.query(s.upsertStatements, [JSON.stringify(register.map((x) => ({ queryid: x.queryid, name: catalogNameOf(x.query), query: x.query.slice(0, MAX_QUERY_TEXT), seen_at: takenAt })))]);
    }
    // After a full reset, or on another server, the old baselines describe counters that no longer exist.
    if (result.fullReset || baseline.serverChanged) await tx.query(s.clearCounters, [node]);
    if (sample.statements.length > 0) {
      await tx.query(s.upsertCounters, [JSON.stringify(sample.statements.map((x) => ({
        node, queryid: x.queryid, calls: x.calls, total_exec_time: x.totalExecTime, rows: x.rows,
        shared_blks_hit: x.sharedBlksHit, shared_blks_read: x.sharedBlksRead, temp_blks_written: x.tempBlksWritten, updated_at: takenAt,
      })))]);
    }
    const top = result.deltas.slice(0, this.deps.config.history.topStatements);
    if (top.length > 0) {
      await tx.query(s.insertStatementStats, [JSON.stringify(top.map((d) => ({
        snapshot_id: snapshotId, queryid: d.queryid, calls: d.cumulative.calls, total_exec_time: d.cumulative.totalExecTime,
        mean_exec_time: d.cumulative.calls > 0 ? d.cumulative.totalExecTime / d.cumulative.calls : 0, rows: d.cumulative.rows,
        shared_blks_hit: d.cumulative.sharedBlksHit, shared_blks_read: d.cumulative.sharedBlksRead, temp_blks_written: d.cumulative.tempBlksWritten,
        delta_kind: d.kind, calls_delta: d.delta.calls, total_exec_time_delta: d.delta.totalExecTime, rows_delta: d.delta.rows,
        shared_blks_hit_delta: d.delta.sharedBlksHit, shared_blks_read_delta: d.delta.sharedBlksRead, temp_blks_written_delta: d.delta.tempBlksWritten,
      })))]);
    }
    return top.length;
  }

  async #storeLatency(tx: Tx, runId: string, app: AppCounters, prev: AppCounters | undefined): Promise<void> {
    const rows = [...app.histograms.entries()].flatMap(([key, h]) => {
      const d = histogramDelta(h, prev?.histograms.get(key));
      if (!d || d.count <= 0) return [];
      return [{ run_id: runId, kind: h.kind, label: h.label, bucket_le: h.le, counts_delta: d.counts, count_delta: d.count, sum_delta: d.sum }];
    });
    if (rows.length > 0) await tx.query(s.insertLatencyStats, [JSON.stringify(rows)]);
  }
}

/** Whether two snapshots of a node sampled one server run (pg_postmaster_start_time()). */
function sameServer(previous: Date | null, current: Date | undefined): boolean {
  return previous !== null && current !== undefined && previous.getTime() === current.getTime();
}
