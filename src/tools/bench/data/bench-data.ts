/**
 * What the load generator needs to build realistic requests, gathered once by the
 * harness from the seeded database and the API (sessions from real logins). Lists are
 * ordered most-popular-first so the generator can draw from them with Zipf(1.0).
 */
export interface BenchActor {
  readonly id: string;
  readonly token: string;
  /** Conversations the actor belongs to, most recently active first. */
  readonly conversations: readonly string[];
  /** Users this actor blocked or was blocked by: their profiles answer 404 to this actor. */
  readonly hidden: readonly string[];
  /** Active groups the actor is a member of, busiest first (group feeds are members-only). */
  readonly groups: readonly string[];
}

export interface SearchVocabulary {
  readonly places: ReadonlyArray<{ readonly city: string; readonly state: string; readonly lat: number | null; readonly lng: number | null }>;
  readonly interests: readonly string[];
  readonly roles: readonly string[];
  readonly words: readonly string[];
  /** JSONB metadata filters as the API takes them (a JSON object), drawn from real profiles. */
  readonly metadataFilters: readonly string[];
}

export interface BenchData {
  readonly actors: readonly BenchActor[];
  readonly profileIds: readonly string[];
  /** Public profiles that have photos, most photos first (gallery reads). */
  readonly galleryOwners: readonly string[];
  /** The newest public posts (not in a group, not hidden), newest first: the feed's head, where comments go. */
  readonly recentPosts: ReadonlyArray<{ readonly id: string; readonly authorId: string }>;
  readonly rooms: readonly string[];
  readonly search: SearchVocabulary;
}

export const EMPTY_BENCH_DATA: BenchData = {
  actors: [],
  profileIds: [],
  galleryOwners: [],
  recentPosts: [],
  rooms: [],
  search: { places: [], interests: [], roles: [], words: [], metadataFilters: [] },
};
