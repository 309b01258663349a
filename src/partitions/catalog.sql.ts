/**
 * Read-only catalog queries of partition maintenance. Plain SQL run on a maintenance
 * session (not catalog entries: they read pg_catalog, never user data). Partitions live in
 * `public`; archived tables may live in `archive`.
 */

/** Where a table named $1 is: attached (and pending detach?), standalone, or absent. */
export const RELATION_STATE_SQL = `
SELECT n.nspname AS schema, i.inhparent::regclass::text AS parent, COALESCE(i.inhdetachpending, false) AS pending
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
WHERE c.relname = $1 AND n.nspname IN ('public', 'archive') AND c.relkind IN ('r', 'p')
ORDER BY n.nspname = 'public' DESC`;

/** Every child of the partitioned tables, with its bounds, size and row estimate. */
export const LIST_PARTITIONS_SQL = `
SELECT p.relname AS parent, c.relname AS name, i.inhdetachpending AS pending,
       pg_get_expr(c.relpartbound, c.oid) AS bounds,
       GREATEST(c.reltuples, 0)::bigint AS estimated_rows,
       pg_total_relation_size(c.oid)::bigint AS total_bytes
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_class p ON p.oid = i.inhparent
WHERE p.relname = ANY($1::text[]) AND p.relnamespace = 'public'::regnamespace
ORDER BY p.relname, c.relname`;

/** Partitions left half-detached by an interrupted DETACH … CONCURRENTLY. */
export const PENDING_DETACHES_SQL = `
SELECT p.relname AS parent, c.relname AS name
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_class p ON p.oid = i.inhparent
WHERE i.inhdetachpending AND p.relnamespace = 'public'::regnamespace
ORDER BY c.relname`;

/** Foreign keys a (detached) table still carries; each must be dropped on its own. */
export const FOREIGN_KEYS_SQL = `
SELECT con.conname AS name, con.confrelid::regclass::text AS referenced
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = $1 AND n.nspname = $2 AND con.contype = 'f'
ORDER BY con.conname`;

/** Tables the parent's foreign keys point at (for the dry run's lock descriptions). */
export const IN_RECOVERY_SQL = `SELECT pg_is_in_recovery() AS in_recovery`;
