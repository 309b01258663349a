import type { BinaryCopyEncoder } from './binary-copy.ts';
import { PairSet } from './pair-set.ts';
import { Prng } from './prng.ts';
import { writeUuidV7 } from './uuidv7.ts';
import { SKEW, type World } from './world.ts';

/**
 * Issue 20's rows: photo metadata (profile galleries) and content reports gathered in
 * open moderation cases. Photos are metadata only: the seed writes no image files, so a
 * seeded photo lists in its gallery and its file answers 404 (the bench reads galleries,
 * not files). Reports are about profiles, one case per reported profile with the exact
 * report_count of its reports, every case open (the moderators' queue).
 */
export const PHOTO_COLUMNS = ['id', 'owner_id', 'content_type', 'bytes', 'width', 'height', 'thumb_bytes', 'created_at'] as const;
export const CASE_COLUMNS = ['id', 'target_kind', 'target_id', 'target_user_id', 'report_count', 'first_reported_at', 'last_reported_at', 'status'] as const;
export const REPORT_COLUMNS = ['target_kind', 'target_id', 'reporter_id', 'reason', 'details', 'created_at'] as const;

const YIELD_EVERY = 512;
const TYPES = ['image/jpeg', 'image/webp', 'image/png'] as const;
const TYPE_WEIGHTS = [70, 20, 10];
/** Stored sizes (after the 2048-pixel cap) as phones and cameras produce them. */
const SIZES = [[2048, 1536], [1536, 2048], [1080, 1080], [2048, 1152], [1152, 2048], [1600, 1200], [800, 600]] as const;
/** Bytes per pixel of the stored encodings (JPEG q85, WebP q85, PNG level 9), roughly. */
const BYTES_PER_PIXEL: Record<(typeof TYPES)[number], number> = { 'image/jpeg': 0.18, 'image/webp': 0.12, 'image/png': 1.1 };
const REASONS = ['spam', 'harassment', 'scam', 'other', 'hate', 'sexual', 'violence'] as const;
const REASON_WEIGHTS = [40, 20, 15, 12, 6, 4, 3];
const HOUR_MS = 3_600_000;

/** `preset.photos` rows, owners Zipf-drawn (active users have more), each after its owner signed up; written in time (id) order. */
export function* photoRows(world: World, enc: BinaryCopyEncoder): Generator<number, void, void> {
  const rng = new Prng(world.seed, 'photos.rows');
  const { users, timeline } = world;
  const total = world.preset.photos;
  const owners = new Int32Array(total);
  const at = new Float64Array(total);
  for (let k = 0; k < total; k++) {
    const owner = rng.zipf(users.count, SKEW.users);
    const since = users.createdAt[owner] as number;
    owners[k] = owner;
    at[k] = Math.floor(since + rng.float() * Math.max(0, timeline.anchorMs - since));
  }
  const order = new Uint32Array(total).map((_, i) => i).sort((x, y) => (at[x] as number) - (at[y] as number));
  const id = Buffer.allocUnsafe(16);
  for (let j = 0; j < total; j++) {
    const i = order[j] as number;
    const type = rng.weighted([...TYPES], TYPE_WEIGHTS);
    const [w, h] = SIZES[rng.int(SIZES.length)] ?? [800, 600];
    const bytes = Math.max(1, Math.round(w * h * BYTES_PER_PIXEL[type] * (0.6 + 0.8 * rng.float())));
    writeUuidV7(id, 0, at[i] as number, rng);
    enc.row(PHOTO_COLUMNS.length).uuid(id, 0).uuid(users.ids, (owners[i] as number) * 16).text(type)
      .int4(bytes).int4(w).int4(h).int4(8_000 + rng.int(16_000)).timestamp(at[i] as number);
    if ((j + 1) % YIELD_EVERY === 0) yield YIELD_EVERY;
  }
  yield total % YIELD_EVERY;
}

/**
 * The reported profiles: `preset.reportCases` distinct users, popular ones more often
 * (more people see them), each with its reports' count and time span. Computed once and
 * shared by the two generators below so the cases and their reports agree exactly.
 */
export interface ReportPlan {
  readonly targets: Int32Array;
  /** Reports per case (≥ 1), summing to preset.reports. */
  readonly counts: Int32Array;
  readonly reporters: Int32Array[];
  readonly times: Float64Array[];
}

export function planReports(world: World): ReportPlan {
  const rng = new Prng(world.seed, 'reports.plan');
  const { users, timeline } = world;
  const cases = Math.min(world.preset.reportCases, users.count);
  const seenTarget = new Set<number>();
  const targets = new Int32Array(cases);
  for (let c = 0; c < cases;) {
    const u = rng.zipf(users.count, 0.6);
    if (seenTarget.has(u)) continue;
    seenTarget.add(u);
    targets[c++] = u;
  }
  const counts = new Int32Array(cases).fill(1);
  for (let r = cases; r < world.preset.reports; r++) {
    const c = rng.zipf(cases, 1.0);
    counts[c] = (counts[c] as number) + 1;
  }
  const pairs = new PairSet(world.preset.reports);
  const reporters: Int32Array[] = [];
  const times: Float64Array[] = [];
  for (let c = 0; c < cases; c++) {
    const n = Math.min(counts[c] as number, users.count - 1);
    counts[c] = n;
    const target = targets[c] as number;
    const who = new Int32Array(n);
    const when = new Float64Array(n);
    // Reports of one case come in a burst: within a week before the anchor, after both users exist.
    const start = timeline.anchorMs - rng.int(60 * 24) * HOUR_MS;
    for (let k = 0; k < n;) {
      const r = rng.int(users.count);
      if (r === target || !pairs.add(c, r)) continue;
      who[k] = r;
      const since = Math.max(users.createdAt[r] as number, users.createdAt[target] as number, start - 7 * 24 * HOUR_MS);
      when[k] = Math.floor(since + rng.float() * Math.max(0, Math.min(timeline.anchorMs - 1, start) - since));
      k++;
    }
    when.sort();
    reporters.push(who);
    times.push(when);
  }
  return { targets, counts, reporters, times };
}

export function* caseRows(world: World, plan: ReportPlan, enc: BinaryCopyEncoder): Generator<number, void, void> {
  const rng = new Prng(world.seed, 'reports.cases');
  const id = Buffer.allocUnsafe(16);
  const { users } = world;
  for (let c = 0; c < plan.targets.length; c++) {
    const when = plan.times[c] as Float64Array;
    const first = when[0] as number;
    writeUuidV7(id, 0, first, rng);
    const target = (plan.targets[c] as number) * 16;
    enc.row(CASE_COLUMNS.length).uuid(id, 0).text('profile').uuid(users.ids, target).uuid(users.ids, target)
      .int4(plan.counts[c] as number).timestamp(first).timestamp(when[when.length - 1] as number).text('open');
    if ((c + 1) % YIELD_EVERY === 0) yield YIELD_EVERY;
  }
  yield plan.targets.length % YIELD_EVERY;
}

export function* reportRows(world: World, plan: ReportPlan, enc: BinaryCopyEncoder): Generator<number, void, void> {
  const rng = new Prng(world.seed, 'reports.rows');
  const { users } = world;
  let rows = 0;
  for (let c = 0; c < plan.targets.length; c++) {
    const who = plan.reporters[c] as Int32Array;
    const when = plan.times[c] as Float64Array;
    const target = (plan.targets[c] as number) * 16;
    for (let k = 0; k < who.length; k++) {
      enc.row(REPORT_COLUMNS.length).text('profile').uuid(users.ids, target).uuid(users.ids, (who[k] as number) * 16)
        .text(rng.weighted([...REASONS], REASON_WEIGHTS));
      if (rng.chance(0.3)) enc.text('Seen in the seed data.'); else enc.null();
      enc.timestamp(when[k] as number);
      rows++;
      if (rows >= YIELD_EVERY) { yield rows; rows = 0; }
    }
  }
  yield rows;
}
