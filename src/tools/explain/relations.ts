import type { Database } from '../../db/database.ts';
import { RELATION_FACTS_SQL, boundedCountSql } from './explain.sql.ts';
import type { RelationRef } from './plan.ts';

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
  key: string;
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

  /** Facts keyed by RelationRef.key. */
  async facts(refs: readonly RelationRef[]): Promise<Map<string, RelationFacts>> {
    const missing = [...new Map(refs.filter((r) => !this.#known.has(r.key)).map((r) => [r.key, r])).values()];
    if (missing.length > 0) await this.#load(missing);
    const out = new Map<string, RelationFacts>();
    for (const r of refs) {
      const f = this.#known.get(r.key);
      if (f) out.set(r.key, f);
    }
    return out;
  }

  async #load(refs: RelationRef[]): Promise<void> {
    await this.db.withPrimaryClient(async (client) => {
      const res = await client.query<FactsRow>(RELATION_FACTS_SQL, [refs.map((r) => r.key), refs.map((r) => r.schema ?? ''), refs.map((r) => r.name)]);
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
        this.#known.set(row.key, {
          name: row.key,
          rows,
          rowsSource,
          root: row.is_partition && row.root ? row.root : undefined,
          rootLeaves: row.root_leaves ?? undefined,
        });
      }
    });
  }
}
