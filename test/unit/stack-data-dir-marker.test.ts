import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DATA_DIR_MARKER, folderIsOurs, isMarked, markFolder } from '../../src/tools/stack/data-dir-marker.ts';

/**
 * `bgc stack down --purge` deletes a whole data folder only when `up` made it. Before,
 * `up` marked whatever folder BGC_DATA_DIR named, so a purge deleted a folder that held the
 * operator's own files (with `BGC_DATA_DIR=.`, the checkout).
 */
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-marker-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('whose data folder', () => {
  it('a folder that is absent, empty or holds only the stack lock is ours, and marked it stays ours', () => {
    const absent = path.join(root, 'absent');
    expect(folderIsOurs(absent)).toBe(true);
    const empty = fs.mkdtempSync(path.join(root, 'empty-'));
    expect(folderIsOurs(empty)).toBe(true);
    fs.writeFileSync(path.join(empty, '.stack.lock'), '123\n');
    expect(folderIsOurs(empty), 'a concurrent up\'s lock is not content').toBe(true);
    markFolder(empty);
    expect(isMarked(empty)).toBe(true);
    fs.mkdirSync(path.join(empty, 'pg'));
    expect(folderIsOurs(empty), 'our own servers\' folders beside the marker').toBe(true);
  });

  it('a folder that held anything else is not ours, and is never marked', () => {
    const work = fs.mkdtempSync(path.join(root, 'work-'));
    fs.writeFileSync(path.join(work, 'notes.txt'), 'the operator\'s');
    expect(folderIsOurs(work)).toBe(false);
    expect(fs.existsSync(path.join(work, DATA_DIR_MARKER))).toBe(false);
  });
});
