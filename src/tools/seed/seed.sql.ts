/**
 * SQL the seed sends (maintenance statements, not app queries, so not catalog entries).
 * Table names are constants from this file, never input.
 */

/** Every table the seed fills, in an order that respects foreign keys. */
export const SEEDED_TABLES = [
  'users', 'sessions', 'profiles', 'relationships', 'profile_ratings', 'chat_rooms', 'conversations',
  'conversation_members', 'messages', 'status_updates', 'post_comments', 'community_groups', 'group_memberships',
  'photos', 'moderation_cases', 'content_reports',
] as const;
export type SeededTable = (typeof SEEDED_TABLES)[number];

/** Tables no foreign key points at: these (and the monthly partitions) can be loaded with COPY FREEZE. */
export const FREEZABLE = new Set<string>(['profiles', 'relationships', 'profile_ratings', 'conversation_members', 'post_comments', 'group_memberships', 'photos', 'content_reports']);

export const SEED_SQL = {
  /** Any row in any seeded table (cheap: stops at the first row found). */
  anyRows: `/* seed.any_rows */ SELECT ${SEEDED_TABLES.map((t) => `EXISTS (SELECT 1 FROM ${t})`).join(' OR ')} AS non_empty`,
  /** A run's start (migration 0038): its id, for `runFinished`. */
  runStarted: `/* seed.run_started */ INSERT INTO seed_runs (preset, seed) VALUES ($1, $2) RETURNING id::text AS id`,
  runFinished: `/* seed.run_finished */ UPDATE seed_runs SET finished_at = now() WHERE id = $1::bigint`,
  /** Whether the latest seed run never finished (none ran: false). */
  lastRunUnfinished: `/* seed.last_run_unfinished */ SELECT coalesce((SELECT finished_at IS NULL FROM seed_runs ORDER BY id DESC LIMIT 1), false) AS unfinished`,
  /** The latest seed run that never finished, if the latest one did not. */
  unfinishedRun: `/* seed.unfinished_run */ SELECT preset, seed::float8 AS seed FROM (SELECT * FROM seed_runs ORDER BY id DESC LIMIT 1) r WHERE r.finished_at IS NULL`,
  /**
   * One seed at a time per database: a session advisory lock held for the whole run (the
   * migrator's key is 727160001). A second seed, or a second `npm start` finding the first's
   * unfinished run, is refused instead of emptying tables under the first one's load.
   */
  tryLock: `/* seed.try_lock */ SELECT pg_try_advisory_lock(727160002) AS locked`,
  unlock: `/* seed.unlock */ SELECT pg_advisory_unlock(727160002)`,
  /** Someone signed in (the seed writes no sessions): the database has been used. */
  anySession: `/* seed.any_session */ SELECT EXISTS (SELECT 1 FROM sessions) AS has_sessions`,
  /** `npm start` seeds demo data only into a database without users. */
  anyUser: `/* seed.any_user */ SELECT EXISTS (SELECT 1 FROM users) AS has_users`,
  /** CASCADE also empties tables other features hang off users (none in the core schema). */
  truncateAll: `/* seed.truncate */ TRUNCATE ${SEEDED_TABLES.join(', ')} CASCADE`,
  /**
   * Session settings of a loading connection:
   *  - synchronous_commit off: a crash may lose the last commits of a seed, which we would
   *    rerun anyway; it saves a WAL flush wait per COPY;
   *  - session_replication_role replica: foreign-key triggers do not fire, so COPY does
   *    not probe the parent table's index once per row per key (30M probes for `large`).
   *    The generator only ever references rows it creates, and the seed test checks it.
   *    Needs superuser (what pg_restore --disable-triggers needs too);
   *  - no statement timeout: a month of `large` messages is one long COPY;
   *  - no parallel index-build workers: the seed's own lanes already keep both cores
   *    busy, and parallel builds cost more CPU in total (workers sort into temporary
   *    tapes the leader merges): measured 12–25 s of worker CPU on `large`.
   */
  sessionSetup: [
    `SET synchronous_commit = off`,
    `SET session_replication_role = replica`,
    `SET statement_timeout = 0`,
    `SET max_parallel_maintenance_workers = 0`,
    `SET lock_timeout = '60s'`,
  ],
  sessionReset: `RESET ALL`,
  /**
   * After each table's load. Tables loaded without FREEZE get a VACUUM as well, so their
   * visibility map is set (index-only scans) before the app reads them.
   */
  analyze: (table: SeededTable) => `/* seed.analyze */ ${FREEZABLE.has(table) || table === 'messages' || table === 'status_updates' ? 'ANALYZE' : 'VACUUM (ANALYZE)'} ${table}`,
  /** The bulk load fires no triggers: conversations.blocked (migration 0042) is set once here. */
  conversationBlocks: `/* seed.conversation_blocks */ UPDATE conversations c SET blocked = true
    FROM (SELECT DISTINCT least(r.user_id, r.target_id) AS lo, greatest(r.user_id, r.target_id) AS hi
            FROM relationships r WHERE r.kind = 'block') p
    WHERE c.user_low = p.lo AND c.user_high = p.hi`,
  counts: `/* seed.counts */ SELECT ${SEEDED_TABLES.map((t) => `(SELECT count(*) FROM ${t})::bigint AS ${t}`).join(', ')}`,
} as const;

export const INDEX_SQL = {
  /**
   * Secondary indexes of a table: not the primary key, not unique, not backing a
   * constraint. Their exact definitions and comments, to recreate them identically.
   */
  secondary: `/* seed.secondary_indexes */
    SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition, obj_description(i.indexrelid, 'pg_class') AS comment
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     WHERE i.indrelid = $1::regclass AND NOT i.indisprimary AND NOT i.indisunique
       AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
     ORDER BY c.relname`,
  drop: (name: string) => `DROP INDEX "${name.replace(/"/g, '""')}"`,
  /** Index builds sort in memory; 512 MB holds a `large` month partition's keys. */
  buildMemory: `SET LOCAL maintenance_work_mem = '512MB'`,
  /** Partitions of $1 (all, or only $2) lacking their child of an invalid parent index. */
  missingChildren: `/* seed.missing_child_indexes */
    SELECT quote_ident(pn.nspname) || '.' || quote_ident(pc.relname) AS parent_index,
           pg_get_indexdef(pi.indexrelid) AS definition,
           quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS partition
      FROM pg_index pi
      JOIN pg_class pc ON pc.oid = pi.indexrelid
      JOIN pg_namespace pn ON pn.oid = pc.relnamespace
      JOIN pg_inherits part ON part.inhparent = pi.indrelid
      JOIN pg_class c ON c.oid = part.inhrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE pi.indrelid = $1::regclass AND NOT pi.indisvalid
       AND ($2::text IS NULL OR c.oid = $2::text::regclass)
       AND NOT EXISTS (SELECT 1 FROM pg_inherits h JOIN pg_index ci ON ci.indexrelid = h.inhrelid
                        WHERE h.inhparent = pi.indexrelid AND ci.indrelid = part.inhrelid)
     ORDER BY pc.relname, c.relname`,
  /** Indexes of partition $1 not attached to any parent index. */
  unattached: `/* seed.unattached_indexes */
    SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE i.indrelid = $1::regclass AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)`,
  invalidOf: `/* seed.invalid_indexes */ SELECT indexrelid::regclass::text AS name FROM pg_index WHERE indrelid = $1::regclass AND NOT indisvalid`,
} as const;
