import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { isPastRetention, monthKey, monthsAhead, oldestKeptMonth, requiredMonths } from '../../src/partitions/policy.ts';
import { addMonths, monthDate, monthOf, monthRange, monthStart, parsePartitionName, partitionName } from '../../src/partitions/naming.ts';

/**
 * Which monthly partitions must exist and which are past retention, on fixed dates: the
 * last seconds of a year (UTC), a leap day, and month ends. No database: the SQL that acts
 * on these decisions is tested in test/integration/partitions-*.test.ts.
 */
const at = (iso: string) => new Date(iso);
const keys = (ms: ReturnType<typeof requiredMonths>) => ms.map(monthKey);

describe('partition naming', () => {
  it('takes the month in UTC, whatever the local time zone would say', () => {
    expect(monthOf(at('2026-12-31T23:59:30Z'))).toEqual({ year: 2026, month: 12 });
    expect(monthOf(at('2027-01-01T00:00:00Z'))).toEqual({ year: 2027, month: 1 });
    expect(monthOf(at('2028-02-29T12:00:00Z'))).toEqual({ year: 2028, month: 2 });
  });

  it('adds months across year boundaries both ways', () => {
    expect(addMonths({ year: 2026, month: 12 }, 1)).toEqual({ year: 2027, month: 1 });
    expect(addMonths({ year: 2027, month: 1 }, -1)).toEqual({ year: 2026, month: 12 });
    expect(addMonths({ year: 2028, month: 2 }, 12)).toEqual({ year: 2029, month: 2 });
    expect(addMonths({ year: 2026, month: 3 }, -27)).toEqual({ year: 2023, month: 12 });
  });

  it('names partitions and parses the names back, refusing what it did not make', () => {
    const m = { year: 2028, month: 2 };
    expect(partitionName('messages', m)).toBe('messages_y2028m02');
    expect(parsePartitionName('status_updates_y2026m12')).toEqual({ table: 'status_updates', month: { year: 2026, month: 12 } });
    for (const bad of ['messages_y2026m13', 'messages_y2026m00', 'messages_2026_12', 'users_y2026m12', 'messages_y2026m12_comments']) {
      expect(parsePartitionName(bad), bad).toBeUndefined();
    }
    expect(monthStart(m).toISOString()).toBe('2028-02-01T00:00:00.000Z');
    expect(monthStart(addMonths(m, 1)).getTime() - monthStart(m).getTime()).toBe(29 * 86_400_000);
    expect(monthDate({ year: 2026, month: 12 })).toBe('2026-12-01');
    expect(monthRange({ year: 2026, month: 11 }, { year: 2027, month: 2 }).map(monthKey)).toEqual(['2026-11', '2026-12', '2027-01', '2027-02']);
  });
});

describe('partition policy', () => {
  const config = parseConfig({ BGC_PARTITION_PREMAKE_MONTHS: '3', BGC_PARTITION_RETENTION_MONTHS: '24', BGC_PARTITION_RETENTION_MONTHS_MESSAGES: '6' });

  it('requires the current UTC month and the premade ones, across the year end', () => {
    expect(keys(requiredMonths(config, at('2026-12-31T23:59:30Z')))).toEqual(['2026-12', '2027-01', '2027-02', '2027-03']);
    expect(keys(requiredMonths(config, at('2027-01-01T00:00:00Z')))).toEqual(['2027-01', '2027-02', '2027-03', '2027-04']);
    expect(keys(requiredMonths(config, at('2028-02-29T23:59:59Z')))).toEqual(['2028-02', '2028-03', '2028-04', '2028-05']);
  });

  it('keeps months back to now minus retention, per table', () => {
    const now = at('2026-12-31T23:59:30Z');
    expect(monthKey(oldestKeptMonth(config, 'status_updates', now))).toBe('2024-12');
    expect(monthKey(oldestKeptMonth(config, 'messages', now))).toBe('2026-06');
    expect(isPastRetention(config, 'status_updates', { year: 2024, month: 11 }, now)).toBe(true);
    expect(isPastRetention(config, 'status_updates', { year: 2024, month: 12 }, now)).toBe(false);
    expect(isPastRetention(config, 'messages', { year: 2026, month: 5 }, now)).toBe(true);
    // One second later it is a new year, and one more month of status updates is past retention.
    expect(isPastRetention(config, 'status_updates', { year: 2024, month: 12 }, at('2027-01-01T00:00:00Z'))).toBe(true);
  });

  it('counts the months ready ahead of the current one; -1 when the current one is missing', () => {
    const now = at('2026-12-31T23:59:30Z');
    expect(monthsAhead(new Set(['2026-11', '2026-12', '2027-01', '2027-02']), now)).toBe(2);
    expect(monthsAhead(new Set(['2026-12', '2027-02']), now)).toBe(0);
    expect(monthsAhead(new Set(['2027-01', '2027-02']), now)).toBe(-1);
    expect(monthsAhead(new Set(['2028-02', '2028-03']), at('2028-02-29T00:00:00Z'))).toBe(1);
  });
});
