import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { allQueries } from '../../src/catalog/all.ts';
import { ROOT } from '../helpers/metrics-doc.ts';

/**
 * docs/QUERIES.md is generated (`bgc explain --markdown docs/QUERIES.md --warm`); this keeps it
 * from drifting: it must list exactly the catalog's entries, so adding, renaming or removing an
 * entry without regenerating it fails here.
 */
describe('docs/QUERIES.md', () => {
  it('lists exactly the catalog entries', async () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs', 'QUERIES.md'), 'utf8');
    const documented = [...doc.matchAll(/^### ([a-z0-9_.]+)$/gm)].map((m) => m[1] as string).sort();
    const catalog = (await allQueries()).map((q) => q.name).sort();
    expect(documented, 'regenerate: BGC_STACK_PORT_OFFSET=… DATABASE_URL=…/bgc_bench_medium npx bgc explain --markdown docs/QUERIES.md --warm').toEqual(catalog);
  });
});
