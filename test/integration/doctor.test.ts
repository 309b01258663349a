import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type pg from 'pg';
import type { Config } from '../../src/config/index.ts';
import { Database } from '../../src/db/database.ts';
import { runDoctor, CHECKS } from '../../src/tools/doctor/run-doctor.ts';
import type { DoctorReport } from '../../src/tools/doctor/types.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { PRIMARY_PORT, REPLICA_PORTS } from '../helpers/constants.ts';
import { connectNode } from '../../src/tools/stack/postgres-node.ts';

/** Waits (bounded) until both replicas replayed the primary's current WAL, e.g. our CREATE DATABASE. */
async function replicasCaughtUp(): Promise<void> {
  const p = await connectNode(PRIMARY_PORT);
  try {
    const lsn = (await p.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]?.lsn;
    for (const port of REPLICA_PORTS) {
      const r = await connectNode(port); // the postgres database: ours may not exist there yet
      try {
        for (let i = 0; i < 400; i++) {
          const ok = (await r.query<{ ok: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn])).rows[0]?.ok;
          if (ok) break;
          await new Promise((res) => setTimeout(res, 25));
        }
      } finally { await r.end(); }
    }
  } finally { await p.end(); }
}

let tdb: TestDatabase;
let admin: pg.Client;

async function doctor(config: Config): Promise<DoctorReport> {
  const db = new Database(config, { applicationName: 'bgc-doctor-test', lazy: true });
  try {
    return await runDoctor(config, db);
  } finally {
    await db.close();
  }
}

beforeAll(async () => {
  tdb = await createTestDatabase('doctor');
  admin = await tdb.admin();
  await replicasCaughtUp(); // the clone must exist on the replicas before we connect there
});
afterAll(async () => {
  await admin.end();
  await tdb.drop();
});

describe('bgc doctor', () => {
  it('reports zero findings on a freshly migrated database with the stack replicas and Redis', async () => {
    const report = await doctor(tdb.config());
    expect(report.findings).toEqual([]);
    expect(report.checks).toEqual([...CHECKS]);
  });

  it('reports exactly an unindexed foreign key, and nothing once it is indexed', async () => {
    await admin.query('CREATE TABLE scratch_fk (id bigint PRIMARY KEY, owner_id uuid REFERENCES users (id))');
    try {
      const report = await doctor(tdb.config());
      expect(report.findings).toHaveLength(1);
      expect(report.findings[0]).toMatchObject({ check: 'fk_index', severity: 'error', object: 'scratch_fk.owner_id' });
      // A partial index does not serve every FK lookup; a full one leading with the column does.
      await admin.query('CREATE INDEX scratch_fk_partial ON scratch_fk (owner_id) WHERE id > 0');
      expect((await doctor(tdb.config())).findings.map((f) => f.check)).toEqual(['fk_index']);
      await admin.query('CREATE INDEX scratch_fk_owner_idx ON scratch_fk (owner_id, id)');
      expect((await doctor(tdb.config())).findings).toEqual([]);
    } finally {
      await admin.query('DROP TABLE scratch_fk');
    }
  });

  it('reports a table without a primary key, duplicate indexes and an invalid index', async () => {
    await admin.query('CREATE TABLE scratch_nopk (a int, b int)');
    await admin.query('INSERT INTO scratch_nopk VALUES (1, 1), (1, 2)');
    await admin.query('CREATE INDEX scratch_dup_1 ON scratch_nopk (b)');
    await admin.query('CREATE INDEX scratch_dup_2 ON scratch_nopk (b)');
    // A unique build over duplicate values fails and leaves an invalid index behind.
    await expect(admin.query('CREATE UNIQUE INDEX CONCURRENTLY scratch_invalid ON scratch_nopk (a)')).rejects.toThrow(/could not create unique index/);
    try {
      const report = await doctor(tdb.config());
      const got = report.findings.map((f) => `${f.check} ${f.object}`).sort();
      expect(got).toEqual(['duplicate_index scratch_dup_1, scratch_dup_2', 'invalid_index scratch_invalid', 'primary_key scratch_nopk']);
      expect(report.findings.find((f) => f.check === 'duplicate_index')?.severity).toBe('warning');
    } finally {
      await admin.query('DROP TABLE scratch_nopk');
    }
  });

  it('reports an index whose SQL function autovacuum cannot resolve, and not one on a RETURN-body function', async () => {
    // ll_to_earth's body names cube and earth unqualified (what migrations/0029 replaced).
    await admin.query('CREATE TABLE scratch_geo (id int PRIMARY KEY, lat float8, lng float8)');
    await admin.query('CREATE INDEX scratch_geo_ll ON scratch_geo USING gist (ll_to_earth(lat, lng))');
    try {
      const report = await doctor(tdb.config());
      expect(report.checks).toContain('index_search_path');
      expect(report.findings.map((f) => `${f.check} ${f.object}`)).toEqual(['index_search_path scratch_geo_ll']);
      expect(report.findings[0]?.detail).toContain('ll_to_earth(double precision,double precision)');
      await admin.query('DROP INDEX scratch_geo_ll');
      await admin.query('CREATE INDEX scratch_geo_point ON scratch_geo USING gist (earth_point(lat, lng))');
      expect((await doctor(tdb.config())).findings).toEqual([]);
    } finally {
      await admin.query('DROP TABLE scratch_geo');
    }
  });

  it('reports a node that is not a streaming replica, an unreachable replica and an unreachable Redis', async () => {
    const primaryAsReplica = `postgres://postgres@127.0.0.1:${PRIMARY_PORT}/${tdb.name}`;
    const nobody = `postgres://postgres@127.0.0.1:1/${tdb.name}`;
    const report = await doctor(tdb.config({
      DATABASE_REPLICA_URLS: [...tdb.replicaUrls, primaryAsReplica, nobody].join(','),
      REDIS_URL: 'redis://127.0.0.1:1',
    }));
    const got = report.findings.map((f) => `${f.check} ${f.object.split(' ')[0] ?? ''} ${f.detail.split(':')[0] ?? ''}`).sort();
    expect(got).toEqual([
      'redis_memory redis unreachable',
      'replication primary 4 replica(s) configured but 2 streaming in pg_stat_replication (replica1',
      'replication replica3 not in recovery',
      'replication replica4 unreachable',
    ]);
  });

  it('the CLI prints JSON {findings, checks} and exits 1 on a finding', async () => {
    await admin.query('CREATE TABLE scratch_cli (id int)');
    try {
      const root = path.resolve(import.meta.dirname, '../..');
      const out = await promisify(execFile)(process.execPath, [path.join(root, 'bin/bgc.js'), 'doctor', '--json'], {
        cwd: root, timeout: 30_000,
        env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: tdb.primaryUrl, DATABASE_REPLICA_URLS: tdb.replicaUrls.join(','), REDIS_URL: tdb.config().redis.url },
      }).then(() => ({ code: 0, stdout: '' }), (e: unknown) => e as { code: number; stdout: string });
      expect(out.code).toBe(1);
      const report = JSON.parse(out.stdout) as DoctorReport;
      expect(report.checks).toEqual([...CHECKS]);
      expect(report.findings).toEqual([expect.objectContaining({ check: 'primary_key', object: 'scratch_cli' })]);
    } finally {
      await admin.query('DROP TABLE scratch_cli');
    }
  });
});
