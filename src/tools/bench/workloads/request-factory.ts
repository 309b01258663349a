import { ZipfPicker } from '../zipf.ts';
import type { BenchActor, BenchData } from '../data/bench-data.ts';
import type { HttpRequestSpec } from '../load/types.ts';
import { WORKLOAD_MIX, type Operation, type WorkloadName } from './catalog.ts';

/**
 * Turns a workload into a stream of concrete requests. Who acts, whose profile is read
 * and which conversation is opened are drawn Zipf(1.0) from popularity-ordered lists, so
 * a few users and conversations are hot and most are cold, as in a real social network.
 */
const WORDS = ['coffee', 'hiking', 'music', 'weekend', 'movie', 'dinner', 'travel', 'books', 'running', 'beach',
  'concert', 'garden', 'photos', 'cooking', 'yoga', 'city', 'sunset', 'friends', 'game', 'art'];

const TRIVIAL_PAYLOAD_PATH = '/';
/** Words of seeded group names (`<city> <Interest> Group`, src/tools/seed/gen-social.ts). */
const GROUP_WORDS = ['hiking', 'cooking', 'jazz', 'yoga', 'coffee', 'chicago', 'dallas', 'travel'];

export class RequestFactory {
  readonly #actors: ZipfPicker<BenchActor> | undefined;
  readonly #talkers: ZipfPicker<BenchActor> | undefined;
  readonly #profiles: ZipfPicker<string> | undefined;
  readonly #members: ZipfPicker<BenchActor> | undefined;
  readonly #galleries: ZipfPicker<string> | undefined;
  readonly #posts: ZipfPicker<{ readonly id: string; readonly authorId: string }> | undefined;
  readonly #random: () => number;

  constructor(readonly data: BenchData, random: () => number = Math.random) {
    this.#random = random;
    if (data.actors.length > 0) this.#actors = new ZipfPicker(data.actors, 1.0, random);
    const talkers = data.actors.filter((a) => a.conversations.length > 0);
    if (talkers.length > 0) this.#talkers = new ZipfPicker(talkers, 1.0, random);
    if (data.profileIds.length > 0) this.#profiles = new ZipfPicker(data.profileIds, 1.0, random);
    const members = data.actors.filter((a) => a.groups.length > 0);
    if (members.length > 0) this.#members = new ZipfPicker(members, 1.0, random);
    if (data.galleryOwners.length > 0) this.#galleries = new ZipfPicker(data.galleryOwners, 1.0, random);
    if (data.recentPosts.length > 0) this.#posts = new ZipfPicker(data.recentPosts, 1.0, random);
  }

  /** A generator of requests following the workload's operation mix. */
  generator(workload: WorkloadName | 'trivial'): () => HttpRequestSpec {
    const mix = WORKLOAD_MIX[workload];
    const total = mix.reduce((s, [, w]) => s + w, 0);
    const cumulative = mix.map(([op], i) => [op, mix.slice(0, i + 1).reduce((s, [, w]) => s + w, 0) / total] as const);
    return () => {
      const u = this.#random();
      const op = cumulative.find(([, c]) => u < c)?.[0] ?? cumulative[cumulative.length - 1]?.[0] ?? 'healthz';
      return this.build(op);
    };
  }

  build(op: Operation): HttpRequestSpec {
    switch (op) {
      case 'healthz': return { op, method: 'GET', path: '/healthz', headers: {} };
      case 'trivial': return { op, method: 'GET', path: TRIVIAL_PAYLOAD_PATH, headers: {} };
      case 'profile_read': {
        const actor = this.#actor();
        return { op, method: 'GET', path: `/api/profiles/${this.#profileFor(actor)}`, headers: auth(actor) };
      }
      case 'session_read': return { op, method: 'GET', path: '/api/auth/session', headers: auth(this.#actor()) };
      case 'inbox': return { op, method: 'GET', path: '/api/chat/conversations', headers: auth(this.#talker()) };
      case 'history': {
        const actor = this.#talker();
        return { op, method: 'GET', path: `/api/chat/conversations/${this.#conversation(actor)}/history`, headers: auth(actor) };
      }
      case 'feed_global': return { op, method: 'GET', path: '/api/feed?type=global', headers: auth(this.#actor()) };
      case 'feed_following': return { op, method: 'GET', path: '/api/feed?type=following', headers: auth(this.#actor()) };
      case 'search': {
        // Tagged by filter kind (search_metadata, search_text, …; search_multi for several)
        // so the per-operation table shows e.g. the metadata search's own p99.
        const { query, kinds } = this.#searchQuery();
        const tag = kinds.length === 1 ? `search_${kinds[0] ?? 'text'}` : 'search_multi';
        return { op: tag, method: 'GET', path: `/api/search?${query}`, headers: auth(this.#actor()) };
      }
      case 'message_send': {
        const actor = this.#talker();
        return json(op, 'POST', `/api/chat/conversations/${this.#conversation(actor)}/messages`, actor, { content: this.#sentence() });
      }
      case 'post_create': return json(op, 'POST', '/api/feed', this.#actor(), { content: this.#sentence() });
      case 'comment_create': {
        const actor = this.#actor();
        return json(op, 'POST', `/api/feed/${this.#postFor(actor)}/comments`, actor, { content: this.#sentence() });
      }
      case 'group_feed': {
        const actor = this.#member();
        const k = Math.min(actor.groups.length - 1, Math.floor(actor.groups.length * this.#random() ** 2));
        return { op, method: 'GET', path: `/api/groups/${actor.groups[k] ?? actor.groups[0] ?? ''}/feed`, headers: auth(actor) };
      }
      case 'group_list': {
        // Mostly the first page of the list, now and then a name search (a word from group names).
        const q = this.#random() < 0.3 ? `?q=${GROUP_WORDS[Math.floor(this.#random() * GROUP_WORDS.length)] ?? 'group'}` : '';
        return { op, method: 'GET', path: `/api/groups${q}`, headers: auth(this.#actor()) };
      }
      case 'gallery': {
        const actor = this.#actor();
        return { op, method: 'GET', path: `/api/profiles/${this.#galleryFor(actor)}/photos`, headers: auth(actor) };
      }
    }
  }

  #actor(): BenchActor {
    if (!this.#actors) throw new Error('this workload needs logged-in seeded users; none were prepared');
    return this.#actors.pick();
  }

  #talker(): BenchActor {
    if (!this.#talkers) throw new Error('this workload needs seeded users with conversations; none were found');
    return this.#talkers.pick();
  }

  #member(): BenchActor {
    if (!this.#members) throw new Error('this workload needs seeded users who belong to groups; none were found');
    return this.#members.pick();
  }

  /** A public profile with photos that the actor may see (not across a block). */
  #galleryFor(actor: BenchActor): string {
    if (!this.#galleries) throw new Error('this workload needs seeded photos of public profiles; none were found (a bench database seeded before the photo rows has none: drop bgc_bench_<preset> to have it seeded again)');
    let id = this.#galleries.pick();
    for (let i = 0; i < 8 && actor.hidden.includes(id); i++) id = this.#galleries.pick();
    return id;
  }

  /**
   * A recent post the actor may comment on: the newest draw most comments (Zipf over the
   * feed's head, newest first), and never one whose author is on either side of a block
   * with the actor (that comment would be refused, 403).
   */
  #postFor(actor: BenchActor): string {
    if (!this.#posts) throw new Error('this workload needs seeded public posts; none were found');
    const allowed = (p: { readonly authorId: string }): boolean => !actor.hidden.includes(p.authorId);
    let post = this.#posts.pick();
    for (let i = 0; i < 8 && !allowed(post); i++) post = this.#posts.pick();
    if (!allowed(post)) post = this.data.recentPosts.find(allowed) ?? post;
    if (!allowed(post)) throw new Error(`actor ${actor.id} is blocked by or blocks every author of the prepared posts`);
    return post.id;
  }

  /** A profile the actor may see: not one on either side of a block (a few redraws suffice). */
  #profileFor(actor: BenchActor): string {
    if (!this.#profiles) throw new Error('no profile ids were prepared');
    let id = this.#profiles.pick();
    for (let i = 0; i < 8 && actor.hidden.includes(id); i++) id = this.#profiles.pick();
    return id;
  }

  /** An actor's conversations are ordered by recency: recent ones are opened far more often. */
  #conversation(actor: BenchActor): string {
    const list = actor.conversations;
    const k = Math.min(list.length - 1, Math.floor(list.length * this.#random() ** 3));
    return list[k] ?? list[0] ?? '';
  }

  #sentence(): string {
    const n = 4 + Math.floor(this.#random() * 12);
    const words: string[] = [];
    for (let i = 0; i < n; i++) words.push(WORDS[Math.floor(this.#random() * WORDS.length)] ?? 'hello');
    return `${words.join(' ')} (bench)`;
  }

  /**
   * A search as people run them: mostly one filter (place, distance, age band, an
   * interest or role, a JSONB metadata attribute, free text), now and then two or three.
   */
  #searchQuery(): { query: string; kinds: string[] } {
    const v = this.data.search;
    const params = new URLSearchParams();
    const pick = <T>(xs: readonly T[]): T | undefined => xs[Math.floor(this.#random() * xs.length)];
    const filters = 1 + (this.#random() < 0.3 ? 1 : 0) + (this.#random() < 0.1 ? 1 : 0);
    const kinds = ['place', 'near', 'age', 'interest', 'role', 'metadata', 'text'] as const;
    const used = new Set<string>();
    for (let i = 0; i < filters; i++) {
      const kind = kinds[Math.floor(this.#random() * kinds.length)] ?? 'text';
      used.add(kind);
      if (kind === 'place') {
        const p = pick(v.places);
        if (p) { params.set('city', p.city); params.set('state', p.state); }
      } else if (kind === 'near') {
        const p = pick(v.places);
        if (p && p.lat !== null && p.lng !== null) {
          params.set('lat', String(p.lat));
          params.set('lng', String(p.lng));
          params.set('radius_km', String(10 + Math.floor(this.#random() * 40)));
        }
      } else if (kind === 'age') {
        const lo = 18 + Math.floor(this.#random() * 40);
        params.set('min_age', String(lo));
        params.set('max_age', String(lo + 5 + Math.floor(this.#random() * 15)));
      } else if (kind === 'interest') {
        const x = pick(v.interests);
        if (x) params.set('interests', x);
      } else if (kind === 'role') {
        const x = pick(v.roles);
        if (x) params.set('roles', x);
      } else if (kind === 'metadata') {
        const m = pick(v.metadataFilters);
        if (m) params.set('metadata', m);
      } else {
        const w = pick(v.words);
        if (w) params.set('q', w);
      }
    }
    params.set('limit', '20');
    return { query: params.toString(), kinds: [...used].sort() };
  }
}

function auth(actor: BenchActor): Record<string, string> {
  return { authorization: `Bearer ${actor.token}` };
}

function json(op: Operation, method: 'POST' | 'PUT', path: string, actor: BenchActor, body: unknown): HttpRequestSpec {
  return { op, method, path, headers: { ...auth(actor), 'content-type': 'application/json' }, body: JSON.stringify(body) };
}
