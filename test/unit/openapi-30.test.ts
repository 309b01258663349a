import { describe, it, expect } from 'vitest';
import { toOpenApi30 } from '../../src/http/openapi-30.ts';

/** The 3.1/JSON-Schema forms the served OpenAPI 3.0.3 document must not contain (issue 14). */
describe('toOpenApi30', () => {
  it('turns numeric exclusive bounds into the inclusive keyword plus the boolean flag, at any depth', () => {
    const doc = { paths: { '/x': { get: { parameters: [{ name: 'r', schema: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 10 } }] } } } };
    expect(toOpenApi30(doc).paths['/x'].get.parameters[0]?.schema).toEqual({ type: 'number', minimum: 0, exclusiveMinimum: true, maximum: 10, exclusiveMaximum: true });
    // The input is left as it was.
    expect(doc.paths['/x'].get.parameters[0]?.schema.exclusiveMinimum).toBe(0);
  });

  it('keeps the tighter bound when both forms are given', () => {
    expect(toOpenApi30({ minimum: 5, exclusiveMinimum: 0 })).toEqual({ minimum: 5 });
    expect(toOpenApi30({ minimum: 0, exclusiveMinimum: 5 })).toEqual({ minimum: 5, exclusiveMinimum: true });
    expect(toOpenApi30({ maximum: 5, exclusiveMaximum: 5 })).toEqual({ maximum: 5, exclusiveMaximum: true });
  });

  it('turns const into a one-value enum and leaves 3.0 forms alone', () => {
    expect(toOpenApi30({ properties: { kind: { type: 'string', const: 'global' } } })).toEqual({ properties: { kind: { type: 'string', enum: ['global'] } } });
    const ok = { type: 'integer', minimum: 1, exclusiveMinimum: true, nullable: true, enum: [1, 2] };
    expect(toOpenApi30(ok)).toEqual(ok);
  });
});

describe('toOpenApi30 and names', () => {
  it('leaves a property that is called const or exclusiveMinimum alone', () => {
    const doc = { type: 'object', properties: { const: { type: 'string' }, exclusiveMinimum: { type: 'number', exclusiveMinimum: 1 } } };
    expect(toOpenApi30(doc)).toEqual({
      type: 'object',
      properties: { const: { type: 'string' }, exclusiveMinimum: { type: 'number', minimum: 1, exclusiveMinimum: true } },
    });
  });
});
