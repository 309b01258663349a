import crypto from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import type { Config } from '../../config/index.ts';
import { loadMigrations, migrate, MigrationError } from '../../db/migrator.ts';
import { BENCH_SQL } from './bench.sql.ts';
import { PRESETS } from '../seed/presets.ts';
import { projectRoot, runBgc, sleep } from './processes.ts';

/**
 * The bench databases: `bgc_bench_<preset>` (seeded, fully optimized schema) and
 * `bgc_bench_<preset>_baseline` (the same data in the naive schema, baseline-db.ts),
 * side by side with `bgc` on the same stack. A marker in the database's COMMENT says
 * what is in it, so a later run reuses it instead of seeding again.
 */
export type Preset = 'small' | 'medium' | 'large';

export interface BenchDbMarker {
  readonly kind: 'bgc-bench';
  readonly preset: Preset;
  readonly seed: number;
  /** Hash of the migration files applied: a schema change invalidates the baseline copy. */
  readonly schema: string;
  readonly seeded_at: string;
  readonly seed_seconds: number;
}

export interface BenchUrls {
  readonly database: string;
  readonly primaryUrl: string;
  readonly replicaUrls: readonly string[];
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export function benchUrls(config: Config, database: string): BenchUrls {
  return {
    database,
    primaryUrl: withDatabase(config.database.primaryUrl, database),
    replicaUrls: config.database.replicaUrls.map((u) => withDatabase(u, database)),
  };
}

export function schemaFingerprint(): string {
  const h = crypto.createHash('sha256');
  for (const m of loadMigrations(path.join(projectRoot, 'migrations'))) h.update(`${m.name}:${m.checksum}\n`);
  return h.digest('hex').slice(0, 16);
}

export async function adminClient(config: Config): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: withDatabase(config.database.primaryUrl, 'postgres'), application_name: 'bgc-bench-setup' });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

export async function readMarker<T>(admin: pg.Client, database: string): Promise<T | undefined> {
  const res = await admin.query<{ comment: string | null }>(BENCH_SQL.databaseComment, [database]);
  const raw = res.rows[0]?.comment;
  if (!raw) return undefined;
  try { return JSON.parse(raw) as T; } catch { return undefined; }
}

export async function writeMarker(admin: pg.Client, database: string, marker: object): Promise<void> {
  // COMMENT takes no parameters; the literal is escaped by the server's quote_literal.
  const lit = (await admin.query<{ q: string }>('SELECT quote_literal($1) AS q', [JSON.stringify(marker)])).rows[0]?.q ?? "''";
  await admin.query(`COMMENT ON DATABASE ${pg.escapeIdentifier(database)} IS ${lit}`);
}

/**
 * Makes sure `bgc_bench_<preset>` holds the preset: reuses it when its marker says so
 * (applying any new migration first), else recreates and seeds it with `bgc seed`.
 */
export async function ensureBenchDatabase(config: Config, preset: Preset, progress: (m: string) => void): Promise<{ urls: BenchUrls; marker: BenchDbMarker; reused: boolean }> {
  const database = `bgc_bench_${preset}`;
  const urls = benchUrls(config, database);
  const admin = await adminClient(config);
  try {
    const exists = (await admin.query(BENCH_SQL.databaseExists, [database])).rowCount === 1;
    const marker = exists ? await readMarker<BenchDbMarker>(admin, database) : undefined;
    let applied: string[] | undefined;
    if (marker && marker.kind === 'bgc-bench' && marker.preset === preset) {
      // A migration edited after it was applied here cannot be undone: a bench database
      // is disposable, so it is seeded again rather than left unusable.
      applied = await migrateDatabase(urls.primaryUrl).catch((err: unknown) => {
        if (err instanceof MigrationError) { progress(`${database}: ${err.message}; seeding it again`); return undefined; }
        throw err;
      });
    }
    const complete = applied !== undefined && await hasPresetRows(urls.primaryUrl, preset);
    if (marker && marker.kind === 'bgc-bench' && marker.preset === preset && applied !== undefined && !complete) {
      progress(`${database}: fewer messages than the preset has (rows were archived or deleted); seeding it again`);
    }
    if (marker && marker.kind === 'bgc-bench' && marker.preset === preset && applied !== undefined && complete) {
      const schema = schemaFingerprint();
      const current = { ...marker, schema };
      if (applied.length > 0 || marker.schema !== schema) {
        progress(`${database}: applied ${applied.length} new migration(s)`);
        await writeMarker(admin, database, current);
      }
      progress(`${database}: reusing the ${preset} dataset seeded ${marker.seeded_at}`);
      return { urls, marker: current, reused: true };
    }
    progress(`${database}: creating and seeding preset ${preset} (${exists ? 'replacing the existing one' : 'new'})`);
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
    await migrateDatabase(urls.primaryUrl);
    const started = performance.now();
    await runBgc(['seed', '--preset', preset, '--json'], { DATABASE_URL: urls.primaryUrl, DATABASE_REPLICA_URLS: urls.replicaUrls.join(',') }, 30 * 60_000);
    const fresh: BenchDbMarker = {
      kind: 'bgc-bench', preset, seed: 42, schema: schemaFingerprint(),
      seeded_at: new Date().toISOString(), seed_seconds: Math.round((performance.now() - started) / 100) / 10,
    };
    await writeMarker(admin, database, fresh);
    progress(`${database}: seeded in ${fresh.seed_seconds} s`);
    return { urls, marker: fresh, reused: false };
  } finally {
    await admin.end();
  }
}

/** The preset's messages are all there (bench writes only add rows); 2% slack for the estimate. */
async function hasPresetRows(url: string, preset: Preset): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, application_name: 'bgc-bench-setup' });
  await c.connect();
  try {
    const n = (await c.query<{ n: number }>(BENCH_SQL.estimatedRows, ['messages'])).rows[0]?.n ?? 0;
    return n >= PRESETS[preset].messages * 0.98;
  } finally {
    await c.end();
  }
}

export async function migrateDatabase(url: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url, application_name: 'bgc-bench-setup' });
  await c.connect();
  try {
    const applied = await migrate(c, path.join(projectRoot, 'migrations'));
    return applied.map((m) => m.name);
  } finally {
    await c.end();
  }
}

/** Waits until every replica has replayed the primary's current WAL position. */
export async function waitForReplicas(primaryUrl: string, replicaUrls: readonly string[], timeoutMs: number): Promise<void> {
  const p = new pg.Client({ connectionString: primaryUrl, application_name: 'bgc-bench-setup' });
  await p.connect();
  try {
    const lsn = (await p.query<{ lsn: string }>(BENCH_SQL.primaryLsn)).rows[0]?.lsn;
    const deadline = Date.now() + timeoutMs;
    for (const url of replicaUrls) {
      const r = new pg.Client({ connectionString: url, application_name: 'bgc-bench-setup' });
      await r.connect();
      try {
        for (;;) {
          const ok = (await r.query<{ ok: boolean }>(BENCH_SQL.replayedPast, [lsn])).rows[0]?.ok;
          if (ok) break;
          if (Date.now() > deadline) throw new Error(`replica ${new URL(url).port} did not catch up within ${timeoutMs} ms`);
          await sleep(200);
        }
      } finally { await r.end(); }
    }
  } finally { await p.end(); }
}
