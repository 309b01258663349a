import type { QueryContext } from '../db/database.ts';
import type { LoadOptions, TypedCache } from './typed-cache.ts';
import {
  buildNode, buildSiblings, childSuffixes, isSetNode, parseSetKey, rowLimit, setKey, siblingRowLimit,
  type SetNode, type SetRow,
} from './relationship-sets.ts';

/** Where the rows come from (RelationshipSetRepository; tests wrap it to hold a load open). */
export interface RelationshipSetSource {
  load(ownerId: string, suffix: string, limit: number, ctx: QueryContext): Promise<SetRow[]>;
}

/**
 * The relationship cache's loader, with sibling loading (relationship-sets.ts): a miss at
 * depth d ≥ 1 reads the parent's range once, answers with its own node and stores the 15
 * siblings through TypedCache.setIfUnchanged, each only if it was not invalidated while
 * the statement ran. Shared by the reader (readers.ts) and the start-up warm-up (warm.ts).
 */
export class RelationshipSetLoader {
  /** Statements that read a parent's range for its 16 children. */
  siblingLoads = 0;
  /** Siblings stored by those statements (not counted as cache hits or misses). */
  siblingsStored = 0;

  /**
   * Parent nodes (keys) whose range a sibling load found too big to decide its children
   * (most of them are split): their children load alone. Bounded, oldest first out; a
   * stale entry only costs the siblings a load each, as before sibling loading.
   */
  readonly #wideParents = new Set<string>();

  constructor(private readonly cache: TypedCache, private readonly source: RelationshipSetSource, readonly maxWideParents = 10_000) {}

  /** The TypedCache loader for a node key (`<owner>` or `<owner>:<suffix>`). */
  readonly load = async (key: string, opts: LoadOptions): Promise<SetNode> => {
    const { ownerId, suffix } = parseSetKey(key);
    if (suffix === '') return this.#single(ownerId, suffix, opts);
    const siblings = childSuffixes(suffix.slice(1)).filter((s) => s !== suffix).map((s) => setKey(ownerId, s));
    // Every sibling already here (a leaf dropped by an invalidation), or a parent range too
    // big to read whole: this node's own rows suffice.
    if (this.#wideParents.has(setKey(ownerId, suffix.slice(1))) || siblings.every((k) => this.cache.cachedHere(k))) {
      return this.#single(ownerId, suffix, opts);
    }
    return this.#withSiblings(ownerId, suffix, siblings, opts);
  };

  async #single(ownerId: string, suffix: string, opts: LoadOptions): Promise<SetNode> {
    const rows = await this.source.load(ownerId, suffix, rowLimit(suffix.length) + 1, contextFor(opts.fresh, opts.onDegradedRead));
    return buildNode(rows, suffix.length);
  }

  async #withSiblings(ownerId: string, suffix: string, siblings: readonly string[], opts: LoadOptions): Promise<SetNode> {
    const parent = suffix.slice(1);
    const limit = siblingRowLimit(suffix.length);
    const stamps = new Map(siblings.map((k) => [k, this.cache.stampOf(k)]));
    // A sibling invalidated moments ago may not be on the replicas yet: read the primary.
    let degraded = false;
    const rows = await this.source.load(ownerId, parent, limit, contextFor(opts.fresh || siblings.some((k) => this.cache.isRecent(k)), () => {
      degraded = true;
      opts.onDegradedRead?.();
    }));
    this.siblingLoads++;
    const nodes = buildSiblings(rows, parent, limit);
    // Read from a replica that may be behind the max lag: the siblings are not stored (this
    // node is kept only briefly, TypedCache), or a block older than its position would be
    // undone in them for their whole TTL.
    if (degraded) return nodes.get(suffix) ?? this.#single(ownerId, suffix, opts);
    const stored = await Promise.all(siblings.map(async (k) => {
      const node = nodes.get(parseSetKey(k).suffix);
      return node !== undefined && (await this.cache.setIfUnchanged(k, node, stamps.get(k) ?? -1));
    }));
    this.siblingsStored += stored.filter(Boolean).length;
    if (rows.length >= limit) this.#noteWide(setKey(ownerId, parent));
    // The range was cut off before this child was decided: read it alone.
    return nodes.get(suffix) ?? this.#single(ownerId, suffix, opts);
  }

  #noteWide(parentKey: string): void {
    this.#wideParents.delete(parentKey);
    this.#wideParents.add(parentKey);
    if (this.#wideParents.size > this.maxWideParents) {
      const oldest = this.#wideParents.values().next();
      if (!oldest.done) this.#wideParents.delete(oldest.value);
    }
  }

  /**
   * Loads every node of `ownerId`'s set into the cache (uncounted): the root, then each
   * split node's 16 children, the first of them through a sibling load that stores the
   * rest. Stops descending when `stop()` says so (the warm-up's deadline). Returns how
   * many nodes it read.
   */
  async warmOwner(ownerId: string, stop: () => boolean): Promise<number> {
    let nodes = 0;
    let level = [''];
    while (level.length > 0 && !stop()) {
      const next: string[] = [];
      for (const suffix of level) {
        if (stop()) break;
        const node = await this.cache.getUncounted(setKey(ownerId, suffix), this.load);
        nodes++;
        if (isSetNode(node) && 'split' in node) next.push(...childSuffixes(suffix));
      }
      level = next;
    }
    return nodes;
  }
}

function contextFor(fresh: boolean, onDegradedRead: (() => void) | undefined): QueryContext {
  return { ...(fresh ? { forcePrimary: true } : {}), ...(onDegradedRead ? { onDegradedRead } : {}) };
}
