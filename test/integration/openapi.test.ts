import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';

/**
 * Issue 14: the OpenAPI document was not valid OpenAPI 3.0.3 (`/api/search`'s radius_km used a
 * numeric exclusiveMinimum, the 3.1 form), so code generators refused it. The served document
 * is checked here with a standard validator (@apidevtools/swagger-parser: the OpenAPI 3.0 JSON
 * Schema plus its spec rules), at /docs/json and at /docs, which existing clients still read.
 */
let t: TestApp;
let doc: Record<string, unknown>;

beforeAll(async () => {
  t = await startTestApp('openapi');
  const res = await t.app.inject({ method: 'GET', url: '/docs/json' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  doc = res.json();
});
afterAll(async () => {
  await t?.close();
});

describe('the OpenAPI document', () => {
  it('is served at /docs/json and validates as OpenAPI 3.0', async () => {
    expect(doc.openapi).toMatch(/^3\.0\.\d+$/);
    // validate() dereferences in place: give it a copy so later checks see the served text.
    const api = await SwaggerParser.validate(structuredClone(doc) as never);
    expect(Object.keys(api.paths ?? {}).length).toBeGreaterThan(20);
  });

  it('describes an exclusive bound the 3.0 way, and the API still enforces it', async () => {
    const search = (doc.paths as Record<string, { get: { parameters: { name: string; schema: Record<string, unknown> }[] } }>)['/api/search'];
    const radius = search?.get.parameters.find((p) => p.name === 'radius_km');
    expect(radius?.schema).toMatchObject({ type: 'number', minimum: 0, exclusiveMinimum: true, maximum: 500 });
    const user = await t.call<{ token: string }>('POST', '/api/auth/register', {
      body: { email: `openapi_${process.pid}@example.test`, username: `openapi_${process.pid}`, password: 'Openapi-pass-42' },
    });
    expect(user.status).toBe(201);
    const zero = await t.call<{ error: { code: string } }>('GET', '/api/search?lat=52.5&lng=13.4&radius_km=0', { token: user.body.token });
    expect(zero.status).toBe(400);
    expect(zero.body.error.code).toBe('VALIDATION_FAILED');
    const ok = await t.call('GET', '/api/search?lat=52.5&lng=13.4&radius_km=0.5', { token: user.body.token });
    expect(ok.status).toBe(200);
  });

  it('is still answered at /docs for existing clients, the same document', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(doc);
  });
});
