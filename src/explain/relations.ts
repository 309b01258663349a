import type { Database } from '../db/database.ts';
import { RELATION_FACTS_SQL, boundedCountSql } from './explain.sql.ts';

/** What the audit needs to know about a relation a plan reads. */
export interface RelationFacts {
  readonly name: string;
  /** Estimated rows (pg_class.reltuples); a bounded exact count if never analyzed. */
  readonly rows: number;
  /** Where `rows` came from: the planner's statistics or the bounded count. */
  readonly rowsSource: 'reltuples' | 'bounded_count';
  /** For a partition: its partitioned root and how many leaf partitions the root has. */
  readonly root: string | undefined;
  readonly rootLeaves: number | undefined;
}

interface FactsRow {
  name: string;
  qualified: string;
  reltuples: number;
  is_partition: boolean;
  root: string | null;
  root_leaves: number | null;
}

/**
 * Looks relations up once per audit run (the catalogs do not change under it) on the
 * primary; replicas are physical copies, so their catalogs and statistics are the same.
 */
export class RelationCatalog {
  readonly #known = new Map<string, RelationFacts>();

  constructor(private readonly db: Database, private readonly countLimit: number) {}

  async facts(names: readonly string[]): Promise<Map<string, RelationFacts>> {
    const missing = [...new Set(names)].filter((n) => !this.#known.has(n));
    if (missing.length > 0) await this.#load(missing);
    const out = new Map<string, RelationFacts>();
    for (const n of names) {
      const f = this.#known.get(n);
      if (f) out.set(n, f);
    }
    return out;
  }

  async #load(names: string[]): Promise<void> {
    await this.db.withPrimaryClient(async (client) => {
      const res = await client.query<FactsRow>(RELATION_FACTS_SQL, [names]);
      for (const row of res.rows) {
        let rows = row.reltuples;
        let rowsSource: RelationFacts['rowsSource'] = 'reltuples';
        // reltuples = -1: never vacuumed or analyzed (PostgreSQL 14+). Count, but only up to
        // just past the threshold, so a fresh big table is still caught and stays cheap.
        if (rows < 0) {
          const counted = await client.query<{ n: number }>(boundedCountSql(row.qualified, this.countLimit));
          rows = counted.rows[0]?.n ?? 0;
          rowsSource = 'bounded_count';
        }
        this.#known.set(row.name, {
          name: row.name,
          rows,
          rowsSource,
          root: row.is_partition && row.root ? row.root : undefined,
          rootLeaves: row.root_leaves ?? undefined,
        });
      }
    });
  }
}
