/**
 * A small reader for the Prometheus text exposition format (what /metrics serves), so
 * the harness can take counter deltas around a workload without a Prometheus server.
 */
export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/g;

function unescape(v: string): string {
  return v.replace(/\\(["\\n])/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

export function parsePromText(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    const body = m[3];
    if (body) for (const lm of body.matchAll(LABEL)) labels[lm[1] ?? ''] = unescape(lm[2] ?? '');
    const value = m[4] === '+Inf' ? Number.POSITIVE_INFINITY : m[4] === '-Inf' ? Number.NEGATIVE_INFINITY : Number(m[4]);
    out.push({ name: m[1] ?? '', labels, value });
  }
  return out;
}

/** Series keyed by name and sorted labels, for subtracting one scrape from another. */
export class PromSnapshot {
  readonly #series = new Map<string, PromSample>();

  constructor(readonly samples: readonly PromSample[]) {
    for (const s of samples) this.#series.set(PromSnapshot.key(s.name, s.labels), s);
  }

  static key(name: string, labels: Readonly<Record<string, string>>): string {
    const parts = Object.keys(labels).sort().map((k) => `${k}=${labels[k] ?? ''}`);
    return `${name}{${parts.join(',')}}`;
  }

  has(name: string): boolean {
    return this.samples.some((s) => s.name === name);
  }

  /** Sum of every series of `name` whose labels match `filter` (a predicate on labels). */
  sum(name: string, filter: (labels: Readonly<Record<string, string>>) => boolean = () => true): number {
    let total = 0;
    for (const s of this.samples) if (s.name === name && filter(s.labels)) total += s.value;
    return total;
  }

  /** Counter increase since `before`; a series missing before counts from zero. */
  delta(before: PromSnapshot, name: string, filter: (labels: Readonly<Record<string, string>>) => boolean = () => true): number {
    let total = 0;
    for (const s of this.samples) {
      if (s.name !== name || !filter(s.labels)) continue;
      const prev = before.#series.get(PromSnapshot.key(s.name, s.labels))?.value ?? 0;
      // A counter that went down means the process restarted: count from zero.
      total += s.value >= prev ? s.value - prev : s.value;
    }
    return total;
  }

  /** The largest value among the series of `name` (a gauge read across instances). */
  max(name: string): number {
    let top = Number.NEGATIVE_INFINITY;
    for (const s of this.samples) if (s.name === name && s.value > top) top = s.value;
    return top === Number.NEGATIVE_INFINITY ? 0 : top;
  }

  /**
   * Several instances' scrapes as one (`bgc bench --haproxy --instances N`): every series gets
   * an `bgc_instance` label, so counters and histograms add up across instances in sum() and
   * delta(), and a gauge is read with max().
   */
  static merge(snapshots: readonly PromSnapshot[]): PromSnapshot {
    if (snapshots.length === 1 && snapshots[0]) return snapshots[0];
    return new PromSnapshot(snapshots.flatMap((snap, i) => snap.samples.map((s) => ({ ...s, labels: { ...s.labels, bgc_instance: String(i + 1) } }))));
  }

  /** Distinct values of one label across the series of `name`. */
  labelValues(name: string, label: string): string[] {
    const set = new Set<string>();
    for (const s of this.samples) if (s.name === name && s.labels[label] !== undefined) set.add(s.labels[label] ?? '');
    return [...set].sort();
  }
}
