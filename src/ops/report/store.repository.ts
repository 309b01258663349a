import { defineQuery } from '../../catalog/types.ts';
import { catalog } from '../../catalog/registry.ts';

/** Stored reports (monitoring.reports): unique (month, format) is the monthly job's idempotency guard. */
export const reportStoreQueries = catalog({
  insertIfAbsent: defineQuery({
    name: 'report.insert_if_absent',
    description: 'Stores a generated report unless one exists for that month and format (the scheduled path).',
    target: 'primary',
    sample: ['1999-01', 'json', '{}', 'sample'],
    sql: `INSERT INTO monitoring.reports (month, format, content, generated_by) VALUES ($1, $2, $3, $4)
ON CONFLICT (month, format) DO NOTHING RETURNING id`,
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
  exists: defineQuery({
    name: 'report.exists',
    description: 'Whether a month already has a stored report (the monthly job checks before doing any work).',
    target: 'primary',
    sample: ['1999-01'],
    sql: `SELECT EXISTS (SELECT 1 FROM monitoring.reports WHERE month = $1) AS present`,
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
