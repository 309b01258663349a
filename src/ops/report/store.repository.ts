import { defineQuery } from '../../catalog/types.ts';
import { catalog } from '../../catalog/registry.ts';

/** Stored reports (monitoring.reports): unique (month, format) is the monthly job's idempotency guard. */
export const reportStoreQueries = catalog({
  insertIfAbsent: defineQuery({
    name: 'report.insert_if_absent',
    description: 'Stores a generated report unless one exists for that month and format (the scheduled path); one stored before the month ended ($5: an operator\'s mid-month `bgc report --store`) covers part of the month and is replaced.',
    target: 'primary',
    sample: ['1999-01', 'json', '{}', 'sample', '1999-02-01T00:00:00Z'],
    sql: `INSERT INTO monitoring.reports AS r (month, format, content, generated_by) VALUES ($1, $2, $3, $4)
ON CONFLICT (month, format) DO UPDATE SET content = EXCLUDED.content, generated_by = EXCLUDED.generated_by, created_at = now()
  WHERE r.created_at < $5::timestamptz
RETURNING id`,
  }),
  replace: defineQuery({
    name: 'report.replace',
    description: 'Stores a report, replacing an earlier one for that month and format (the explicit CLI path).',
    target: 'primary',
    sample: ['1999-01', 'json', '{}', 'sample'],
    sql: `INSERT INTO monitoring.reports (month, format, content, generated_by) VALUES ($1, $2, $3, $4)
ON CONFLICT (month, format) DO UPDATE SET content = EXCLUDED.content, generated_by = EXCLUDED.generated_by, created_at = now()
RETURNING id`,
  }),
  completeFormats: defineQuery({
    name: 'report.complete_formats',
    description: 'How many formats of a month are stored from after its end ($2): the monthly job does its work unless every one is.',
    target: 'primary',
    sample: ['1999-01', '1999-02-01T00:00:00Z'],
    sql: `SELECT count(DISTINCT format) FILTER (WHERE created_at >= $2::timestamptz)::int AS formats FROM monitoring.reports WHERE month = $1`,
  }),
  list: defineQuery({
    name: 'report.list',
    description: 'Stored reports, newest month first, without their content (dashboard list).',
    target: 'primary',
    sample: [],
    sql: `SELECT month, format, generated_by, created_at, length(content)::int AS bytes FROM monitoring.reports ORDER BY month DESC, format LIMIT 200`,
  }),
  get: defineQuery({
    name: 'report.get',
    description: 'One stored report (dashboard viewer).',
    target: 'primary',
    sample: ['1999-01', 'html'],
    sql: `SELECT content, created_at FROM monitoring.reports WHERE month = $1 AND format = $2`,
  }),
});
