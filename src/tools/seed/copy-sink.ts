import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/**
 * One `COPY … FROM STDIN` on a connection, fed with chunks from BinaryCopyEncoder.
 * Writes respect backpressure (await 'drain') so memory stays at a few chunks however
 * many rows are generated; an error from the server rejects the next write or end().
 */
export class CopySink {
  readonly #stream: ReturnType<typeof copyFrom>;
  #error: Error | undefined;

  private constructor(stream: ReturnType<typeof copyFrom>) {
    this.#stream = stream;
    // Without a listener a server-side COPY error would crash the process as an
    // unhandled 'error' event; we keep it and rethrow at the next write or end().
    stream.on('error', (err: Error) => { this.#error ??= err; });
  }

  static open(client: pg.ClientBase, sql: string): CopySink {
    return new CopySink(client.query(copyFrom(sql)));
  }

  /**
   * Writes in call order even when callers overlap (two month loaders feed one comments
   * COPY): each call queues behind the previous one, so chunks taken earlier from the
   * encoder always reach the socket first.
   */
  write(chunks: readonly Buffer[]): Promise<void> {
    const next = this.#queue.then(() => this.#writeNow(chunks));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #queue: Promise<void> = Promise.resolve();

  async #writeNow(chunks: readonly Buffer[]): Promise<void> {
    for (const chunk of chunks) {
      if (this.#error) throw this.#error;
      if (!this.#stream.write(chunk)) await once(this.#stream, 'drain');
    }
  }

  /** Sends the end of data and waits until the server has committed the COPY; returns its row count. */
  async end(chunks: readonly Buffer[] = []): Promise<number> {
    await this.write(chunks);
    this.#stream.end();
    await finished(this.#stream);
    if (this.#error) throw this.#error;
    return this.#stream.rowCount;
  }

  /** Aborts the COPY (the server rolls it back). */
  abort(reason: Error): void {
    this.#stream.destroy(reason);
  }
}
