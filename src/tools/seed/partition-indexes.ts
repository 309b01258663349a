import type pg from 'pg';
import { INDEX_SQL } from './seed.sql.ts';

/**
 * Secondary indexes of a partitioned table, handled one partition at a time so that
 * building month N's indexes overlaps with loading month N+1 on another connection.
 *
 *   detach:   one short transaction drops each secondary index and recreates it at once
 *             `ON ONLY` the parent, with its comment. The parent index now exists with its
 *             exact definition but is invalid (planner ignores it) and has no children.
 *   per month (its own transaction): TRUNCATE, COPY … FREEZE, then `indexPartition`:
 *             CREATE INDEX on the partition (unnamed, so PostgreSQL picks the same name as
 *             when it cascades) and ALTER INDEX parent ATTACH PARTITION child.
 *   complete: partitions the seed did not load (months ahead) get theirs too; once every
 *             partition has its child, PostgreSQL marks the parent index valid.
 *
 * If the seed dies half way, the parent indexes stay invalid (`bgc doctor` reports them)
 * and the next `bgc seed` first runs `completePartitionedIndexes`, which finishes the job.
 */
export interface ParentIndex { readonly name: string; readonly definition: string; readonly comment: string | null }

export async function detachSecondaryIndexes(client: pg.ClientBase, table: string): Promise<void> {
  await client.query('BEGIN');
  try {
    const indexes = (await client.query<ParentIndex>(INDEX_SQL.secondary, [table])).rows;
    for (const ix of indexes) {
      if (!/ ON ONLY /.test(ix.definition)) throw new Error(`${ix.name} is not an index of a partitioned table`);
      await client.query(INDEX_SQL.drop(ix.name));
      await client.query(ix.definition); // "CREATE INDEX … ON ONLY parent …": no children, invalid
      if (ix.comment !== null) await client.query(`COMMENT ON INDEX ${client.escapeIdentifier(ix.name)} IS ${client.escapeLiteral(ix.comment)}`);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

interface MissingChild { parent_index: string; definition: string; partition: string }

/** The parent's definition, applied to one partition without a name. */
export function childDefinition(parentDefinition: string, partition: string): string {
  const out = parentDefinition.replace(/^CREATE (UNIQUE )?INDEX \S+ ON ONLY \S+ /, (_m, unique: string | undefined) => `CREATE ${unique ?? ''}INDEX ON ${partition} `);
  if (out === parentDefinition) throw new Error(`unexpected index definition: ${parentDefinition}`);
  return out;
}

/**
 * Creates and attaches the missing child indexes of one partition (or of every partition
 * of `table` when `partition` is omitted). Runs in the caller's transaction.
 */
export async function indexPartitions(client: pg.ClientBase, table: string, partition?: string): Promise<number> {
  const missing = (await client.query<MissingChild>(INDEX_SQL.missingChildren, [table, partition ?? null])).rows;
  if (missing.length > 0) await client.query(INDEX_SQL.buildMemory);
  const unattached = async (p: string) => (await client.query<{ name: string }>(INDEX_SQL.unattached, [p])).rows.map((r) => r.name);
  for (const m of missing) {
    const before = new Set(await unattached(m.partition));
    await client.query(childDefinition(m.definition, m.partition));
    const created = (await unattached(m.partition)).filter((n) => !before.has(n));
    if (created.length !== 1) throw new Error(`expected one new index on ${m.partition} for ${m.parent_index}, found ${created.length}`);
    await client.query(`ALTER INDEX ${m.parent_index} ATTACH PARTITION ${created[0] as string}`);
  }
  return missing.length;
}

/** Finishes every invalid secondary index of `table`; afterwards they must all be valid. */
export async function completePartitionedIndexes(client: pg.ClientBase, table: string): Promise<number> {
  await client.query('BEGIN');
  try {
    const created = await indexPartitions(client, table);
    const invalid = (await client.query<{ name: string }>(INDEX_SQL.invalidOf, [table])).rows;
    if (invalid.length > 0) throw new Error(`indexes still invalid on ${table}: ${invalid.map((r) => r.name).join(', ')}`);
    await client.query('COMMIT');
    return created;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
