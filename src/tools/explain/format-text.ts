import { formatUsage } from './partitions.ts';
import type { AuditReport, EntryReport } from './report.ts';

/** The human-readable report `bgc explain` prints: one block per entry, then a summary. */
export function formatText(report: AuditReport): string {
  const out: string[] = [];
  for (const e of report.entries) out.push(formatEntry(e), '');
  const s = report.summary;
  out.push(
    `${s.entries} entries on ${report.database} (PostgreSQL ${report.serverVersion}, ${report.analyzed ? 'EXPLAIN ANALYZE' : 'plans only'}, ${report.planMode} plans): ` +
      `${s.unjustified} unjustified flag(s), ${s.justified} justified, ${s.errors} error(s)${s.skipped > 0 ? `, ${s.skipped} skipped` : ''}`,
  );
  return `${out.join('\n')}\n`;
}

export function formatEntry(e: EntryReport): string {
  const lines = [`== ${e.name}  [${e.target}${e.node ? ` → ${e.node}` : ''}${e.timeBounded ? ', time-bounded' : ''}${e.writes ? ', writes (rolled back)' : ''}]`];
  if (e.params.length > 0) lines.push(`   params: ${e.params.map((p, i) => `$${i + 1}=${p}`).join('  ')}`);
  if (e.error) {
    lines.push(`   ERROR: ${e.error}`);
    return lines.join('\n');
  }
  if (e.skipped) {
    lines.push(`   note: ${e.skipped}`);
    return lines.join('\n');
  }
  for (const s of e.shape) lines.push(`   | ${s}`);
  lines.push(`   ${metrics(e)}`);
  for (const n of e.notes) lines.push(`   note: ${n}`);
  for (const f of e.findings) {
    lines.push(f.justified ? `   justified ${f.flag}: ${f.detail}\n      because: ${f.justification ?? ''}` : `   FLAG ${f.flag}: ${f.detail}`);
  }
  return lines.join('\n');
}

/** "rows 20 · buffers hit 14 read 0 · planning 0.2 ms · execution 0.1 ms · partitions messages 2/16". */
export function metrics(e: EntryReport): string {
  const parts: string[] = [];
  parts.push(e.rows !== null ? `rows ${e.rows}` : `est. rows ${e.estimatedRows ?? '?'}`);
  if (e.buffers) parts.push(`buffers hit ${e.buffers.sharedHit} read ${e.buffers.sharedRead}${e.buffers.tempWritten ? ` temp written ${e.buffers.tempWritten}` : ''}`);
  if (e.planningMs !== null) parts.push(`planning ${e.planningMs.toFixed(2)} ms`);
  if (e.executionMs !== null) parts.push(`execution ${e.executionMs.toFixed(2)} ms`);
  if (e.partitions.length > 0) parts.push(`partitions ${e.partitions.map(formatUsage).join(', ')}`);
  if (e.subplansRemoved > 0) parts.push(`${e.subplansRemoved} subplans removed at run time`);
  return parts.join(' · ');
}
