import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/metrics-doc.ts';

/** The folders named in docs/ARCHITECTURE.md's "Folders" table, e.g. `src/tools/bench`. */
function documentedFolders(): string[] {
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'ARCHITECTURE.md'), 'utf8');
  const section = doc.split('\n## Folders\n')[1]?.split('\n## ')[0] ?? '';
  return [...section.matchAll(/^\| `(src\/[a-z/-]+)` \|/gm)].map((m) => m[1] as string).sort();
}

function foldersOf(rel: string): string[] {
  return fs.readdirSync(path.join(ROOT, rel), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => `${rel}/${e.name}`);
}

describe('docs/ARCHITECTURE.md folder table', () => {
  it('names exactly the folders of src, src/ops and src/tools', () => {
    const actual = [...foldersOf('src'), ...foldersOf('src/ops'), ...foldersOf('src/tools')].sort();
    expect(documentedFolders()).toEqual(actual);
  });
});
