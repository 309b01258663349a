import { addMonths, monthOf, monthStart, type MonthRef } from '../../partitions/naming.ts';

/** A calendar month in UTC: the report's period is [from, to). */
export interface ReportMonth {
  /** "YYYY-MM" */
  readonly label: string;
  readonly ref: MonthRef;
  readonly from: Date;
  readonly to: Date;
  readonly days: number;
}

export class MonthFormatError extends Error {
  readonly code = 'REPORT_BAD_MONTH';
  constructor(value: string) {
    super(`month must look like YYYY-MM (e.g. 2026-10), got "${value}"`);
    this.name = 'MonthFormatError';
  }
}

export function reportMonth(ref: MonthRef): ReportMonth {
  const from = monthStart(ref);
  const to = monthStart(addMonths(ref, 1));
  return {
    label: `${String(ref.year).padStart(4, '0')}-${String(ref.month).padStart(2, '0')}`,
    ref, from, to, days: Math.round((to.getTime() - from.getTime()) / 86_400_000),
  };
}

export function parseMonth(value: string): ReportMonth {
  const m = /^(\d{4})-(\d{2})$/.exec(value.trim());
  const month = m ? Number(m[2]) : 0;
  if (!m || month < 1 || month > 12) throw new MonthFormatError(value);
  return reportMonth({ year: Number(m[1]), month });
}

/** The last complete month before `now` (UTC): what the job reports on the 1st. */
export function previousMonth(now: Date): ReportMonth {
  return reportMonth(addMonths(monthOf(now), -1));
}

export function monthBefore(m: ReportMonth): ReportMonth {
  return reportMonth(addMonths(m.ref, -1));
}
