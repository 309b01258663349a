/**
 * App-level group commit (issue 16): concurrent writes are queued and handed to `run` in
 * groups, so N writers share one statement, one commit and one WAL flush.
 *
 * - No timer and no added wait at low load: a group leaves as soon as one of `maxInFlight`
 *   slots is free (at the end of the current event-loop turn, so requests that arrived
 *   together leave together). While the slots are busy, the queue grows, and the next
 *   group takes up to `maxGroup` of it: the batch size follows the load by itself.
 * - Each caller's promise settles with ITS member's outcome, and only when `run` has
 *   returned, i.e. after the group's commit: nobody is answered before the write is durable.
 * - `exclusiveKey`: two members with the same key never share a group, nor run in two
 *   groups at once; the later one waits for the next group after the first's has finished
 *   (for Idempotency-Keys: the second then finds the first's record and replays it, instead
 *   of both inserting the key in one statement, which PostgreSQL refuses).
 * - `run` answers per member (`Settled`); if it throws, every member of that group gets
 *   the error (a bug, or an outcome that is the same for all, such as a lost connection).
 */
export type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

export interface WriteBatcherOptions {
  /**
   * Most members per group. 1 turns grouping off: every write runs at once on its own, with
   * no queue, no in-flight cap and no exclusive keys (as before grouping existed).
   */
  readonly maxGroup: number;
  /** Groups running at once (when grouping is on). */
  readonly maxInFlight: number;
}

interface Waiting<In, Out> {
  readonly item: In;
  readonly key: string | undefined;
  readonly resolve: (value: Out) => void;
  readonly reject: (err: unknown) => void;
}

/** Counters for metrics and tests: groups run and members they carried. */
export interface WriteBatcherStats {
  readonly groups: number;
  readonly members: number;
  readonly largestGroup: number;
}

export class WriteBatcher<In, Out> {
  readonly #queue: Array<Waiting<In, Out>> = [];
  /** Exclusive keys of members in running groups. */
  readonly #busyKeys = new Set<string>();
  #inFlight = 0;
  #scheduled = false;
  #groups = 0;
  #members = 0;
  #largest = 0;

  constructor(
    private readonly run: (items: readonly In[]) => Promise<ReadonlyArray<Settled<Out>>>,
    private readonly options: WriteBatcherOptions,
    private readonly exclusiveKey: (item: In) => string | undefined = () => undefined,
  ) {
    if (!Number.isInteger(options.maxGroup) || options.maxGroup < 1) throw new Error('maxGroup must be an integer >= 1');
    if (!Number.isInteger(options.maxInFlight) || options.maxInFlight < 1) throw new Error('maxInFlight must be an integer >= 1');
  }

  /** Queues `item`; settles with its own outcome after its group has finished. */
  submit(item: In): Promise<Out> {
    if (this.options.maxGroup === 1) return this.#alone(item);
    return new Promise<Out>((resolve, reject) => {
      this.#queue.push({ item, key: this.exclusiveKey(item), resolve, reject });
      this.#schedule();
    });
  }

  /**
   * Grouping off (maxGroup 1): the write runs at once, in a group of its own, with no
   * queue and no cap on how many run together, exactly as an ungrouped write would.
   */
  async #alone(item: In): Promise<Out> {
    this.#groups++;
    this.#members++;
    this.#largest = Math.max(this.#largest, 1);
    const [o] = await this.run([item]);
    if (o === undefined) throw new Error('write group returned no outcome');
    if (o.ok) return o.value;
    throw o.error;
  }

  get stats(): WriteBatcherStats {
    return { groups: this.#groups, members: this.#members, largestGroup: this.#largest };
  }

  /** Members waiting for a group (not those running). */
  get queued(): number {
    return this.#queue.length;
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.options.maxInFlight || this.#queue.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#inFlight < this.options.maxInFlight) {
      const group = this.#take();
      if (group.length === 0) return;
      this.#inFlight++;
      void this.#runGroup(group);
    }
  }

  /** Up to maxGroup members in arrival order, leaving behind those whose key is taken. */
  #take(): Array<Waiting<In, Out>> {
    const group: Array<Waiting<In, Out>> = [];
    const keys = new Set<string>();
    let i = 0;
    while (i < this.#queue.length && group.length < this.options.maxGroup) {
      const w = this.#queue[i];
      if (w === undefined) break;
      if (w.key !== undefined && (keys.has(w.key) || this.#busyKeys.has(w.key))) {
        i++;
        continue;
      }
      this.#queue.splice(i, 1);
      if (w.key !== undefined) keys.add(w.key);
      group.push(w);
    }
    for (const k of keys) this.#busyKeys.add(k);
    return group;
  }

  async #runGroup(group: ReadonlyArray<Waiting<In, Out>>): Promise<void> {
    this.#groups++;
    this.#members += group.length;
    this.#largest = Math.max(this.#largest, group.length);
    try {
      const outcomes = await this.run(group.map((w) => w.item));
      group.forEach((w, i) => {
        const o = outcomes[i];
        if (o === undefined) w.reject(new Error(`write group returned ${outcomes.length} outcomes for ${group.length} members`));
        else if (o.ok) w.resolve(o.value);
        else w.reject(o.error);
      });
    } catch (err) {
      for (const w of group) w.reject(err);
    } finally {
      for (const w of group) if (w.key !== undefined) this.#busyKeys.delete(w.key);
      this.#inFlight--;
      this.#schedule();
    }
  }
}
