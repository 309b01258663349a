import type pg from 'pg';
import { BinaryCopyEncoder } from './binary-copy.ts';
import { CopySink } from './copy-sink.ts';

/**
 * A row producer writes rows into the encoder and yields, every few hundred rows, how
 * many it wrote since the last yield. Between yields the driver ships full chunks to the
 * server and waits for the socket when it is behind (so generation never runs far ahead).
 */
export type RowProducer = (enc: BinaryCopyEncoder) => Generator<number, void, void>;

export interface CopyTarget {
  readonly table: string;
  readonly columns: readonly string[];
  /**
   * TRUNCATE then COPY … FREEZE in one transaction: rows arrive frozen and the pages
   * all-visible, so index-only scans work at once and autovacuum need not rewrite every
   * page (and ship that WAL to the replicas) later. Only for tables no foreign key
   * points at: TRUNCATE of a referenced table would need its referrers truncated too.
   * The caller has opened the transaction (IndexRebuild) and commits it.
   */
  readonly freeze: boolean;
}

const quote = (ident: string) => `"${ident.replace(/"/g, '""')}"`;

/** One table's COPY in progress: rows go into `enc`, `flush()` ships full chunks. */
export class TableCopy {
  readonly enc = new BinaryCopyEncoder();

  private constructor(private readonly sink: CopySink) {}

  static async begin(client: pg.ClientBase, target: CopyTarget): Promise<TableCopy> {
    const options = target.freeze ? 'FORMAT binary, FREEZE true' : 'FORMAT binary';
    const sql = `COPY ${quote(target.table)} (${target.columns.map(quote).join(', ')}) FROM STDIN WITH (${options})`;
    if (target.freeze) await client.query(`TRUNCATE ONLY ${quote(target.table)}`);
    return new TableCopy(CopySink.open(client, sql));
  }

  async flush(): Promise<void> {
    if (this.enc.hasFull) await this.sink.write(this.enc.takeFull());
  }

  /** Completes the COPY; returns the server's row count. */
  async end(): Promise<number> {
    return this.sink.end(this.enc.finish());
  }

  /** Aborts the COPY; the caller rolls its transaction back. */
  fail(err: unknown): void {
    this.sink.abort(err instanceof Error ? err : new Error(String(err)));
  }
}

/**
 * Runs `produce` into one COPY. `between`, if given, runs at every yield: the feed uses it
 * to ship the comments it generates alongside posts into a second, concurrent COPY.
 */
export async function copyInto(
  client: pg.ClientBase, target: CopyTarget, produce: RowProducer, onRows: (n: number) => void, between?: () => Promise<void>,
): Promise<number> {
  const copy = await TableCopy.begin(client, target);
  try {
    for (const n of produce(copy.enc)) {
      onRows(n);
      await copy.flush();
      if (between) await between();
    }
    return await copy.end();
  } catch (err) {
    copy.fail(err);
    throw err;
  }
}
