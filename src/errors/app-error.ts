/**
 * The one catalogue of error codes (DESIGN §2 error shape). Services throw AppError with
 * a code; the HTTP error handler maps the code to a status. Nothing maps by message text.
 */
export const ERROR_CATALOGUE = {
  VALIDATION_FAILED: { status: 400, message: 'The request is invalid' },
  INVALID_JSON: { status: 400, message: 'The request body is not valid JSON' },
  INVALID_CURSOR: { status: 400, message: 'The pagination cursor is invalid' },
  WEAK_PASSWORD: { status: 400, message: 'The password does not meet the password policy' },
  IDEMPOTENCY_KEY_INVALID: { status: 400, message: 'The Idempotency-Key header is malformed' },
  UNAUTHENTICATED: { status: 401, message: 'Authentication is required' },
  INVALID_CREDENTIALS: { status: 401, message: 'Email or password is wrong' },
  FORBIDDEN: { status: 403, message: 'You may not do this' },
  BLOCKED: { status: 403, message: 'This user does not accept messages from you' },
  NOT_FOUND: { status: 404, message: 'Not found' },
  ROUTE_NOT_FOUND: { status: 404, message: 'No such route' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed' },
  // Node's HTTP parser ends these before any route runs (src/http/client-error.ts).
  REQUEST_TIMEOUT: { status: 408, message: 'The request was not received in time' },
  EMAIL_TAKEN: { status: 409, message: 'This email is already registered' },
  USERNAME_TAKEN: { status: 409, message: 'This username is taken' },
  CONFLICT: { status: 409, message: 'The request conflicts with the current state' },
  IDEMPOTENCY_KEY_IN_USE: { status: 409, message: 'A request with this Idempotency-Key is still in progress; retry' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send JSON with Content-Type: application/json' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, message: 'This Idempotency-Key was already used for a different request' },
  UPGRADE_REQUIRED: { status: 426, message: 'This endpoint speaks WebSocket: send an Upgrade request' },
  RATE_LIMITED: { status: 429, message: 'Too many requests; try again later' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large' },
  OVERLOADED: { status: 503, message: 'The server is at capacity; retry shortly' },
  PRESENCE_UNAVAILABLE: { status: 503, message: 'Presence cannot be read right now (Redis); retry shortly' },
  DB_POOL_TIMEOUT: { status: 503, message: 'The database is saturated; retry shortly' },
  DB_UNAVAILABLE: { status: 503, message: 'The database is unavailable; retry shortly' },
  DB_READ_ONLY: { status: 503, message: 'The database is read-only right now; retry shortly' },
  // A statement ran past statement_timeout (57014): one slow statement, not a saturated pool.
  DB_STATEMENT_TIMEOUT: { status: 503, message: 'The database took too long to answer; retry shortly' },
  // A message whose id time PostgreSQL's clock put outside the send window: it waited too long
  // (or its host's clock is off) and was not stored (src/services/chat/send-window.ts).
  SEND_UNTIMELY: { status: 503, message: 'The message could not be stored in time and was not sent; send it again' },
  // The photo store (S3) is unreachable, timing out or throttling (src/storage/s3-storage.ts).
  STORAGE_UNAVAILABLE: { status: 503, message: 'The photo store is unavailable; retry shortly' },
  INTERNAL: { status: 500, message: 'Internal error' },
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message ?? ERROR_CATALOGUE[code].message, options);
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.details = details;
  }
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CATALOGUE, code);
}
