/**
 * Calls made in one turn of the event loop, sent to Redis as one command. A group commit
 * announces its 10–20 sends in one pass (after-commit hooks run side by side), and each
 * announcement was its own command: ioredis built, encoded, parsed and resolved 3–4
 * commands per send, and Redis ran one script per send (docs/PERFORMANCE.md, "Announcing
 * a group's sends in one command"). Here every call made before the flush joins one batch.
 *
 * The flush is scheduled with process.nextTick: Node runs it after the promise chains of
 * the current turn have settled (its tick queue drains after the microtasks), so calls
 * made a few awaits later in the same turn (the real-time publish after the sender check)
 * still join. Calls keep their order inside a batch, and batches go out in order on the
 * one connection, so whatever relied on Redis seeing commands in call order still holds.
 *
 * All or nothing: if the batch's command fails, every call in it rejects with that error.
 */
export class SameTickBatch<Item> {
  #pending: Array<{ readonly item: Item; readonly settle: Settle }> = [];

  constructor(
    /** Sends the items as one command; its rejection fails every call of the batch. */
    private readonly send: (items: readonly Item[]) => Promise<unknown>,
    /** A batch is sent as soon as it holds this many (a script's arguments stay bounded). */
    private readonly maxItems = 256,
  ) {}

  add(item: Item): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.#pending.length === 0) process.nextTick(() => this.#flush());
      this.#pending.push({ item, settle: { resolve, reject } });
      if (this.#pending.length >= this.maxItems) this.#flush();
    });
  }

  #flush(): void {
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    let sent: Promise<unknown>;
    try {
      sent = this.send(batch.map((b) => b.item));
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then(
      () => { for (const b of batch) b.settle.resolve(); },
      (err: unknown) => { for (const b of batch) b.settle.reject(err); },
    );
  }
}

interface Settle {
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}
