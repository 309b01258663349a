import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyDbError, DbUnavailableError, isConnectionError, isPoolAcquireTimeout, isRetryableReadError, sqlState } from '../../src/db/errors.ts';
import { installErrorHandler } from '../../src/http/error-handler.ts';
import { AppError } from '../../src/errors/app-error.ts';

/**
 * The one classifier of database errors (src/db/errors.ts) and the HTTP answers the error
 * handler builds from it. No I/O: errors are made the way node-postgres makes them (an
 * Error with the SQLSTATE in `code`, a socket error with its errno code, or one of the
 * driver's few codeless errors).
 */
function pgError(code: string, message = 'from the server'): Error {
  return Object.assign(new Error(message), { code });
}

describe('classifyDbError', () => {
  it.each([
    ['08006', 'connection'], ['08001', 'connection'], ['57P01', 'connection'], ['57P02', 'connection'], ['57P03', 'connection'],
    ['53300', 'unavailable'], ['40001', 'recovery_conflict'], ['40P01', 'deadlock'], ['25006', 'read_only'], ['57014', 'statement_timeout'],
    ['22P02', 'invalid_input'], ['22007', 'invalid_input'], ['22008', 'invalid_input'], ['22021', 'unstorable_text'], ['22P05', 'unstorable_text'],
  ])('SQLSTATE %s is %s', (code, expected) => {
    expect(classifyDbError(pgError(code))).toBe(expected);
  });

  it('leaves states it does not know, constraint violations among them, to the caller', () => {
    for (const code of ['23505', '23514', '42P01', '57P04', 'XX000']) expect(classifyDbError(pgError(code))).toBeUndefined();
  });

  it('knows a failed socket by its errno code and the driver\'s codeless errors by their exact text', () => {
    expect(classifyDbError(pgError('ECONNRESET', 'read ECONNRESET'))).toBe('connection');
    expect(classifyDbError(pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1'))).toBe('connection');
    // Five letters, like a SQLSTATE: a write to a connection the server had closed.
    const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE', errno: -32, syscall: 'write' });
    expect(sqlState(epipe)).toBeUndefined();
    expect(classifyDbError(epipe)).toBe('connection');
    expect(isRetryableReadError(epipe)).toBe(true);
    expect(classifyDbError(new Error('Connection terminated unexpectedly'))).toBe('connection');
    // node-postgres' client-side query_timeout: the node did not answer; its connection is destroyed.
    expect(classifyDbError(new Error('Query read timeout'))).toBe('connection');
    expect(isConnectionError(new Error('Query read timeout'))).toBe(true);
    expect(classifyDbError(new Error('Client has encountered a connection error and is not queryable'))).toBe('connection');
    // Never by pattern: a message that merely mentions a connection problem is not one.
    expect(classifyDbError(new Error('ECONNREFUSED while talking to the mail server'))).toBeUndefined();
    expect(classifyDbError(new Error('user text: Connection terminated unexpectedly'))).toBeUndefined();
  });

  it('agrees with the router\'s and the pool\'s questions', () => {
    expect(isRetryableReadError(pgError('57P03'))).toBe(true);
    expect(isRetryableReadError(pgError('40001'))).toBe(true);
    expect(isRetryableReadError(new DbUnavailableError('DB_POOL_TIMEOUT', 'saturated', 'replica1'))).toBe(true);
    expect(isRetryableReadError(pgError('57014'))).toBe(false);
    expect(isRetryableReadError(pgError('23505'))).toBe(false);
    expect(isConnectionError(pgError('57P01'))).toBe(true);
    expect(isConnectionError(pgError('40001'))).toBe(false);
    expect(isPoolAcquireTimeout(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isPoolAcquireTimeout(new Error('timeout exceeded when trying to connect to the mail server'))).toBe(false);
  });
});

describe('HTTP error handler', () => {
  let app: FastifyInstance;
  let next: unknown;

  beforeAll(async () => {
    app = Fastify({ logger: false });
    installErrorHandler(app);
    app.get('/boom', async () => { throw next; });
    await app.ready();
  });
  afterAll(async () => { await app.close(); });

  async function answer(err: unknown): Promise<{ status: number; code: string; retryAfter: string | undefined }> {
    next = err;
    const res = await app.inject({ method: 'GET', url: '/boom' });
    const body = res.json<{ error: { code: string } }>();
    const retryAfter = res.headers['retry-after'];
    return { status: res.statusCode, code: body.error.code, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined };
  }

  it('tells a client whose Idempotency-Key is still in progress (409) when to retry', async () => {
    expect(await answer(new AppError('IDEMPOTENCY_KEY_IN_USE'))).toEqual({ status: 409, code: 'IDEMPOTENCY_KEY_IN_USE', retryAfter: '2' });
    expect((await answer(new AppError('CONFLICT'))).retryAfter).toBeUndefined();
  });

  it('reports a statement timeout (57014) as its own code, not as a saturated pool', async () => {
    const r = await answer(pgError('57014', 'canceling statement due to statement timeout'));
    expect(r).toMatchObject({ status: 503, code: 'DB_STATEMENT_TIMEOUT' });
    expect(r.retryAfter).toBeDefined();
    expect((await answer(new DbUnavailableError('DB_POOL_TIMEOUT', 'saturated', 'primary'))).code).toBe('DB_POOL_TIMEOUT');
  });

  it('answers a body the client aborted (ECONNRESET that Fastify marked 400) as the client error it is, not a database outage', async () => {
    const aborted = Object.assign(new Error('aborted'), { code: 'ECONNRESET', statusCode: 400 });
    // Before: 503 DB_UNAVAILABLE, logged at error level and counted as a 5xx.
    expect(await answer(aborted)).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    // The database's own ECONNRESET (no statusCode) is still an outage.
    expect(await answer(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', errno: -104, syscall: 'read' }))).toMatchObject({ status: 503, code: 'DB_UNAVAILABLE' });
  });

  it('answers 503 DB_UNAVAILABLE for every state the router treats as a lost connection', async () => {
    for (const code of ['08006', '57P01', '57P02', '57P03', '53300']) {
      expect(await answer(pgError(code)), code).toMatchObject({ status: 503, code: 'DB_UNAVAILABLE' });
    }
    expect(await answer(new Error('Connection terminated unexpectedly'))).toMatchObject({ status: 503, code: 'DB_UNAVAILABLE' });
    expect(await answer(Object.assign(new Error('write EPIPE'), { code: 'EPIPE', errno: -32, syscall: 'write' }))).toMatchObject({ status: 503, code: 'DB_UNAVAILABLE' });
    expect(await answer(pgError('25006'))).toMatchObject({ status: 503, code: 'DB_READ_ONLY' });
  });

  it('answers 503 with Retry-After for a transaction PostgreSQL rolled back whole (deadlock, serialization failure), not 500', async () => {
    for (const code of ['40P01', '40001']) {
      const r = await answer(pgError(code));
      expect(r, code).toMatchObject({ status: 503, code: 'DB_UNAVAILABLE' });
      expect(r.retryAfter, code).toBeDefined();
    }
  });

  it('never classifies by message: an uncoded error that mentions ECONNREFUSED is a 500', async () => {
    expect(await answer(new Error('ECONNREFUSED from some library'))).toMatchObject({ status: 500, code: 'INTERNAL' });
    expect(await answer(new Error('timeout exceeded when trying to connect, said a plugin'))).toMatchObject({ status: 500, code: 'INTERNAL' });
  });

  it('answers 400 for input PostgreSQL cannot read or store', async () => {
    expect(await answer(pgError('22P02'))).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    expect(await answer(pgError('22021'))).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
  });
});
