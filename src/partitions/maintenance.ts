import type pg from 'pg';
import type { Config } from '../config/index.ts';
import { IN_RECOVERY_SQL } from './catalog.sql.ts';
import { createStatements, ensureMonthPartition } from './create.ts';
import { finalizeDetach } from './detach.ts';
import { finalizeStatement } from './archive.sql.ts';
import { errorMessage, PartitionError } from './errors.ts';
import { listPartitions, listPendingDetaches } from './inventory.ts';
import { beginCycle, getLedger, inProgress, listLedger, recordLedgerError, type LedgerRow, type LedgerState } from './ledger.ts';
import { RUNS_ABORT_STALE_SQL, RUNS_FINISH_SQL, RUNS_START_SQL } from './ledger.sql.ts';
import { releaseMaintenanceLock, tryMaintenanceLock } from './maintenance-lock.ts';
import { monthDate, parsePartitionName, partitionName, PARTITIONED_TABLES, type PartitionedTable } from './naming.ts';
import { isPastRetention, monthKey, requiredMonths, systemClock, type Clock } from './policy.ts';
import { advanceCycle, cycleStatements } from './retention.ts';
import { SESSION_SETTINGS_SQL } from './stats.ts';
import type { MaintenanceHooks, PlannedStatement, StepContext } from './types.ts';

export type ActionKind = 'create' | 'finalize' | 'archive';

export interface MaintenanceAction {
  readonly kind: ActionKind;
  readonly table: string;
  readonly partition: string;
  /** Ledger state the archive cycle starts from ('live' = not in the ledger yet). */
  readonly fromState?: LedgerState;
  readonly statements: readonly PlannedStatement[];
  status: 'planned' | 'done' | 'failed' | 'skipped';
  toState?: LedgerState;
  note?: string;
  error?: string;
  ms?: number;
}

export interface MaintenanceReport {
  readonly runId: string | null;
  readonly skipped: 'replica' | 'busy' | null;
  readonly dryRun: boolean;
  readonly now: string;
  readonly actions: readonly MaintenanceAction[];
  readonly failed: number;
}

export interface MaintenanceOptions {
  readonly config: Config;
  /** Who ran it (host:pid:random for the app, "cli:…" for the CLI); recorded in partition_runs. */
  readonly instanceId: string;
  readonly trigger: 'schedule' | 'cli' | 'test';
  readonly clock?: Clock;
  readonly dryRun?: boolean;
  readonly hooks?: MaintenanceHooks;
  readonly signal?: AbortSignal;
  readonly onProgress?: (message: string) => void;
}

/** Reads the catalog and the ledger and lists what this run will do, in order. */
export async function planMaintenance(client: pg.ClientBase, config: Config, now: Date): Promise<MaintenanceAction[]> {
  const partitions = await listPartitions(client);
  const ledger = new Map((await listLedger(client)).map((r) => [r.partition_name, r]));
  const actions: MaintenanceAction[] = [];
  const action = (a: Omit<MaintenanceAction, 'status'>, status: MaintenanceAction['status'] = 'planned'): MaintenanceAction => ({ ...a, status });

  // 1. Creation first: a missing current or next month is the only failure writers can see.
  for (const table of PARTITIONED_TABLES) {
    const have = new Set<string>();
    for (const p of partitions) if (p.parent === table && p.month && !p.pendingDetach) have.add(monthKey(p.month));
    for (const month of requiredMonths(config, now)) {
      if (have.has(monthKey(month))) continue;
      actions.push(action({ kind: 'create', table, partition: partitionName(table, month), statements: createStatements(table, month) }));
    }
  }
  // 2. Interrupted DETACH … CONCURRENTLY (crash, cancel, lock timeout): finish it.
  for (const p of await listPendingDetaches(client)) {
    actions.push(action({ kind: 'finalize', table: p.parent, partition: p.name, statements: [finalizeStatement(p.parent, p.name)] }));
  }
  // 3. Retention: cycles already under way (whatever their month), then months newly past retention.
  const resumed = new Set<string>();
  for (const row of await inProgress(client)) {
    resumed.add(row.partition_name);
    actions.push(action({ kind: 'archive', table: row.parent, partition: row.partition_name, fromState: row.state, statements: await cycleStatements({ client, config }, row, row.state) }));
  }
  // status_updates before messages: keeps the order of the FK-bearing table first, should one appear.
  for (const table of [...PARTITIONED_TABLES].reverse()) {
    for (const p of partitions) {
      if (p.parent !== table || !p.month || resumed.has(p.name) || !isPastRetention(config, table, p.month, now)) continue;
      const row = ledger.get(p.name);
      const from: LedgerState = row?.state ?? 'live';
      if (from === 'restored' && row?.retain_until && row.retain_until > now) continue; // an operator brought it back
      if (from !== 'live' && from !== 'restored') {
        actions.push(action({
          kind: 'archive', table, partition: p.name, fromState: from, statements: [],
          error: `${p.name} is attached again although the ledger says ${from}; restore or rename it by hand (docs/OPERATIONS.md)`,
        }, 'failed'));
        continue;
      }
      const statements = await cycleStatements({ client, config }, { partition_name: p.name, parent: table, archive_mode: config.partitions.archiveMode }, from);
      actions.push(action({ kind: 'archive', table, partition: p.name, fromState: from, statements }));
    }
  }
  return actions;
}

async function execute(ctx: StepContext, action: MaintenanceAction, ledgerRow: () => Promise<LedgerRow | undefined>): Promise<void> {
  const { client, config } = ctx;
  if (action.kind === 'create') {
    const parsed = parsePartitionName(action.partition);
    if (!parsed) throw new PartitionError('PARTITION_STATE', `bad partition name ${action.partition}`);
    const created = await ensureMonthPartition(client, parsed.table, parsed.month);
    if (!created) action.note = 'already created by someone else';
    return;
  }
  if (action.kind === 'finalize') {
    await finalizeDetach(client, action.table, action.partition);
    return;
  }
  let row = await ledgerRow();
  if (!row || row.state === 'live' || row.state === 'restored') {
    const parsed = parsePartitionName(action.partition);
    if (!parsed) throw new PartitionError('PARTITION_STATE', `bad partition name ${action.partition}`);
    row = await beginCycle(client, action.partition, action.table as PartitionedTable, monthDate(parsed.month), config.partitions.archiveMode);
    await ctx.hooks.afterTransition?.(row.partition_name, row.state);
  }
  action.toState = (await advanceCycle(ctx, row)).state;
}

function isSimulatedCrash(err: unknown): boolean {
  return err instanceof PartitionError && err.code === 'SIMULATED_CRASH';
}

/**
 * One maintenance run on a dedicated session: premake, finish pending detaches, advance
 * every retention cycle. Never runs on a standby; never runs twice at once (advisory
 * lock). Each action's failure is recorded (ledger, run log) and the run goes on with the
 * next; the report's `failed` count tells the caller (the job counts it as a failure).
 */
export async function runMaintenance(client: pg.ClientBase, opts: MaintenanceOptions): Promise<MaintenanceReport> {
  const now = (opts.clock ?? systemClock)();
  const dryRun = opts.dryRun ?? false;
  const progress = opts.onProgress ?? (() => undefined);
  const base = { dryRun, now: now.toISOString() };
  await client.query(SESSION_SETTINGS_SQL);
  if ((await client.query<{ in_recovery: boolean }>(IN_RECOVERY_SQL)).rows[0]?.in_recovery) {
    return { ...base, runId: null, skipped: 'replica', actions: [], failed: 0 };
  }
  if (!(await tryMaintenanceLock(client))) return { ...base, runId: null, skipped: 'busy', actions: [], failed: 0 };
  let runId: string | null = null;
  const actions: MaintenanceAction[] = [];
  try {
    if (!dryRun) {
      await client.query(RUNS_ABORT_STALE_SQL);
      runId = (await client.query<{ id: string }>(RUNS_START_SQL, [opts.instanceId, opts.trigger])).rows[0]?.id ?? null;
    }
    actions.push(...(await planMaintenance(client, opts.config, now)));
    if (!dryRun) {
      const ctx: StepContext = { client, config: opts.config, hooks: opts.hooks ?? {} };
      for (const action of actions) {
        if (action.status !== 'planned') continue;
        if (opts.signal?.aborted) { action.status = 'skipped'; action.note = 'run aborted'; continue; }
        const started = Date.now();
        progress(`${action.kind} ${action.partition}${action.fromState ? ` (from ${action.fromState})` : ''}`);
        try {
          await execute(ctx, action, () => getLedger(client, action.partition));
          action.status = 'done';
        } catch (err) {
          if (isSimulatedCrash(err)) throw err;
          action.status = 'failed';
          action.error = errorMessage(err);
          progress(`failed: ${action.partition}: ${action.error}`);
          if (action.kind === 'archive') await recordLedgerError(client, action.partition, action.error).catch(() => undefined);
        } finally {
          action.ms = Date.now() - started;
        }
      }
    }
    const failed = actions.filter((a) => a.status === 'failed').length;
    if (runId) await finishRun(client, runId, failed === 0 ? 'ok' : 'failed', actions, failed === 0 ? null : `${failed} action(s) failed`);
    return { ...base, runId, skipped: null, actions, failed };
  } catch (err) {
    // A simulated crash leaves the run 'running', as a dead process would; the next run marks it aborted.
    if (runId && !isSimulatedCrash(err)) await finishRun(client, runId, 'failed', actions, errorMessage(err)).catch(() => undefined);
    throw err;
  } finally {
    await releaseMaintenanceLock(client);
  }
}

async function finishRun(client: pg.ClientBase, runId: string, status: 'ok' | 'failed', actions: readonly MaintenanceAction[], error: string | null): Promise<void> {
  const summary = actions.map(({ statements: _s, ...rest }) => rest);
  await client.query(RUNS_FINISH_SQL, [runId, status, JSON.stringify(summary), error]);
}
