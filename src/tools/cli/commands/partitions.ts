import type { Command } from 'commander';
import type pg from 'pg';
import { loadConfig } from '../../../config/index.ts';
import { openDedicatedSession } from '../../../db/leader-lock.ts';
import { newInstanceId } from '../../../jobs/index.ts';
import { partitionStatus, restorePartition, runMaintenance, type MaintenanceReport, type PartitionStatus } from '../../../partitions/index.ts';
import { CliError, printJson, printTable, progressLine } from '../output.ts';

async function withSession<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const config = loadConfig();
  // Unpooled: maintenance sets session-level lock_timeout/TimeZone and holds an advisory lock.
  // Dead peers detected both ways, as in the scheduled job: a primary gone mid-COPY ends the
  // command instead of a read waiting out the OS's two-hour keepalive, and an operator's
  // connection gone releases the maintenance lock in about 25 s, not in hours.
  const client = await openDedicatedSession(config.database.primaryUrl, { applicationName: 'bgc-partitions-cli', statementTimeoutMs: 0, detectDeadPeer: true });
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(1)} ${units[i]}`;
}

function printStatus(s: PartitionStatus): void {
  for (const t of s.tables) {
    const ahead = t.monthsAhead < 0 ? 'CURRENT MONTH MISSING' : `${t.monthsAhead} month(s) ahead (premake ${s.premakeMonths})`;
    process.stdout.write(`\n${t.table}: ${ahead}; oldest ${t.oldest ?? '-'} (${t.oldestAgeMonths ?? '-'} months old, retention ${t.retentionMonths})\n`);
    printTable(t.partitions.map((p) => ({
      partition: p.name, month: p.month, rows: `${p.rowsExact ? '' : '~'}${p.rows}`, size: bytes(p.totalBytes), pending_detach: p.pendingDetach ? 'yes' : '',
    })));
  }
  process.stdout.write(`\npending detaches: ${s.pendingDetaches.length === 0 ? 'none' : s.pendingDetaches.map((p) => `${p.parent}/${p.name}`).join(', ')}\n`);
  if (s.unmanaged.length > 0) process.stdout.write(`unmanaged partitions (never touched): ${s.unmanaged.join(', ')}\n`);
  process.stdout.write(`\narchive ledger (mode ${s.archiveMode}):\n`);
  printTable(s.ledger.map((l) => ({
    partition: l.partition, state: l.state, mode: l.mode, rows: l.rows, comments: l.comments, location: l.location,
    retain_until: l.retainUntil, last_error: l.lastError,
  })));
  const r = s.lastRun;
  process.stdout.write(`\nlast run: ${r ? `#${r.id} ${r.status} at ${r.startedAt.toISOString()} by ${r.instance} (${r.trigger}, ${r.actions} action(s))${r.error ? `: ${r.error}` : ''}` : 'never'}\n`);
  process.stdout.write(`last success: ${s.lastSuccessAt?.toISOString() ?? 'never'}\n`);
  process.stdout.write(`next run: ${s.nextRun.at?.toISOString() ?? 'unknown'} (${s.nextRun.basis})\n`);
}

function printReport(r: MaintenanceReport): void {
  if (r.actions.length === 0) { process.stdout.write('nothing to do: partitions ahead and retention are up to date\n'); return; }
  for (const a of r.actions) {
    const head = `${a.kind} ${a.partition}${a.fromState ? ` (ledger: ${a.fromState})` : ''}`;
    if (r.dryRun) {
      process.stdout.write(`\n${head}\n`);
      for (const s of a.statements) process.stdout.write(`  ${s.sql};\n      -- locks: ${s.locks}\n`);
      if (a.error) process.stdout.write(`  !! ${a.error}\n`);
    } else {
      process.stdout.write(`${a.status.padEnd(7)} ${head}${a.toState ? ` → ${a.toState}` : ''}${a.ms !== undefined ? ` (${a.ms} ms)` : ''}${a.note ? ` [${a.note}]` : ''}${a.error ? `: ${a.error}` : ''}\n`);
    }
  }
}

export function register(program: Command): void {
  const cmd = program.command('partitions').description('Monthly partitions of messages and status_updates: status, maintenance, restore');

  cmd.command('status')
    .description('Months ahead, oldest partition, rows and size per partition, pending detaches, archived months, last and next run')
    .option('--json', 'machine-readable output')
    .option('--exact', 'count rows exactly (a scan per partition) instead of the planner estimate')
    .action(async (opts: { json?: boolean; exact?: boolean }) => {
      const status = await withSession((c) => partitionStatus(c, loadConfig(), new Date(), { exact: opts.exact === true }));
      if (opts.json) printJson(status); else printStatus(status);
    });

  cmd.command('maintain')
    .description('Run partition maintenance now: premake months ahead, finish pending detaches, archive months past retention')
    .option('--dry-run', 'print every statement and the locks it takes; change nothing')
    .option('--json', 'machine-readable output')
    .action(async (opts: { dryRun?: boolean; json?: boolean }) => {
      const config = loadConfig();
      const report = await withSession((c) => runMaintenance(c, {
        config, instanceId: `cli:${newInstanceId()}`, trigger: 'cli', dryRun: opts.dryRun === true, onProgress: progressLine,
      }));
      if (opts.json) printJson(report); else printReport(report);
      if (report.skipped === 'busy') throw new CliError('PARTITIONS_BUSY', 'another maintenance run or restore holds the maintenance lock; nothing done', 3);
      if (report.skipped === 'replica') throw new CliError('PARTITIONS_REPLICA', 'DATABASE_URL points at a standby; maintenance runs on the primary only', 3);
      if (report.failed > 0) throw new CliError('PARTITIONS_FAILED', `${report.failed} action(s) failed (see above and bgc partitions status)`);
    });

  cmd.command('restore <partition>')
    .description('Bring an archived month back as an attached partition (from the archive schema or the archive file)')
    .option('--keep-days <days>', 'days before retention may archive it again', '30')
    .option('--json', 'machine-readable output')
    .action(async (partition: string, opts: { keepDays: string; json?: boolean }) => {
      const keepDays = Number(opts.keepDays);
      if (!Number.isFinite(keepDays) || keepDays < 0) throw new CliError('INVALID_ARGUMENT', '--keep-days must be a number ≥ 0');
      progressLine(`restoring ${partition}`);
      const result = await withSession((c) => restorePartition(c, partition, { keepDays }));
      if (opts.json) printJson(result);
      else {
        const added = result.addedColumns.length > 0 ? `; columns added since the archive: ${result.addedColumns.join(', ')}` : '';
        const orphans = result.settledOrphans > 0 ? `; ${result.settledOrphans} rows whose parent row was deleted since were removed, as ON DELETE would have` : '';
        process.stdout.write(`${result.partition} restored from ${result.source}: ${result.rows} rows${result.comments !== null ? `, ${result.comments} comments` : ''}${added}${orphans}; kept until ${result.retainUntil}\n`);
      }
    });
}
