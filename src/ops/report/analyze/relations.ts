import type { IndexUsageRow, LatestTableRow, TableScanRow } from '../gather.ts';
import type { BloatRow, DuplicateIndexRow, SeqScanRow, UnusedIndexRow } from '../model.ts';
import { THRESHOLDS } from '../thresholds.ts';

const qualified = (schema: string, name: string) => (schema === 'public' ? name : `${schema}.${name}`);

/** Sequential scans in the month on tables (or partitions, each by its own size) above the row threshold. */
export function seqScansOnLargeTables(scans: readonly TableScanRow[], tables: readonly LatestTableRow[], minRows: number = THRESHOLDS.largeTableRows): SeqScanRow[] {
  const latest = new Map(tables.map((t) => [`${t.schema_name}.${t.table_name}`, t]));
  return scans.flatMap((s) => {
    const t = latest.get(`${s.schema_name}.${s.table_name}`);
    if (!t || s.seq_scans <= 0 || t.live_rows < minRows) return [];
    return [{ table: qualified(s.schema_name, s.table_name), seqScans: s.seq_scans, seqTupRead: s.seq_tup_read, idxScans: s.idx_scans, liveRows: t.live_rows, totalBytes: t.total_bytes }];
  }).sort((a, b) => b.seqTupRead - a.seqTupRead || a.table.localeCompare(b.table));
}

/** An index as the report reasons about it: a partitioned index stands for all its partition indexes. */
interface IndexGroup {
  readonly schema: string;
  readonly name: string;
  readonly table: string;
  readonly members: IndexUsageRow[];
  readonly scans: number;
  readonly sizeBytes: number;
  readonly observedDays: number;
  readonly constraint: boolean;
  readonly method: string;
  readonly keys: string[];
  readonly predicate: string | null;
  readonly unique: boolean;
}

export function groupIndexes(rows: readonly IndexUsageRow[], tables: readonly LatestTableRow[]): IndexGroup[] {
  const parentOf = new Map(tables.map((t) => [`${t.schema_name}.${t.table_name}`, t.parent_table]));
  const groups = new Map<string, IndexUsageRow[]>();
  for (const r of rows) {
    const key = `${r.schema_name}.${r.parent_index ?? r.index_name}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((members) => {
    const first = members[0] as IndexUsageRow;
    const table = parentOf.get(`${first.schema_name}.${first.table_name}`) ?? first.table_name;
    return {
      schema: first.schema_name, name: first.parent_index ?? first.index_name, table: qualified(first.schema_name, table), members,
      scans: members.reduce((a, m) => a + m.scans, 0), sizeBytes: members.reduce((a, m) => a + m.size_bytes, 0),
      observedDays: Math.min(...members.map((m) => m.observed_days)),
      constraint: members.some((m) => m.is_unique || m.is_primary), unique: members.some((m) => m.is_unique),
      method: first.method, keys: first.key_columns.split(', '), predicate: first.predicate,
    };
  });
}

/** Indexes with no scan on any node for the whole month (constraint indexes excluded: they cannot go). */
export function unusedIndexes(groups: readonly IndexGroup[]): UnusedIndexRow[] {
  return groups
    .filter((g) => !g.constraint && g.scans === 0 && g.observedDays >= THRESHOLDS.unusedMinObservedDays)
    .map((g) => {
      const first = g.members[0] as IndexUsageRow;
      const definition = g.members.length === 1 ? first.definition : `${first.definition} (one of ${g.members.length} partition indexes of ${g.name})`;
      return { index: qualified(g.schema, g.name), table: g.table, sizeBytes: g.sizeBytes, definition, observedDays: g.observedDays };
    })
    .sort((a, b) => b.sizeBytes - a.sizeBytes || a.index.localeCompare(b.index));
}

function isPrefix(short: readonly string[], long: readonly string[]): boolean {
  return short.length <= long.length && short.every((c, i) => c === long[i]);
}

/**
 * Duplicate (covered) indexes, PgHero's rule: an index whose key columns are a leading prefix of
 * another B-tree index's on the same table with the same predicate. A unique index is never the
 * duplicate (it enforces something); of two identical plain indexes, the later name is reported.
 */
export function duplicateIndexes(groups: readonly IndexGroup[]): DuplicateIndexRow[] {
  const out: DuplicateIndexRow[] = [];
  for (const a of groups) {
    if (a.unique) continue;
    const cover = groups
      .filter((b) => b !== a && b.table === a.table && b.method === a.method && (b.predicate ?? '') === (a.predicate ?? ''))
      .filter((b) => (a.method === 'btree' ? isPrefix(a.keys, b.keys) : a.keys.join() === b.keys.join()))
      .filter((b) => b.keys.length > a.keys.length || b.unique || b.name < a.name)
      .sort((x, y) => x.keys.length - y.keys.length || x.name.localeCompare(y.name))[0];
    if (cover) {
      out.push({ index: qualified(a.schema, a.name), coveredBy: qualified(cover.schema, cover.name), table: a.table, columns: a.keys.join(', '), coveringColumns: cover.keys.join(', '), sizeBytes: a.sizeBytes });
    }
  }
  return out.sort((x, y) => y.sizeBytes - x.sizeBytes || x.index.localeCompare(y.index));
}

/** Dead-tuple bloat from n_dead_tup at the month's last sample; the worst ten by space. */
export function bloatEstimate(tables: readonly LatestTableRow[]): BloatRow[] {
  return tables
    .filter((t) => t.dead_rows > 0)
    .map((t) => {
      const deadRatio = t.dead_rows / (t.live_rows + t.dead_rows);
      return {
        table: qualified(t.schema_name, t.table_name), liveRows: t.live_rows, deadRows: t.dead_rows, deadRatio,
        tableBytes: t.table_bytes, estimatedBloatBytes: Math.round(t.table_bytes * deadRatio),
        lastAutovacuum: t.last_autovacuum ? t.last_autovacuum.toISOString() : null,
      };
    })
    .sort((a, b) => b.estimatedBloatBytes - a.estimatedBloatBytes || b.deadRatio - a.deadRatio)
    .slice(0, 10);
}
