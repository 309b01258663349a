import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../../config/index.ts';
import type { Database } from '../../db/database.ts';
import { buildReport } from './build.ts';
import type { Report } from './model.ts';
import type { ReportMonth } from './month.ts';
import { renderHtml } from './render/html.ts';
import { renderMarkdown } from './render/markdown.ts';
import { reportStoreQueries as q } from './store.repository.ts';

export const REPORT_FORMATS = ['html', 'md', 'json'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export class ReportFormatError extends Error {
  readonly code = 'REPORT_BAD_FORMAT';
  constructor(value: string) {
    super(`unknown report format "${value}"; use any of ${REPORT_FORMATS.join(', ')}`);
    this.name = 'ReportFormatError';
  }
}

export function parseFormats(value: string): ReportFormat[] {
  const list = value.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  for (const f of list) if (!(REPORT_FORMATS as readonly string[]).includes(f)) throw new ReportFormatError(f);
  return [...new Set(list)] as ReportFormat[];
}

export function renderReport(report: Report, format: ReportFormat): string {
  if (format === 'html') return renderHtml(report);
  if (format === 'md') return renderMarkdown(report);
  return `${JSON.stringify(report, null, 2)}\n`;
}

export function reportFileName(month: string, format: ReportFormat): string {
  return `bgc-report-${month}.${format}`;
}

export interface GenerateOptions {
  readonly month: ReportMonth;
  readonly formats: readonly ReportFormat[];
  /** Where files go; undefined writes none. */
  readonly outDir?: string;
  readonly generatedBy: string;
  /**
   * insert-if-absent: the scheduled path; a month already stored (by another instance) means
   * "done", nothing is written. replace: an operator re-generating on purpose. none: files only.
   */
  readonly store: 'insert-if-absent' | 'replace' | 'none';
  readonly now?: Date;
  readonly queryAlertmanager?: boolean;
}

export interface GenerateResult {
  readonly report: Report;
  readonly files: readonly string[];
  /** False when another instance had already stored this month (insert-if-absent). */
  readonly stored: boolean;
}

/**
 * Builds one month's report, stores every format in one transaction and then writes the files.
 * With insert-if-absent, the unique (month, format) row decides which of two racing instances
 * wins: the loser's INSERTs do nothing, it rolls back and writes no files.
 */
export async function generateReport(deps: { db: Database; config: Config }, opts: GenerateOptions): Promise<GenerateResult> {
  const report = await buildReport(deps, { month: opts.month, generatedBy: opts.generatedBy, now: opts.now, queryAlertmanager: opts.queryAlertmanager });
  const rendered = opts.formats.map((f) => ({ format: f, content: renderReport(report, f) }));
  let stored = false;
  if (opts.store !== 'none') {
    stored = await deps.db.transaction(async (tx) => {
      let inserted = 0;
      for (const r of rendered) {
        const rows = opts.store === 'replace'
          ? await tx.query(q.replace, [opts.month.label, r.format, r.content, opts.generatedBy])
          : await tx.query(q.insertIfAbsent, [opts.month.label, r.format, r.content, opts.generatedBy, opts.month.to.toISOString()]);
        inserted += rows.length;
      }
      if (opts.store === 'insert-if-absent' && inserted === 0) {
        // Someone else stored this month first: leave theirs untouched. (Some formats stored
        // after the month's end, by an operator, stay as they are and the others are added.)
        throw new AlreadyStored();
      }
      return true;
    }).catch((err: unknown) => {
      if (err instanceof AlreadyStored) return false;
      throw err;
    });
    if (!stored) return { report, files: [], stored: false };
  }
  const files = opts.outDir ? await writeReportFiles(opts.outDir, opts.month.label, rendered) : [];
  return { report, files, stored };
}

/**
 * Writes each rendered format: to a temporary file of this writer's own (the job and an
 * operator's `bgc report` may write one month at once), fsynced, then renamed, so a reader
 * never sees half a report and a crash never leaves an empty file in place of a good one.
 */
async function writeReportFiles(outDir: string, month: string, rendered: ReadonlyArray<{ format: ReportFormat; content: string }>): Promise<string[]> {
  await fs.mkdir(outDir, { recursive: true });
  const files: string[] = [];
  for (const r of rendered) {
    const file = path.join(outDir, reportFileName(month, r.format));
    const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
    try {
      const fh = await fs.open(tmp, 'w');
      try {
        await fh.writeFile(r.content);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.rename(tmp, file);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
    files.push(file);
  }
  await syncDir(outDir);
  return files;
}

/** Makes the renames durable; not every platform lets a directory be opened. */
async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await fs.open(dir, 'r');
    try { await fh.sync(); } finally { await fh.close(); }
  } catch { /* best effort */ }
}

/**
 * Writes the files of a stored month that are missing from outDir, from the stored content.
 * The report's rows commit before its files are written, so a write that failed then (a full
 * disk, a restart) left the month stored without files, and the job, seeing it stored, never
 * wrote them. Returns the files written (none when every one is present).
 */
export async function writeMissingReportFiles(db: Database, outDir: string, month: string): Promise<string[]> {
  const missing: ReportFormat[] = [];
  for (const format of REPORT_FORMATS) {
    const present = await fs.access(path.join(outDir, reportFileName(month, format))).then(() => true, () => false);
    if (!present) missing.push(format);
  }
  const rendered: Array<{ format: ReportFormat; content: string }> = [];
  for (const format of missing) {
    const [row] = await db.query<{ content: string }>(q.get, [month, format]);
    // A format never stored (an operator's `bgc report --formats json`) is not ours to make up.
    if (row) rendered.push({ format, content: row.content });
  }
  return rendered.length ? writeReportFiles(outDir, month, rendered) : [];
}

class AlreadyStored extends Error {
  constructor() { super('report already stored'); }
}

export function defaultReportDir(config: Config): string {
  return path.join(config.dataDir, 'reports');
}
