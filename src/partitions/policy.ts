import type { Config } from '../config/index.ts';
import { addMonths, compareMonths, monthOf, monthRange, type MonthRef, type PartitionedTable } from './naming.ts';

/** The reconciler's notion of "now"; injectable so tests can move time. Always read in UTC. */
export type Clock = () => Date;
export const systemClock: Clock = () => new Date();

export function retentionMonthsFor(config: Config, table: PartitionedTable): number {
  return config.partitions.retentionByTable[table] ?? config.partitions.retentionMonths;
}

/**
 * The oldest month kept live. A month is archived when it lies wholly before this one:
 * with 24 months and now = 2026-11-28, months up to 2024-10 go (2024-10's upper bound,
 * 2024-11-01, is more than 24 months ago) and 2024-11 stays.
 */
export function oldestKeptMonth(config: Config, table: PartitionedTable, now: Date): MonthRef {
  return addMonths(monthOf(now), -retentionMonthsFor(config, table));
}

export function isPastRetention(config: Config, table: PartitionedTable, month: MonthRef, now: Date): boolean {
  return compareMonths(month, oldestKeptMonth(config, table, now)) < 0;
}

/** Months that must exist: the current UTC month and `premakeMonths` after it. */
export function requiredMonths(config: Config, now: Date): MonthRef[] {
  const current = monthOf(now);
  return monthRange(current, addMonths(current, config.partitions.premakeMonths));
}

/**
 * Consecutive months after the current one that have a partition, given the set of
 * existing months (as "YYYY-MM" keys); -1 when the current month itself is missing.
 */
export function monthsAhead(existing: ReadonlySet<string>, now: Date): number {
  let m = monthOf(now);
  if (!existing.has(monthKey(m))) return -1;
  let ahead = 0;
  for (let i = 0; i < 1200; i++) {
    m = addMonths(m, 1);
    if (!existing.has(monthKey(m))) break;
    ahead++;
  }
  return ahead;
}

export function monthKey(m: MonthRef): string {
  return `${String(m.year).padStart(4, '0')}-${String(m.month).padStart(2, '0')}`;
}
