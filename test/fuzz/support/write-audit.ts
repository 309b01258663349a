import type pg from 'pg';

/**
 * A write detector for the fuzzer's test database: every INSERT, UPDATE or DELETE that
 * touches at least one row of any table in `public` (statement-level AFTER triggers with
 * transition tables, so a statement that matched nothing does not count), every TRUNCATE,
 * and every DDL command (an event trigger: e.g. a partition created on demand) appends a
 * row to `fuzz_audit`, stamped with clock_timestamp(). The audit is transactional, so a
 * write that was rolled back leaves no trace, exactly like the change it records.
 *
 * The fuzzer sends one request at a time and notes when each started and ended (same host,
 * same clock), so every audit row can be attributed to the request during which it was
 * written: "a rejected request changes nothing" is then checked for every request without
 * a database round trip per request. The triggers exist only in the fuzzer's cloned database.
 */
export async function installWriteAudit(admin: pg.ClientBase): Promise<void> {
  await admin.query(`
    CREATE TABLE fuzz_audit (id bigserial PRIMARY KEY, tbl text NOT NULL, op text NOT NULL, n bigint, at timestamptz NOT NULL DEFAULT clock_timestamp());
    CREATE FUNCTION fuzz_audit_rows() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO fuzz_audit (tbl, op, n) SELECT TG_TABLE_NAME, TG_OP, count(*) FROM changed HAVING count(*) > 0;
      RETURN NULL;
    END $$;
    CREATE FUNCTION fuzz_audit_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO fuzz_audit (tbl, op) VALUES (TG_TABLE_NAME, TG_OP);
      RETURN NULL;
    END $$;
    CREATE FUNCTION fuzz_audit_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO fuzz_audit (tbl, op) VALUES ('ddl', tg_tag);
    END $$;`);
  // Partitions are covered by their parent's triggers (transition tables are not allowed on partitions).
  const { rows } = await admin.query<{ name: string }>(`
    SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname <> 'fuzz_audit'`);
  for (const { name } of rows) {
    const t = `"${name}"`;
    await admin.query(`
      CREATE TRIGGER fuzz_audit_ins AFTER INSERT ON ${t} REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION fuzz_audit_rows();
      CREATE TRIGGER fuzz_audit_upd AFTER UPDATE ON ${t} REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION fuzz_audit_rows();
      CREATE TRIGGER fuzz_audit_del AFTER DELETE ON ${t} REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION fuzz_audit_rows();
      CREATE TRIGGER fuzz_audit_trunc AFTER TRUNCATE ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION fuzz_audit_truncate();`);
  }
  await admin.query(`CREATE EVENT TRIGGER fuzz_audit_ddl ON ddl_command_end EXECUTE FUNCTION fuzz_audit_ddl()`);
}

export interface AuditRow { readonly id: number; readonly atMs: number; readonly what: string }

/** Audit rows after `afterId`, with their wall-clock time in epoch milliseconds. */
export async function auditRows(admin: pg.ClientBase, afterId = 0): Promise<AuditRow[]> {
  const { rows } = await admin.query<{ id: string; ms: string; tbl: string; op: string; n: string | null }>(
    `SELECT id::text, (extract(epoch FROM at) * 1000)::text AS ms, tbl, op, n::text FROM fuzz_audit WHERE id > $1 ORDER BY id`, [afterId]);
  return rows.map((r) => ({ id: Number(r.id), atMs: Number(r.ms), what: `${r.op} ${r.tbl}${r.n ? ` (${r.n} rows)` : ''}` }));
}

/** Event triggers are per database, but drop it anyway before the database goes. */
export async function removeWriteAudit(admin: pg.ClientBase): Promise<void> {
  await admin.query('DROP EVENT TRIGGER IF EXISTS fuzz_audit_ddl');
}
