import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic, type FileExport } from './archive-file.ts';
import type { TableStats } from './stats.ts';

/**
 * The manifest beside a file archive: enough to check and restore the month without the
 * database's ledger (if the ledger is lost, the manifest still says what the files hold).
 */
export interface ManifestFile {
  readonly file: string;
  readonly rows: number;
  /** sha256 of the uncompressed CSV stream (`zcat <file> | sha256sum`). */
  readonly sha256: string;
  readonly bytes: number;
  readonly gzipBytes: number;
  readonly minCreatedAt: string | null;
  readonly maxCreatedAt: string | null;
  /** The order-independent row checksum of stats.ts, as taken from the detached table. */
  readonly contentChecksum: string;
}

export interface ArchiveManifest {
  readonly format: 'bgc-partition-archive/1';
  readonly partition: string;
  readonly parent: string;
  readonly month: string;
  readonly bounds: { readonly from: string; readonly to: string };
  readonly csv: { readonly format: 'csv'; readonly header: true; readonly timeZone: 'UTC'; readonly dateStyle: 'ISO, YMD' };
  readonly createdAt: string;
  readonly rows: ManifestFile;
  /** post_comments of the month's posts (status_updates only). */
  readonly comments: ManifestFile | null;
}

export function manifestFile(exported: FileExport, stats: TableStats): ManifestFile {
  return {
    file: path.basename(exported.path),
    rows: exported.rows,
    sha256: exported.sha256,
    bytes: exported.bytes,
    gzipBytes: exported.gzipBytes,
    minCreatedAt: stats.minCreatedAt,
    maxCreatedAt: stats.maxCreatedAt,
    contentChecksum: stats.checksum,
  };
}

export async function writeManifest(file: string, manifest: ArchiveManifest): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(manifest, null, 2)}\n`);
}

export async function readManifest(file: string): Promise<ArchiveManifest> {
  const parsed = JSON.parse(await fs.promises.readFile(file, 'utf8')) as ArchiveManifest;
  if (parsed.format !== 'bgc-partition-archive/1') throw new Error(`${file}: unknown manifest format ${String(parsed.format)}`);
  return parsed;
}
