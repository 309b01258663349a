/**
 * Typed database errors. The HTTP layer maps these by code (never by message text):
 * DB_POOL_TIMEOUT and DB_UNAVAILABLE become 503 with Retry-After.
 */
export class DbUnavailableError extends Error {
  readonly code: 'DB_POOL_TIMEOUT' | 'DB_UNAVAILABLE' | 'DB_READ_ONLY';
  constructor(code: DbUnavailableError['code'], message: string, readonly node: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DbUnavailableError';
    this.code = code;
  }
}

/** SQLSTATEs that mean "this connection or server is gone", so a read may move elsewhere. */
const CONNECTION_CLASS = /^(08|57P0[1-3])/; // 08xxx connection exception, 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now

/** SQLSTATEs of a hot-standby recovery conflict or a failed-over node. */
const REPLICA_CONFLICT = new Set([
  '40001', // serialization_failure: "canceling statement due to conflict with recovery"
  '25006', // read_only_sql_transaction: we sent a write to a standby (failover happened)
]);

export function sqlState(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code)) {
    return err.code;
  }
  return undefined;
}

/** True for errors after which the same read may safely be retried on another node. */
export function isRetryableReadError(err: unknown): boolean {
  if (err instanceof DbUnavailableError) return true;
  const state = sqlState(err);
  if (state !== undefined) return CONNECTION_CLASS.test(state) || REPLICA_CONFLICT.has(state);
  // Socket-level failures from node-postgres carry no SQLSTATE.
  const msg = err instanceof Error ? err.message : '';
  const sysCode = err && typeof err === 'object' && 'code' in err ? String(err.code) : '';
  return ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(sysCode) ||
    /Connection terminated|connection timeout|Client has encountered a connection error/i.test(msg);
}

export function isConnectionError(err: unknown): boolean {
  const state = sqlState(err);
  if (state !== undefined) return CONNECTION_CLASS.test(state);
  return isRetryableReadError(err);
}
