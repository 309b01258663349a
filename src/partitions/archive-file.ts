import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { copyFromSql, copyToStatement } from './archive.sql.ts';
import { CsvScanner } from './csv-scan.ts';

/**
 * File archives: `COPY … TO STDOUT (FORMAT csv, HEADER)` streamed through a sha256 tap and
 * gzip into `<dataDir>/archive/<name>.csv.gz`. The checksum is of the uncompressed COPY
 * stream, so a reader can check it after gunzip with any tool (`zcat f | sha256sum`).
 * Files are written to `.tmp`, fsynced and renamed: a crash never leaves a half file
 * under the final name.
 */
export interface FileExport {
  readonly path: string;
  readonly rows: number;
  readonly sha256: string;
  readonly bytes: number;
  readonly gzipBytes: number;
}

export interface FileReadBack {
  readonly sha256: string;
  readonly records: number;
  readonly header: readonly string[];
  readonly minCreatedAt: string | null;
  readonly maxCreatedAt: string | null;
}

export function archiveDir(dataDir: string): string {
  return path.join(dataDir, 'archive');
}

/**
 * A month's archive files, in a folder of its database's own: two databases maintained from one
 * data folder (the app's and a bench or seed-test database, each with its own maintenance lock)
 * wrote the same names, and one's export replaced the other's only archive. Archives made before
 * 2026-12-07 sit directly under archive/; the ledger records each file's path, which restore and
 * verify read.
 */
export function archiveFiles(dataDir: string, name: string, database: string): { data: string; comments: string; manifest: string } {
  const safe = database.replace(/[^A-Za-z0-9_.-]/g, '_');
  const dir = path.join(archiveDir(dataDir), safe === '.' || safe === '..' ? `_${safe}` : safe);
  return {
    data: path.join(dir, `${name}.csv.gz`),
    comments: path.join(dir, `${name}_comments.csv.gz`),
    manifest: manifestOf(path.join(dir, `${name}.csv.gz`)),
  };
}

/** The manifest beside a data file (`<name>.csv.gz` → `<name>.manifest.json`). */
export function manifestOf(dataFile: string): string {
  return dataFile.replace(/\.csv\.gz$/, '.manifest.json');
}

async function fsyncFile(file: string): Promise<void> {
  const fh = await fs.promises.open(file, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}

async function fsyncDir(dir: string): Promise<void> {
  // Makes the rename durable; not every platform allows opening a directory.
  try { await fsyncFile(dir); } catch { /* best effort */ }
}

/** Writes `content` atomically (tmp + fsync + rename + dir fsync). */
export async function writeFileAtomic(file: string, content: string): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  await fs.promises.writeFile(tmp, content);
  await fsyncFile(tmp);
  await fs.promises.rename(tmp, file);
  await fsyncDir(path.dirname(file));
}

export async function exportTableToFile(client: pg.ClientBase, qualified: string, file: string): Promise<FileExport> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  const copy = client.query(copyStreams.to(copyToStatement(qualified, file).sql));
  try {
    await pipeline(copy, tap, zlib.createGzip({ level: 6 }), fs.createWriteStream(tmp));
  } catch (err) {
    // The file side failed (disk full, an I/O error). pg-copy-streams' COPY TO stream has no
    // _destroy: the rest of the COPY is never read, and every later query on this session
    // (the ledger's error, the run's end, the advisory lock's release) waited forever, with
    // the server's COPY holding back vacuum. Drop the session instead; the step is idempotent.
    abandonSession(client);
    await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  await fsyncFile(tmp);
  await fs.promises.rename(tmp, file);
  await fsyncDir(path.dirname(file));
  const gzipBytes = (await fs.promises.stat(file)).size;
  return { path: file, rows: copy.rowCount, sha256: hash.digest('hex'), bytes, gzipBytes };
}

/** Closes the session's socket at once: its protocol state is unknown, so it must not be reused. */
function abandonSession(client: pg.ClientBase): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

/** Reads an archive file back: gunzip, sha256 of the stream, record count, min/max created_at. */
export async function readBackFile(file: string): Promise<FileReadBack> {
  const hash = crypto.createHash('sha256');
  const scanner = new CsvScanner('created_at');
  const sink = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      scanner.push(chunk);
      done();
    },
  });
  await pipeline(fs.createReadStream(file), zlib.createGunzip(), sink);
  const scan = scanner.finish();
  return { sha256: hash.digest('hex'), records: scan.records, header: scan.header, minCreatedAt: scan.min, maxCreatedAt: scan.max };
}

/** The column names on an archive file's first line (COPY's CSV header). */
export async function readFileHeader(file: string): Promise<string[]> {
  const scanner = new CsvScanner('created_at');
  const source = fs.createReadStream(file);
  const gunzip = source.pipe(zlib.createGunzip());
  try {
    for await (const chunk of gunzip) {
      const bytes = chunk as Buffer;
      const end = bytes.indexOf(0x0a); // our column names hold no newline, quoted or not
      scanner.push(end >= 0 ? bytes.subarray(0, end + 1) : bytes);
      if (end >= 0) break;
    }
    return [...scanner.finish().header];
  } finally {
    gunzip.destroy();
    source.destroy(); // unpiping leaves the file open
  }
}

/**
 * Loads an archive file into an existing table with COPY FROM (inside the caller's
 * transaction). With `columns` (the file's header) a table that gained columns since the
 * export loads it too.
 */
export async function loadFileIntoTable(client: pg.ClientBase, file: string, qualified: string, columns?: readonly string[]): Promise<number> {
  const copy = client.query(copyStreams.from(copyFromSql(qualified, columns)));
  await pipeline(fs.createReadStream(file), zlib.createGunzip(), copy);
  return copy.rowCount;
}
