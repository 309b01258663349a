import pg from 'pg';
import type { Config } from '../../config/index.ts';
import { BASELINE_SQL } from './baseline.sql.ts';
import { adminClient, benchUrls, migrateDatabase, readMarker, writeMarker, type BenchDbMarker, type BenchUrls } from './bench-db.ts';
import { sleep } from './processes.ts';

/**
 * The baseline database (DESIGN §5): the same data as the optimized bench database in
 * the naive "before phase 1" schema: no partitions (messages and status_updates become
 * plain tables), primary keys only (every non-unique secondary index dropped: no FK
 * indexes, no GIN/GiST/BRIN, no partial or covering indexes). Built by copying the
 * optimized database (CREATE DATABASE … TEMPLATE, a file copy) and converting it in
 * place, which is several times faster than seeding the preset again.
 */
export interface BaselineMarker {
  readonly kind: 'bgc-bench-baseline';
  readonly source: BenchDbMarker;
  readonly converted_at: string;
  readonly seconds: { readonly copy: number; readonly convert: number; readonly vacuum: number };
  readonly unpartitioned: readonly string[];
  readonly dropped_indexes: number;
  readonly kept_unique_indexes: readonly string[];
}

const id = pg.escapeIdentifier;

export async function ensureBaselineDatabase(config: Config, source: { urls: BenchUrls; marker: BenchDbMarker }, progress: (m: string) => void): Promise<{ urls: BenchUrls; marker: BaselineMarker; reused: boolean }> {
  const database = `${source.urls.database}_baseline`;
  const urls = benchUrls(config, database);
  const admin = await adminClient(config);
  try {
    const existing = await readMarker<BaselineMarker>(admin, database);
    if (existing?.kind === 'bgc-bench-baseline' && existing.source.seeded_at === source.marker.seeded_at) {
      if (existing.source.schema === source.marker.schema) {
        progress(`${database}: reusing the baseline copy (converted ${existing.converted_at})`);
        return { urls, marker: existing, reused: true };
      }
      // Same data, newer migrations: apply them here too and convert again (cheap),
      // rather than copying a large database again. Any failure falls back to a copy.
      try {
        progress(`${database}: applying new migrations to the baseline copy and converting again`);
        await migrateDatabase(urls.primaryUrl);
        const converted = await convert(urls.primaryUrl);
        const marker: BaselineMarker = { ...existing, source: source.marker, converted_at: new Date().toISOString(), dropped_indexes: existing.dropped_indexes + converted.droppedIndexes, kept_unique_indexes: converted.keptUnique };
        await writeMarker(admin, database, marker);
        return { urls, marker, reused: true };
      } catch (err) {
        progress(`${database}: updating in place failed (${err instanceof Error ? err.message : String(err)}); copying again`);
      }
    }
    progress(`${database}: copying ${source.urls.database} (CREATE DATABASE … TEMPLATE)`);
    const t0 = performance.now();
    await admin.query(`DROP DATABASE IF EXISTS ${id(database)} WITH (FORCE)`);
    await copyWhenFree(admin, database, source.urls.database, progress);
    const copySeconds = (performance.now() - t0) / 1000;
    progress(`${database}: converting to the naive schema (plain tables, primary keys only)`);
    const converted = await convert(urls.primaryUrl);
    const marker: BaselineMarker = {
      kind: 'bgc-bench-baseline',
      source: source.marker,
      converted_at: new Date().toISOString(),
      seconds: { copy: round1(copySeconds), convert: round1(converted.convertSeconds), vacuum: round1(converted.vacuumSeconds) },
      unpartitioned: converted.unpartitioned,
      dropped_indexes: converted.droppedIndexes,
      kept_unique_indexes: converted.keptUnique,
    };
    await writeMarker(admin, database, marker);
    progress(`${database}: ready in ${round1(copySeconds + converted.convertSeconds + converted.vacuumSeconds)} s (copy ${marker.seconds.copy} s, convert ${marker.seconds.convert} s, vacuum ${marker.seconds.vacuum} s)`);
    return { urls, marker, reused: false };
  } finally {
    await admin.end();
  }
}

/**
 * CREATE DATABASE … TEMPLATE needs the source to have no other session. Someone else's
 * short query (another tool reading the bench data) is waited out, never terminated.
 */
async function copyWhenFree(admin: pg.Client, target: string, source: string, progress: (m: string) => void): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (let attempt = 0; ; attempt++) {
    try {
      await admin.query(BASELINE_SQL.createFromTemplate(id(target), id(source)));
      return;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== '55006' || Date.now() > deadline) {
        const who = code === '55006' ? (await admin.query<{ apps: string }>(BASELINE_SQL.sessionsOn, [source])).rows[0]?.apps ?? '' : '';
        throw new Error(`cannot copy ${source}: ${err instanceof Error ? err.message : String(err)}${who ? ` (connected: ${who})` : ''}`, { cause: err });
      }
      if (attempt === 0) progress(`${source} is in use by another session; waiting for it to finish`);
      await sleep(2_000);
    }
  }
}

/**
 * Converts in small transactions so the disk never holds much more than the copy: the
 * secondary indexes go first (their space is freed at that commit), then each partition
 * moves into the plain table and is dropped in its own transaction. Nothing uses the
 * database meanwhile, and the marker is written only at the end, so an interrupted
 * conversion is redone from scratch next time.
 */
async function convert(url: string) {
  const c = new pg.Client({ connectionString: url, application_name: 'bgc-bench-setup' });
  await c.connect();
  try {
    const t0 = performance.now();
    await c.query('SET statement_timeout = 0');
    const secondary = (await c.query<{ name: string }>(BASELINE_SQL.secondaryIndexes)).rows;
    await inTransaction(c, async () => { for (const { name } of secondary) await c.query(BASELINE_SQL.dropIndex(name)); });
    const unpartitioned: string[] = [];
    for (const { name } of (await c.query<{ name: string }>(BASELINE_SQL.partitionedTables)).rows) {
      await unpartition(c, name);
      unpartitioned.push(name);
    }
    const keptUnique = (await c.query<{ name: string }>(BASELINE_SQL.uniqueIndexes)).rows.map((r) => r.name);
    const convertSeconds = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    // Fresh rows need their visibility map and statistics like the seeded database has.
    await c.query(BASELINE_SQL.vacuumAnalyze);
    return { unpartitioned, droppedIndexes: secondary.length, keptUnique, convertSeconds, vacuumSeconds: (performance.now() - t1) / 1000 };
  } finally {
    await c.end();
  }
}

async function inTransaction(c: pg.Client, fn: () => Promise<void>): Promise<void> {
  await c.query('BEGIN');
  try {
    await fn();
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** Replaces a partitioned table by a plain table with the same rows, keys and triggers. */
async function unpartition(c: pg.Client, table: string): Promise<void> {
  const t = id(table);
  const plain = id(`${table}__plain`);
  const own = (await c.query<{ name: string; type: string; def: string }>(BASELINE_SQL.ownConstraints, [table])).rows;
  const incoming = (await c.query<{ tbl: string; name: string; def: string }>(BASELINE_SQL.incomingForeignKeys, [table])).rows;
  const triggers = (await c.query<{ def: string }>(BASELINE_SQL.userTriggers, [table])).rows;
  await inTransaction(c, async () => {
    for (const fk of incoming) await c.query(BASELINE_SQL.dropConstraint(fk.tbl, id(fk.name)));
    await c.query(BASELINE_SQL.likeTable(plain, t));
  });
  for (const { name } of (await c.query<{ name: string }>(BASELINE_SQL.partitions, [table])).rows) {
    await inTransaction(c, async () => {
      await c.query(BASELINE_SQL.copyPartition(plain, name));
      await c.query(BASELINE_SQL.dropPartition(name));
    });
  }
  await inTransaction(c, async () => {
    await c.query(BASELINE_SQL.dropTable(t));
    await c.query(BASELINE_SQL.rename(plain, t));
    for (const k of own) await c.query(BASELINE_SQL.addConstraint(t, id(k.name), k.def));
    for (const tr of triggers) await c.query(tr.def);
    for (const fk of incoming) await c.query(BASELINE_SQL.addConstraint(fk.tbl, id(fk.name), fk.def));
  });
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}
