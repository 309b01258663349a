import type { QueryContext } from '../../db/database.ts';
import { AppError } from '../../errors/app-error.ts';
import type { SearchFilters, SearchRepository, SearchRow } from '../../repositories/search.repository.ts';
import { MAX_UUID, MIN_UUID } from '../../repositories/sql-fragments.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { pageSize, type Page } from '../support.ts';
import { ageFrom, yearsAgo } from '../age.ts';
import { normaliseTags } from '../profiles/profile.service.ts';

/** GET /api/search query parameters, as strings and numbers straight from the query string. */
export interface SearchParams {
  readonly q?: string;
  readonly city?: string;
  readonly state?: string;
  readonly ethnicity?: string;
  readonly min_age?: number;
  readonly max_age?: number;
  /** Comma-separated; every listed value must be present (JSONB containment). */
  readonly interests?: string;
  readonly roles?: string;
  /** A JSON object; profiles whose metadata contains it match (JSONB containment). */
  readonly metadata?: string;
  readonly lat?: number;
  readonly lng?: number;
  readonly radius_km?: number;
  readonly limit?: number;
  readonly cursor?: string;
}

export type SearchItem = SearchRow & { readonly age: number | null };

const DEFAULT_RADIUS_KM = 25;
const MAX_TAGS = 20;

export class SearchService {
  constructor(private readonly search: SearchRepository) {}

  /** Most recently active first; nearest first when lat/lng are given (search.profiles_near). */
  async profiles(viewerId: string, params: SearchParams, ctx: QueryContext): Promise<Page<SearchItem>> {
    const limit = pageSize(params.limit);
    const filters = toFilters(params);
    if (filters.near) {
      const after = decodeCursor('search_near', params.cursor) ?? { d: -1, id: MIN_UUID };
      const rows = await this.search.near(filters, after, limit + 1, viewerId, ctx);
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        items: page.map(({ knn_distance: _d, ...r }) => ({ ...r, age: ageFrom(r.birthdate) })),
        next_cursor: rows.length > limit && last ? encodeCursor('search_near', { d: last.knn_distance, id: last.id }) : null,
      };
    }
    const after = decodeCursor('search', params.cursor) ?? { ts: 'infinity', id: MAX_UUID };
    const rows = await this.search.profiles(filters, after, limit + 1, viewerId, ctx);
    const items = rows.slice(0, limit).map((r) => ({ ...r, age: ageFrom(r.birthdate) }));
    const last = items[items.length - 1];
    return {
      items,
      next_cursor: rows.length > limit && last ? encodeCursor('search', { ts: last.last_active_at, id: last.id }) : null,
    };
  }
}

const blankToNull = (s: string | undefined): string | null => {
  const t = s?.trim();
  return t ? t : null;
};

/**
 * Free text with no letter or digit (`--`, an emoji) holds no word to search for: it is no
 * filter, as blank text is. Before, it reached the query, whose words were none, and the
 * search matched nothing whatever its other filters.
 */
const wordsOrNull = (s: string | undefined): string | null => {
  const t = blankToNull(s);
  return t !== null && /[\p{L}\p{N}]/u.test(t) ? t : null;
};

function tags(raw: string | undefined, name: string): string[] | null {
  if (raw === undefined) return null;
  const list = normaliseTags(raw.split(','));
  if (list.length === 0) return null;
  if (list.length > MAX_TAGS) throw new AppError('VALIDATION_FAILED', `${name}: at most ${MAX_TAGS} values`);
  return list;
}

function metadataFilter(raw: string | undefined): Record<string, unknown> | null {
  if (raw === undefined || raw.trim() === '') return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new AppError('VALIDATION_FAILED', 'metadata must be a JSON object, e.g. {"smoker":false}');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new AppError('VALIDATION_FAILED', 'metadata must be a JSON object, e.g. {"smoker":false}');
  }
  return parsed as Record<string, unknown>;
}

function toFilters(p: SearchParams): SearchFilters {
  if (p.min_age !== undefined && p.max_age !== undefined && p.min_age > p.max_age) {
    throw new AppError('VALIDATION_FAILED', 'min_age must not exceed max_age');
  }
  const hasLat = p.lat !== undefined;
  if (hasLat !== (p.lng !== undefined)) throw new AppError('VALIDATION_FAILED', 'lat and lng must be given together');
  if (p.radius_km !== undefined && !hasLat) throw new AppError('VALIDATION_FAILED', 'radius_km needs lat and lng');
  return {
    q: wordsOrNull(p.q),
    city: blankToNull(p.city),
    state: blankToNull(p.state),
    ethnicity: blankToNull(p.ethnicity),
    bornOnOrBefore: p.min_age !== undefined ? yearsAgo(p.min_age) : null,
    // Age ≤ max ⇔ the (max+1)th birthday is still ahead ⇔ born after today − (max+1) years.
    bornAfter: p.max_age !== undefined ? yearsAgo(p.max_age + 1) : null,
    interests: tags(p.interests, 'interests'),
    roles: tags(p.roles, 'roles'),
    metadata: metadataFilter(p.metadata),
    near: hasLat && p.lat !== undefined && p.lng !== undefined
      ? { lat: p.lat, lng: p.lng, radiusM: (p.radius_km ?? DEFAULT_RADIUS_KM) * 1000 }
      : null,
  };
}
