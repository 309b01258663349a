import { describe, expect, it } from 'vitest';
import { archiveFiles, manifestOf } from '../../src/partitions/archive-file.ts';

/**
 * Where a month's archive goes: a folder per database under <data dir>/archive, so two
 * databases maintained from one data folder never write the same file (before: both wrote
 * archive/messages_y2024m05.csv.gz, and one's export replaced the other's only copy).
 */
describe('archive file names', () => {
  it('differ between databases for the same month, and keep the manifest beside its data file', () => {
    const app = archiveFiles('/srv/bgc', 'messages_y2024m05', 'bgc');
    const bench = archiveFiles('/srv/bgc', 'messages_y2024m05', 'bgc_bench_medium');
    expect(app).toEqual({
      data: '/srv/bgc/archive/bgc/messages_y2024m05.csv.gz',
      comments: '/srv/bgc/archive/bgc/messages_y2024m05_comments.csv.gz',
      manifest: '/srv/bgc/archive/bgc/messages_y2024m05.manifest.json',
    });
    expect(bench.data).not.toBe(app.data);
    // A database name is one folder, whatever it holds.
    expect(archiveFiles('/srv/bgc', 'messages_y2024m05', '../x y/z').data).toBe('/srv/bgc/archive/.._x_y_z/messages_y2024m05.csv.gz');
    expect(archiveFiles('/srv/bgc', 'messages_y2024m05', '..').data).toBe('/srv/bgc/archive/_../messages_y2024m05.csv.gz');
    // The manifest of an archive made before the per-database folders is still found beside it.
    expect(manifestOf('/srv/bgc/archive/messages_y2024m05.csv.gz')).toBe('/srv/bgc/archive/messages_y2024m05.manifest.json');
  });
});
