/** Monthly partitions: `<table>_yYYYYmMM`, bounds [first of month, first of next month) in UTC. */
export const PARTITIONED_TABLES = ['messages', 'status_updates'] as const;
export type PartitionedTable = (typeof PARTITIONED_TABLES)[number];

export interface MonthRef { readonly year: number; readonly month: number } // month 1..12

export function monthOf(date: Date): MonthRef {
  return { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1 };
}

export function addMonths(m: MonthRef, n: number): MonthRef {
  const idx = m.year * 12 + (m.month - 1) + n;
  return { year: Math.floor(idx / 12), month: (idx % 12) + 1 };
}

export function monthStart(m: MonthRef): Date {
  return new Date(Date.UTC(m.year, m.month - 1, 1));
}

export function compareMonths(a: MonthRef, b: MonthRef): number {
  return a.year * 12 + a.month - (b.year * 12 + b.month);
}

export function partitionName(table: PartitionedTable, m: MonthRef): string {
  return `${table}_y${String(m.year).padStart(4, '0')}m${String(m.month).padStart(2, '0')}`;
}

export function parsePartitionName(name: string): { table: PartitionedTable; month: MonthRef } | undefined {
  const match = /^(messages|status_updates)_y(\d{4})m(\d{2})$/.exec(name);
  if (!match) return undefined;
  const month = Number(match[3]);
  if (month < 1 || month > 12) return undefined;
  return { table: match[1] as PartitionedTable, month: { year: Number(match[2]), month } };
}

/** Every month from `from` to `to`, inclusive. */
export function monthRange(from: MonthRef, to: MonthRef): MonthRef[] {
  const out: MonthRef[] = [];
  for (let m = from; compareMonths(m, to) <= 0; m = addMonths(m, 1)) out.push(m);
  return out;
}

/** Whole months from `a` to `b` (positive when `b` is later). */
export function monthsBetween(a: MonthRef, b: MonthRef): number {
  return compareMonths(b, a);
}

/** A partition's month as the `date` the ledger stores: 'YYYY-MM-01'. */
export function monthDate(m: MonthRef): string {
  return `${String(m.year).padStart(4, '0')}-${String(m.month).padStart(2, '0')}-01`;
}

/** Double-quoted SQL identifier (names here come from parsePartitionName, but quote anyway). */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
