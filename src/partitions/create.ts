import type pg from 'pg';
import { partitionName, monthStart, addMonths, type MonthRef, type PartitionedTable } from './naming.ts';

const LOCK_TIMEOUT_MS = 500;
const MAX_ATTEMPTS = 8;

/**
 * Creates one monthly partition if it is missing. Attaching takes a brief lock on the
 * parent; `lock_timeout` stops us from queueing behind a long query (and making every
 * writer queue behind us), and jittered retries try again shortly. Idempotent.
 */
export async function ensureMonthPartition(client: pg.ClientBase, table: PartitionedTable, month: MonthRef): Promise<boolean> {
  const name = partitionName(table, month);
  const from = monthStart(month).toISOString();
  const to = monthStart(addMonths(month, 1)).toISOString();
  for (let attempt = 1; ; attempt++) {
    const exists = await client.query(`/* partitions.exists */ SELECT 1 FROM pg_class WHERE relname = $1 AND relnamespace = 'public'::regnamespace`, [name]);
    if (exists.rowCount) return false;
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT_MS}ms'`);
      await client.query(`/* partitions.create */ CREATE TABLE IF NOT EXISTS "${name}" PARTITION OF "${table}" FOR VALUES FROM ('${from}') TO ('${to}')`);
      await client.query('COMMIT');
      return true;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      const code = (err as { code?: string }).code;
      // 55P03 lock_not_available: someone holds the parent; 42P07 duplicate_table: a racing creator won.
      if (code === '42P07') return false;
      if (code !== '55P03' || attempt >= MAX_ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, 50 * attempt + Math.random() * 100));
    }
  }
}

export async function ensureMonthPartitions(client: pg.ClientBase, table: PartitionedTable, months: readonly MonthRef[]): Promise<number> {
  let created = 0;
  for (const m of months) if (await ensureMonthPartition(client, table, m)) created++;
  return created;
}
