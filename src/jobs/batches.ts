/**
 * Runs a batched delete until a batch comes back short, stopping between batches once `signal`
 * aborts (shutdown, lost leadership); returns how many rows all the batches took. Each batch is
 * its own statement, so writers never queue behind one long delete.
 */
export async function untilShortBatch(deleteBatch: (batch: number) => Promise<number>, batch: number, signal?: AbortSignal): Promise<number> {
  let total = 0;
  for (;;) {
    if (signal?.aborted) return total;
    const n = await deleteBatch(batch);
    total += n;
    if (n < batch) return total;
  }
}
