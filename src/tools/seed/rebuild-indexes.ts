import type pg from 'pg';
import { INDEX_SQL } from './seed.sql.ts';

export interface IndexDefinition { readonly name: string; readonly definition: string; readonly comment: string | null }

/**
 * Loads a table with its secondary indexes dropped and rebuilds them after, all in ONE
 * transaction on one connection. Why drop: inserting millions of rows into B-trees and
 * GIN indexes one by one costs more than sorting them once (measured on `medium`
 * messages: 24.3 s with the indexes kept, 8.4 s load + 9.1 s build), and every index
 * insert is a WAL record that both replicas must replay, while a build writes whole
 * pages. Why one transaction: if the seed dies half way, PostgreSQL rolls the DROP back
 * and the indexes are there as before, nothing to repair by hand. The indexes come back
 * from pg_get_indexdef with their comments, so they are identical to the migration's
 * (partition children get the same generated names). The primary key and unique
 * indexes stay: they are constraints, and dropping them would not be "the same schema".
 */
export class IndexRebuild {
  private constructor(private readonly client: pg.ClientBase, private readonly indexes: IndexDefinition[]) {}

  /** BEGIN, then drop the table's secondary indexes (remembering their definitions). */
  static async begin(client: pg.ClientBase, table: string): Promise<IndexRebuild> {
    await client.query('BEGIN');
    try {
      const indexes = (await client.query<IndexDefinition>(INDEX_SQL.secondary, [table])).rows;
      for (const ix of indexes) await client.query(INDEX_SQL.drop(ix.name));
      return new IndexRebuild(client, indexes);
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  /** Recreates the indexes with their comments and commits. */
  async commit(): Promise<void> {
    try {
      await this.client.query(INDEX_SQL.buildMemory);
      for (const ix of this.indexes) {
        await this.client.query(cascadingDefinition(ix.definition));
        if (ix.comment !== null) await this.client.query(`COMMENT ON INDEX ${this.client.escapeIdentifier(ix.name)} IS ${this.client.escapeLiteral(ix.comment)}`);
      }
      await this.client.query('COMMIT');
    } catch (err) {
      await this.rollback();
      throw err;
    }
  }

  async rollback(): Promise<void> {
    await this.client.query('ROLLBACK').catch(() => undefined);
  }
}

export async function withIndexesRebuilt<T>(client: pg.ClientBase, table: string, load: () => Promise<T>, onRebuild: () => void = () => undefined): Promise<T> {
  const rebuild = await IndexRebuild.begin(client, table);
  let out: T;
  try {
    out = await load();
  } catch (err) {
    await rebuild.rollback();
    throw err;
  }
  onRebuild();
  await rebuild.commit();
  return out;
}

/**
 * pg_get_indexdef describes a partitioned table's index as `CREATE INDEX … ON ONLY parent`,
 * which would create only the (invalid) parent index. Without ONLY it cascades to every
 * partition, which is how the migration created it.
 */
export function cascadingDefinition(definition: string): string {
  return definition.replace(/^(CREATE (?:UNIQUE )?INDEX \S+ ON )ONLY /, '$1');
}
