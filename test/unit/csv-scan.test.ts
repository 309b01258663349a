import { describe, expect, it } from 'vitest';
import { CsvScanner } from '../../src/partitions/csv-scan.ts';

/**
 * The archive verifier's CSV scanner (src/partitions/csv-scan.ts) on PostgreSQL's CSV
 * (COPY … FORMAT csv, HEADER): records are counted with quoted newlines and doubled quotes
 * as data, whatever the chunk boundaries, and the min/max of one column are kept.
 */
const CSV = [
  'id,content,created_at',
  '1,plain,2026-12-31 23:59:30+00',
  '2,"two\nlines, and a comma",2027-01-01 00:00:00+00',
  '3,"a ""quoted"" word",2026-12-01 00:00:00.5+00',
  '4,"ends with a newline\n",2028-02-29 12:00:00+00',
  '5,,',
].join('\n') + '\n';

function scan(text: string, column: string, chunkBytes: number) {
  const bytes = Buffer.from(text, 'utf8');
  const s = new CsvScanner(column);
  for (let i = 0; i < bytes.length; i += chunkBytes) s.push(bytes.subarray(i, i + chunkBytes));
  return s.finish();
}

describe('CsvScanner', () => {
  it.each([1, 2, 3, 7, 64, 1 << 20])('counts records and finds min and max in chunks of %i bytes', (chunk) => {
    expect(scan(CSV, 'created_at', chunk)).toEqual({
      header: ['id', 'content', 'created_at'], records: 5,
      min: '2026-12-01 00:00:00.5+00', max: '2028-02-29 12:00:00+00',
    });
  });

  it('compares a quoted column as its unquoted value', () => {
    const r = scan(CSV, 'content', 5);
    expect(r.min).toBe('a "quoted" word');
    expect(r.max).toBe('two\nlines, and a comma');
  });

  it('counts a last record without a trailing newline, and an empty file as none', () => {
    expect(scan(CSV.slice(0, -1), 'id', 4).records).toBe(5);
    expect(scan('id,content,created_at\n', 'id', 4)).toMatchObject({ records: 0, min: null, max: null });
    expect(scan('', 'id', 4)).toMatchObject({ header: [], records: 0 });
  });

  it('keeps multi-byte characters whole across chunk boundaries', () => {
    const r = scan('id,content\n1,"żółw 🐢"\n2,ábc\n', 'content', 1);
    expect([r.min, r.max]).toEqual(['ábc', 'żółw 🐢']);
  });

  it('refuses a file that ends inside a quoted field (a truncated archive)', () => {
    expect(() => scan('id,content\n1,"never closed\n', 'content', 3)).toThrow(/inside a quoted field/);
  });

  it('finds no min or max for a column the header does not have', () => {
    expect(scan(CSV, 'no_such_column', 8)).toMatchObject({ records: 5, min: null, max: null });
  });
});
