import type { PartitionStatRow, TableDailyRow } from '../gather.ts';
import type { GrowthRow, PartitionRow, PartitionSummary } from '../model.ts';
import type { ReportMonth } from '../month.ts';
import { linearFit } from '../stats.ts';
import { addMonths, monthOf, compareMonths } from '../../../partitions/naming.ts';

const DAY_MS = 86_400_000;

/**
 * Table growth over the month (a partitioned table counts all its partitions) with a forecast:
 * the least-squares slope of the daily sizes, projected from the month's last measured size.
 * The slope, not last-minus-first, so one odd sample (a VACUUM FULL, a bulk load) does not
 * decide the forecast alone.
 */
export function tableGrowth(rows: readonly TableDailyRow[], month: ReportMonth, limit = 15): GrowthRow[] {
  const byTable = new Map<string, TableDailyRow[]>();
  for (const r of rows) {
    const key = r.schema_name === 'public' ? r.table_name : `${r.schema_name}.${r.table_name}`;
    byTable.set(key, [...(byTable.get(key) ?? []), r]);
  }
  const out: GrowthRow[] = [];
  for (const [table, points] of byTable) {
    points.sort((a, b) => a.taken_at.getTime() - b.taken_at.getTime());
    const first = points[0];
    const last = points[points.length - 1];
    if (!first || !last) continue;
    const fit = linearFit(points.map((p) => ({ x: (p.taken_at.getTime() - month.from.getTime()) / DAY_MS, y: p.bytes })));
    const perDay = fit?.slope ?? 0;
    out.push({
      table, startBytes: first.bytes, endBytes: last.bytes, growthBytes: last.bytes - first.bytes, bytesPerDay: perDay,
      forecast30dBytes: Math.max(0, last.bytes + perDay * 30), forecast90dBytes: Math.max(0, last.bytes + perDay * 90),
      endRows: last.live_rows, points: points.map((p) => ({ t: p.taken_at.toISOString(), bytes: p.bytes })),
    });
  }
  return out.sort((a, b) => b.growthBytes - a.growthBytes || b.endBytes - a.endBytes || a.table.localeCompare(b.table)).slice(0, limit);
}

/** Partition sizes at the month's end, and how many months of partitions exist beyond it (SC-012). */
export function partitionSummary(rows: readonly PartitionStatRow[], month: ReportMonth): { summary: PartitionSummary[]; largest: PartitionRow[] } {
  // Only partitions still present at the month's last partition sample (dropped ones are history).
  const lastSeen = rows.reduce((a, r) => Math.max(a, r.last_seen.getTime()), 0);
  const present = rows.filter((r) => r.last_seen.getTime() === lastSeen);
  const parents = [...new Set(present.map((r) => r.parent_table))].sort();
  const summary = parents.map((parent) => {
    const mine = present.filter((r) => r.parent_table === parent);
    const newest = mine.reduce<Date | null>((a, r) => (r.range_to && (!a || r.range_to > a) ? r.range_to : a), null);
    let monthsAhead: number | null = null;
    if (newest) {
      // Partitions are [first of month, first of next month): a range ending on the 1st of M+2 covers M+1.
      const lastCovered = addMonths(monthOf(newest), -1);
      monthsAhead = compareMonths(lastCovered, month.ref);
    }
    return { parent, partitions: mine.length, totalBytes: mine.reduce((a, r) => a + r.last_bytes, 0), monthsAhead, newestRangeTo: newest ? newest.toISOString() : null };
  });
  const largest = [...present].sort((a, b) => b.last_bytes - a.last_bytes || a.partition_name.localeCompare(b.partition_name)).slice(0, 12).map((r) => ({
    parent: r.parent_table, partition: r.partition_name, rangeFrom: r.range_from ? r.range_from.toISOString() : null,
    rangeTo: r.range_to ? r.range_to.toISOString() : null, bytes: r.last_bytes, growthBytes: r.last_bytes - r.first_bytes, rows: r.rows,
  }));
  return { summary, largest };
}
