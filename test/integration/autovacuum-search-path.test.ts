import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

/**
 * Autovacuum evaluates index expressions with search_path = pg_catalog. An expression that
 * reaches an extension's objects by unqualified name (earthdistance's ll_to_earth did, under
 * profiles_location_gist) makes every automatic ANALYZE of its table fail, once a minute, and
 * the table's statistics are never refreshed (migrations/0029). This runs ANALYZE and VACUUM of
 * every table the way autovacuum does, with rows in profiles so the index expression is
 * evaluated.
 */
let tdb: TestDatabase;
let admin: pg.Client;

beforeAll(async () => {
  tdb = await createTestDatabase('autovacuum');
  admin = await tdb.admin();
  await admin.query(`
    INSERT INTO users (id, email, username, password_hash)
    SELECT gen_random_uuid(), 'av' || i || '@example.test', 'av_user_' || i, 'x' FROM generate_series(1, 20) AS i`);
  await admin.query(`
    INSERT INTO profiles (user_id, display_name, lat, lng)
    SELECT id, username, 40 + random() * 10, -120 + random() * 40 FROM users WHERE username LIKE 'av_user_%'`);
});

afterAll(async () => {
  await admin?.end();
  await tdb?.drop();
});

describe('maintenance under autovacuum\'s search_path (pg_catalog)', () => {
  it('ANALYZEs and VACUUMs every table, profiles\' location index included', async () => {
    const tables = (await admin.query<{ name: string }>(`
      SELECT format('%I.%I', n.nspname, c.relname) AS name
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1`)).rows.map((r) => r.name);
    expect(tables).toContain('public.profiles');
    await admin.query('SET search_path = pg_catalog');
    const failed: string[] = [];
    for (const t of tables) {
      for (const command of [`ANALYZE ${t}`, `VACUUM ${t}`]) {
        await admin.query(command).catch((err: unknown) => { failed.push(`${command}: ${err instanceof Error ? err.message : String(err)}`); });
      }
    }
    await admin.query('RESET search_path');
    console.log(`[autovacuum] ANALYZE and VACUUM of ${tables.length} tables under search_path = pg_catalog: ${failed.length} failed`);
    expect(failed).toEqual([]);
    // The index is used: its statistics row exists once ANALYZE evaluated the expression.
    const { rows } = await admin.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_stats WHERE schemaname = 'public' AND tablename = 'profiles_location_gist'");
    expect(Number(rows[0]?.n)).toBeGreaterThan(0);
  });
});
