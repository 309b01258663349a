/**
 * Database errors: the typed errors the db layer throws, and the one classifier of what a
 * database error means (the router's retries, the pool's broken-connection test and the
 * HTTP error handler all ask it). Errors are told apart by SQLSTATE or system error code,
 * never by message text; the only exception is the short, exact list of node-postgres
 * errors that carry no code at all (DRIVER_CONNECTION_ERRORS).
 */

/** The error-catalogue codes (errors/app-error.ts) a database condition maps to. */
export type DbErrorCode = 'DB_POOL_TIMEOUT' | 'DB_UNAVAILABLE' | 'DB_READ_ONLY' | 'DB_STATEMENT_TIMEOUT';

/**
 * Typed database errors. The HTTP layer maps these by code: DB_POOL_TIMEOUT and
 * DB_UNAVAILABLE become 503 with Retry-After.
 */
export class DbUnavailableError extends Error {
  readonly code: 'DB_POOL_TIMEOUT' | 'DB_UNAVAILABLE' | 'DB_READ_ONLY';
  constructor(code: DbUnavailableError['code'], message: string, readonly node: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DbUnavailableError';
    this.code = code;
  }
}

/**
 * What a database error means to its caller:
 * - `connection`: this connection or server is gone; nothing ran, a read may move elsewhere;
 * - `unavailable`: the server refuses new work for now (too many connections);
 * - `recovery_conflict`: a standby cancelled the statement to apply WAL; a read may move;
 * - `read_only`: a write reached a standby (a failover happened);
 * - `deadlock`: PostgreSQL broke a lock cycle by rolling this transaction back (nothing of it remains);
 * - `statement_timeout`: the statement ran past statement_timeout and was cancelled;
 * - `invalid_input`: a value the client sent cannot be read as its type;
 * - `unstorable_text`: text the client sent holds a character PostgreSQL cannot store.
 */
export type DbErrorClass = 'connection' | 'unavailable' | 'recovery_conflict' | 'read_only' | 'deadlock' | 'statement_timeout' | 'invalid_input' | 'unstorable_text';

/** SQLSTATE → class. A class-08 state (connection exception) is `connection` without a row here. */
const BY_SQLSTATE: Readonly<Record<string, DbErrorClass>> = {
  '57P01': 'connection', // admin_shutdown (pg_terminate_backend, a fast or smart stop)
  '57P02': 'connection', // crash_shutdown
  '57P03': 'connection', // cannot_connect_now (starting up, or shutting down)
  '57P05': 'connection', // idle_session_timeout: the server closed the session
  '53300': 'unavailable', // too_many_connections
  '40001': 'recovery_conflict', // serialization_failure: "canceling statement due to conflict with recovery"
  '25006': 'read_only', // read_only_sql_transaction: we sent a write to a standby
  '40P01': 'deadlock', // deadlock_detected
  '57014': 'statement_timeout', // query_canceled: statement_timeout (we never cancel otherwise)
  '22P02': 'invalid_input', // invalid_text_representation
  '22007': 'invalid_input', // invalid_datetime_format
  '22008': 'invalid_input', // datetime_field_overflow
  // PostgreSQL cannot store U+0000 in text (22021 character_not_in_repertoire) nor in jsonb
  // (22P05 untranslatable_character). Valid JSON and query strings can carry it.
  '22021': 'unstorable_text',
  '22P05': 'unstorable_text',
};

/** System error codes of a socket that failed or was refused (node:net). */
const SOCKET_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/** node-postgres' query_timeout error (pg/lib/client.js), again without a code. */
const QUERY_READ_TIMEOUT = 'Query read timeout';

/**
 * node-postgres raises these without any code (pg/lib/client.js, pg-pool/index.js), so
 * their exact text is all there is to recognise them by. Compared whole, never by pattern.
 */
const DRIVER_CONNECTION_ERRORS = new Set([
  'Connection terminated unexpectedly',
  'Connection terminated',
  'Connection terminated due to connection timeout',
  'Client has encountered a connection error and is not queryable',
  // The client-side bound (query_timeout, ManagedPool): the server did not answer in time, so
  // the connection is in an unknown state (a statement may still be running) and is destroyed.
  QUERY_READ_TIMEOUT,
]);

/** node-postgres' pool says this (without a code) when no client came within connectionTimeoutMillis. */
const POOL_ACQUIRE_TIMEOUT = 'timeout exceeded when trying to connect';

/**
 * Five characters of digits and capitals, not starting with E: no SQLSTATE class does
 * (they run 00–58, F0, HV, P0, XX), and every errno code does, some of them five letters
 * long (EPIPE, EPERM, EBADF): a socket's EPIPE is a lost connection, not a SQLSTATE.
 */
const SQLSTATE = /^[0-9A-DF-Z][0-9A-Z]{4}$/;

/** The SQLSTATE of an error from PostgreSQL, if it has one. */
export function sqlState(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string' && SQLSTATE.test(err.code)) {
    return err.code;
  }
  return undefined;
}

/**
 * True when a statement was cancelled while it waited on another transaction's row in
 * `table`'s unique index: PostgreSQL's CONTEXT (node-postgres' `where`) then reads
 * `while inserting index tuple (0,1) in relation "<table>"` (or "checking uniqueness of" /
 * "checking exclusion constraint on", or "locking tuple" when ON CONFLICT DO UPDATE locks the
 * existing row), and without such a wait it names no relation.
 */
export function waitedOnUniqueRowOf(err: unknown, table: string): boolean {
  const where = err && typeof err === 'object' && 'where' in err && typeof err.where === 'string' ? err.where : '';
  return /while (inserting index tuple|checking uniqueness of tuple|checking exclusion constraint on tuple|locking tuple|locking updated version of tuple)/.test(where)
    && where.includes(`relation "${table}"`);
}

function systemCode(err: unknown): string | undefined {
  return err && typeof err === 'object' && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/** What `err` means (see DbErrorClass), or undefined for anything else: a bug, or a constraint the caller handles. */
export function classifyDbError(err: unknown): DbErrorClass | undefined {
  const state = sqlState(err);
  if (state !== undefined) return BY_SQLSTATE[state] ?? (state.startsWith('08') ? 'connection' : undefined);
  const sys = systemCode(err);
  if (sys !== undefined && SOCKET_ERRORS.has(sys)) return 'connection';
  if (err instanceof Error && sys === undefined && DRIVER_CONNECTION_ERRORS.has(err.message)) return 'connection';
  return undefined;
}

/** True for node-postgres' pool telling us no connection came within the acquire timeout. */
export function isPoolAcquireTimeout(err: unknown): boolean {
  return err instanceof Error && systemCode(err) === undefined && err.message === POOL_ACQUIRE_TIMEOUT;
}

/** True for node-postgres' client-side query_timeout firing: the node did not answer in time. */
export function isQueryReadTimeout(err: unknown): boolean {
  return err instanceof Error && systemCode(err) === undefined && err.message === QUERY_READ_TIMEOUT;
}

/** True for this instance's pool giving no connection within its acquire timeout (DB_POOL_TIMEOUT). */
export function isPoolSaturated(err: unknown): boolean {
  return err instanceof DbUnavailableError && err.code === 'DB_POOL_TIMEOUT';
}

/** True for errors after which the same read may safely be retried on another node. */
export function isRetryableReadError(err: unknown): boolean {
  if (err instanceof DbUnavailableError) return true;
  const c = classifyDbError(err);
  return c === 'connection' || c === 'unavailable' || c === 'recovery_conflict' || c === 'read_only';
}

/** True when the connection the error came from is gone (the pool must not reuse it). */
export function isConnectionError(err: unknown): boolean {
  return classifyDbError(err) === 'connection';
}

/** The error-catalogue code a database error maps to, for classes that are the database's condition (not the client's input). */
export function dbErrorCode(err: unknown): DbErrorCode | undefined {
  if (err instanceof DbUnavailableError) return err.code;
  switch (classifyDbError(err)) {
    // deadlock, recovery_conflict: rolled back whole (a deadlock, or a serialization failure
    // our own retries met again). Nothing was written, and the same request may well succeed
    // in a moment; a 500 would tell the client not to retry.
    case 'connection':
    case 'unavailable':
    case 'deadlock':
    case 'recovery_conflict':
      return 'DB_UNAVAILABLE';
    case 'read_only':
      return 'DB_READ_ONLY';
    case 'statement_timeout':
      return 'DB_STATEMENT_TIMEOUT';
    default:
      return undefined;
  }
}
