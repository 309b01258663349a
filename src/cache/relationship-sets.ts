/**
 * The relationship cache's data model: each user's relationship rows (both directions),
 * cached per user, not per pair.
 *
 * Why per user: a profile read asks "what stands between viewer V and user P". Keyed per
 * pair, most lookups are first-time pairs (viewers × profiles): a Zipf(1.0) simulation of
 * the profile benchmark (1,000 viewers, 10,000 profiles, 50,000 reads) hits only ~37% of
 * pairs, against ~98% per viewer. The viewer's set answers every pair, including the
 * common "nothing between us", and there are only as many sets as active viewers.
 *
 * Why a trie: degrees are Zipf-skewed, and the most active users (the hottest viewers)
 * have the most rows (3,591 for the top user of `medium`; tens of thousands on `large`).
 * A set node holds at most SET_ROWS rows. A user with more is split by the last hex
 * digit of the other user's id (uuidv7 ids end in random bits, so the split is even):
 *
 *   <V>          all of V's rows, or "split"
 *   <V>:<h>      V's rows with users whose id ends in h, or "split"      (16 nodes)
 *   <V>:<hh>     … ending in hh, or "split"                              (256 nodes)
 *   <V>:<hhh>    … ending in hhh, up to DEEPEST_ROWS, else "overflow"     (4,096 nodes)
 *
 * A typical user is one node (one lookup); the top user of `medium` is two. "overflow"
 * (more than 1M rows in one user's set) falls back to the per-pair database read.
 *
 * Sibling loading: a node at depth d ≥ 1 is asked for only when its parent is (or was
 * hinted) split, and its 15 siblings are usually about to be asked for too (a hot viewer
 * reads many profiles). So a miss at depth d reads the PARENT's whole range in one
 * statement (LIMIT siblingRowLimit(d) = 16 × rowLimit(d) + 1), builds all 16 children
 * (buildSiblings; a child over rowLimit(d) is stored as "split"), returns the one asked
 * for and stores the others (relationship-set-loader.ts): a split viewer costs one miss
 * per parent instead of one per leaf. A sibling is stored only if it was not invalidated
 * while the statement ran (its RecentInvalidations stamp, taken before, is unchanged) and
 * is not cached already (a cached copy may be newer); if any sibling was invalidated
 * moments ago, the statement reads the primary. A range cut off by the LIMIT decides only
 * the children it shows over the limit (those are "split"); the one asked for, if not
 * among them, is loaded alone.
 *
 * Invalidation: a change to any row between A and B drops every node that could hold it,
 * four levels for each side (pairInvalidationKeys); migrations/0008 computes the same keys.
 * Splitting is decided at load time, so a set that grows past SET_ROWS is reloaded as
 * "split" by the same invalidation that dropped it.
 */
export const SET_ROWS = 256;
export const MAX_DEPTH = 3;
export const DEEPEST_ROWS = 4_096;

export type EdgeKind = 'friend' | 'favorite' | 'block';
export type EdgeStatus = 'pending' | 'accepted';

/** One relationship row seen from the set's owner (same shape as services' RelationshipEdge). */
export interface EdgeLike {
  readonly outgoing: boolean;
  readonly kind: EdgeKind;
  readonly status: EdgeStatus;
}

export interface SetRow extends EdgeLike {
  readonly other_id: string;
}

/**
 * A cached node. `edges` maps the other user's id to a 12-bit mask of the rows between
 * the two (direction × kind × status), so a node with 256 rows stays around 12 KB.
 */
export type SetNode =
  | { readonly edges: Readonly<Record<string, number>> }
  | { readonly split: true }
  | { readonly overflow: true };

const KINDS: readonly EdgeKind[] = ['friend', 'favorite', 'block'];
const STATUSES: readonly EdgeStatus[] = ['accepted', 'pending'];

function bit(e: EdgeLike): number {
  return (e.outgoing ? 0 : 6) + KINDS.indexOf(e.kind) * 2 + STATUSES.indexOf(e.status);
}

export function maskOf(edges: readonly EdgeLike[]): number {
  let m = 0;
  for (const e of edges) m |= 1 << bit(e);
  return m;
}

export function edgesOf(mask: number): EdgeLike[] {
  const out: EdgeLike[] = [];
  for (const outgoing of [true, false]) {
    for (const kind of KINDS) {
      for (const status of STATUSES) {
        if (mask & (1 << bit({ outgoing, kind, status }))) out.push({ outgoing, kind, status });
      }
    }
  }
  return out;
}

/** The last `depth` hex digits of a user id: which node at that depth holds it. */
export function suffixOf(userId: string, depth: number): string {
  return depth === 0 ? '' : userId.slice(-depth);
}

/** Cache key (within the `relationship` cache) of owner's node for `suffix`. */
export function setKey(ownerId: string, suffix: string): string {
  return suffix === '' ? ownerId : `${ownerId}:${suffix}`;
}

export function parseSetKey(key: string): { ownerId: string; suffix: string } {
  const i = key.indexOf(':');
  return i < 0 ? { ownerId: key, suffix: '' } : { ownerId: key.slice(0, i), suffix: key.slice(i + 1) };
}

/** How many rows a node at `depth` may hold before it splits (or overflows at the bottom). */
export function rowLimit(depth: number): number {
  return depth < MAX_DEPTH ? SET_ROWS : DEEPEST_ROWS;
}

/**
 * Builds the node from the rows the loader read with LIMIT rowLimit(depth) + 1: more
 * rows than the limit means the node is split (or overflows at the deepest level).
 */
export function buildNode(rows: readonly SetRow[], depth: number): SetNode {
  if (rows.length > rowLimit(depth)) return depth < MAX_DEPTH ? { split: true } : { overflow: true };
  const byOther: Record<string, number> = {};
  for (const r of rows) byOther[r.other_id] = (byOther[r.other_id] ?? 0) | (1 << bit(r));
  return { edges: byOther };
}

/** The 16 hex digits a child's suffix adds in front of its parent's. */
export const HEX_DIGITS = '0123456789abcdef';

/** LIMIT of a sibling load for depth `depth`: enough to decide all 16 children when none is split. */
export function siblingRowLimit(depth: number): number {
  return 16 * rowLimit(depth) + 1;
}

/** The suffixes of the 16 children of the node for `parentSuffix` (one more digit in front). */
export function childSuffixes(parentSuffix: string): string[] {
  return [...HEX_DIGITS].map((h) => `${h}${parentSuffix}`);
}

/**
 * The children of the node for `parentSuffix`, from the rows of the parent's range read
 * with LIMIT `limit` (siblingRowLimit). All 16 when the range was read whole (fewer rows
 * than `limit`); when the LIMIT cut it off, only the children the rows already show over
 * their limit (split, or overflow at the deepest level): the others may be incomplete.
 */
export function buildSiblings(rows: readonly SetRow[], parentSuffix: string, limit: number): Map<string, SetNode> {
  const depth = parentSuffix.length + 1;
  const byChild = new Map<string, SetRow[]>(childSuffixes(parentSuffix).map((s) => [s, []]));
  for (const r of rows) byChild.get(suffixOf(r.other_id.toLowerCase(), depth))?.push(r);
  const whole = rows.length < limit;
  const out = new Map<string, SetNode>();
  for (const [suffix, childRows] of byChild) {
    if (whole || childRows.length > rowLimit(depth)) out.set(suffix, buildNode(childRows, depth));
  }
  return out;
}

/** Every key that may cache a row between `a` and `b`: 2 owners × (MAX_DEPTH + 1) levels. */
export function pairInvalidationKeys(a: string, b: string): string[] {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const keys: string[] = [];
  for (let d = 0; d <= MAX_DEPTH; d++) keys.push(setKey(x, suffixOf(y, d)), setKey(y, suffixOf(x, d)));
  return keys;
}

export function isSetNode(v: unknown): v is SetNode {
  if (typeof v !== 'object' || v === null) return false;
  return ('edges' in v && typeof v.edges === 'object' && v.edges !== null) || 'split' in v || 'overflow' in v;
}

/**
 * Remembers, per owner, the depth at which that owner's set was last found split into
 * leaves, so lookups of big sets skip the "split" nodes above (one cache lookup instead
 * of two or three). A stale hint is harmless: a node at any depth answers completely for
 * the users whose ids end in its suffix, so starting deeper than needed only reads a
 * smaller node. Bounded: the oldest hints go first.
 */
export class SplitDepthHints {
  readonly #depth = new Map<string, number>();

  constructor(readonly maxOwners = 10_000) {}

  get(ownerId: string): number { return this.#depth.get(ownerId) ?? 0; }

  set(ownerId: string, depth: number): void {
    this.#depth.delete(ownerId);
    if (depth === 0) return;
    this.#depth.set(ownerId, depth);
    if (this.#depth.size > this.maxOwners) {
      const oldest = this.#depth.keys().next();
      if (!oldest.done) this.#depth.delete(oldest.value);
    }
  }

  get size(): number { return this.#depth.size; }
}

/**
 * The rows between `ownerId` and `otherId`, walking the trie through `getNode` from the
 * hinted depth; undefined when the set overflowed (the caller asks the database).
 */
export async function lookupPair(
  getNode: (key: string) => Promise<unknown>,
  ownerId: string,
  otherId: string,
  hints?: SplitDepthHints,
): Promise<EdgeLike[] | undefined> {
  for (let depth = hints?.get(ownerId) ?? 0; depth <= MAX_DEPTH; depth++) {
    const node = await getNode(setKey(ownerId, suffixOf(otherId, depth)));
    if (!isSetNode(node) || 'overflow' in node) return undefined;
    if ('edges' in node) {
      hints?.set(ownerId, depth);
      return edgesOf(node.edges[otherId] ?? 0);
    }
  }
  return undefined;
}
