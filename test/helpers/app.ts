import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import { startRuntime, type Runtime } from '../../src/app/runtime.ts';
import { createTestDatabase, type TestDatabase } from './test-db.ts';

/**
 * The real app (pools on the test database's primary and both replicas, all services,
 * every route) without a listener: requests go through Fastify's inject, so the whole
 * HTTP stack runs (hooks, validation, serialisation, error handler).
 */
export interface TestApp {
  readonly tdb: TestDatabase;
  readonly rt: Runtime;
  readonly app: FastifyInstance;
  /** `T` is the expected success body; tests name the fields they read. */
  call<T = unknown>(method: Method, url: string, opts?: CallOptions): Promise<ApiResponse<T>>;
  close(): Promise<void>;
}

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface CallOptions {
  readonly token?: string;
  readonly body?: unknown;
  /** X-BGC-LSN: the LSN of a write whose effect this read must see. */
  readonly lsn?: string;
  readonly headers?: Record<string, string>;
}

export interface ApiResponse<T = unknown> {
  readonly status: number;
  readonly body: T;
  readonly headers: Record<string, string | string[] | number | undefined>;
  readonly lsn: string | undefined;
}

export async function startTestApp(label: string, env: Record<string, string> = {}): Promise<TestApp> {
  const tdb = await createTestDatabase(label);
  // Small pools: several test files run at once against one stack.
  const rt = await startRuntime(tdb.config({ BGC_POOL_SIZE: '2', BGC_POOL_MAX_OVERFLOW: '8', ...env }), { listen: false });
  const call = async <T>(method: Method, url: string, opts: CallOptions = {}): Promise<ApiResponse<T>> => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.lsn) headers['x-bgc-lsn'] = opts.lsn;
    const res = await rt.app.inject({
      method, url, headers,
      ...(opts.body !== undefined ? { payload: JSON.stringify(opts.body), headers: { ...headers, 'content-type': 'application/json' } } : {}),
    });
    const text = res.body;
    const lsn = res.headers['x-bgc-lsn'];
    return {
      status: res.statusCode,
      body: (text.length > 0 && String(res.headers['content-type'] ?? '').includes('json') ? JSON.parse(text) : text) as T,
      headers: res.headers,
      lsn: typeof lsn === 'string' ? lsn : undefined,
    };
  };
  return {
    tdb, rt, app: rt.app, call,
    close: async () => {
      await rt.close();
      await tdb.drop();
    },
  };
}

export interface TestUser {
  readonly id: string;
  readonly email: string;
  readonly username: string;
  readonly password: string;
  readonly token: string;
}

let counter = 0;

/** Registers a fresh user through the API. */
export async function registerUser(t: TestApp, prefix = 'user'): Promise<TestUser> {
  counter += 1;
  const username = `${prefix}_${process.pid}_${counter}`;
  const email = `${username}@example.test`;
  const password = 'correct Horse 42';
  const res = await t.call<AuthBody>('POST', '/api/auth/register', { body: { email, username, password } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.user.id, email, username, password, token: res.body.token };
}

/** Asserts an error response: status and catalogue code. */
export function expectError(res: ApiResponse, status: number, code: string): void {
  const body = res.body as { error?: { code?: string } } | undefined;
  expect({ status: res.status, code: body?.error?.code }, JSON.stringify(res.body)).toEqual({ status, code });
}

export interface AuthBody {
  readonly token: string;
  readonly expires_at: string;
  readonly user: { readonly id: string; readonly email: string; readonly username: string };
}

export interface PageBody<T> {
  readonly items: T[];
  readonly next_cursor: string | null;
}

/**
 * Follows next_cursor (at most `maxPages` pages) and returns every item plus the page sizes
 * seen; `lsn` (X-BGC-LSN) makes every page at least that fresh.
 */
export async function collectPages<T>(t: TestApp, url: string, token: string, limit: number, maxPages = 40, lsn?: string): Promise<{ items: T[]; sizes: number[] }> {
  const items: T[] = [];
  const sizes: number[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < maxPages; page++) {
    const sep = url.includes('?') ? '&' : '?';
    const res: ApiResponse<PageBody<T>> = await t.call<PageBody<T>>('GET', `${url}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, { token, ...(lsn ? { lsn } : {}) });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    items.push(...res.body.items);
    sizes.push(res.body.items.length);
    cursor = res.body.next_cursor;
    if (cursor === null) return { items, sizes };
  }
  throw new Error(`more than ${maxPages} pages for ${url}`);
}
