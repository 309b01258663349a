import type { Runtime } from '../../src/app/runtime.ts';

/** A response of an in-process call: status, parsed body, and the X-BGC-LSN it carried. */
export interface RuntimeResponse<T> { status: number; body: T; lsn: string | undefined }

/**
 * One request to an in-process runtime (Fastify inject), with an optional bearer token, JSON
 * body and X-BGC-LSN: the two-instance cache tests call each instance directly.
 */
export async function callRuntime<T>(rt: Runtime, method: 'GET' | 'POST', url: string, token?: string, body?: unknown, lsn?: string): Promise<RuntimeResponse<T>> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (lsn) headers['x-bgc-lsn'] = lsn;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await rt.app.inject({ method, url, headers, ...(body !== undefined ? { payload: JSON.stringify(body) } : {}) });
  const written = res.headers['x-bgc-lsn'];
  return { status: res.statusCode, body: (res.body ? JSON.parse(res.body) : undefined) as T, lsn: typeof written === 'string' ? written : undefined };
}

/** Polls `check` until true or `boundMs`; returns how long it took (ms), or fails naming `what`. */
export async function within(what: string, boundMs: number, check: () => Promise<boolean> | boolean): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > boundMs) throw new Error(`${what}: not within ${boundMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - started;
}
