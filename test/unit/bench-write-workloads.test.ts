import { describe, expect, it } from 'vitest';
import { EMPTY_BENCH_DATA, type BenchData } from '../../src/tools/bench/data/bench-data.ts';
import { WORKLOAD_MIX, WRITE_WORKLOADS } from '../../src/tools/bench/workloads/catalog.ts';
import { RequestFactory } from '../../src/tools/bench/workloads/request-factory.ts';
import { resolveOptions } from '../../src/tools/cli/commands/bench.ts';

/** The grouped-write workloads of `bgc bench` beside `send` (issue 16): post and comment. */
const id = (n: number) => `00000000-0000-7000-8000-${String(n).padStart(12, '0')}`;

function lcg(seed: number): () => number {
  let s = seed;
  return () => { s = (s * 1_103_515_245 + 12_345) % 2 ** 31; return s / 2 ** 31; };
}

/** 300 recent posts, newest first; posts by user 99 (who blocked actor 1) every tenth. */
const POSTS = Array.from({ length: 300 }, (_, i) => ({ id: id(1_000 + i), authorId: i % 10 === 3 ? id(99) : id(500 + (i % 7)) }));

const DATA: BenchData = {
  ...EMPTY_BENCH_DATA,
  actors: [
    { id: id(1), token: 'tok1', conversations: [], hidden: [id(99)], groups: [] },
    { id: id(2), token: 'tok2', conversations: [], hidden: [], groups: [] },
  ],
  recentPosts: POSTS,
};

const postIdOf = (path: string): string | undefined => /^\/api\/feed\/([0-9a-f-]{36})\/comments$/.exec(path)?.[1];

describe('write workloads', () => {
  it('are selectable by name (with send) but not in the default set', () => {
    for (const w of WRITE_WORKLOADS) expect(WORKLOAD_MIX[w].length).toBeGreaterThan(0);
    expect(WORKLOAD_MIX.post).toEqual([['post_create', 1]]);
    expect(WORKLOAD_MIX.comment).toEqual([['comment_create', 1]]);
    expect(resolveOptions({ workload: 'send,post,comment' }, 'bench').workloads).toEqual(['send', 'post', 'comment']);
    expect(resolveOptions({ workload: 'all' }, 'bench').workloads).not.toContain('comment');
    expect(() => resolveOptions({ workload: 'comments' }, 'bench')).toThrow(/unknown workload/);
  });

  it('post creates a status update as a logged-in actor', () => {
    const next = new RequestFactory(DATA, lcg(1)).generator('post');
    for (let i = 0; i < 100; i++) {
      const r = next();
      expect(r).toMatchObject({ op: 'post_create', method: 'POST', path: '/api/feed', headers: { 'content-type': 'application/json' } });
      expect(['Bearer tok1', 'Bearer tok2']).toContain(r.headers.authorization);
      const body = JSON.parse(r.body ?? '{}') as { content?: string };
      expect(body.content?.length).toBeGreaterThan(0);
    }
  });

  it('comment comments on recent posts as a logged-in actor, never across a block', () => {
    const next = new RequestFactory(DATA, lcg(2)).generator('comment');
    for (let i = 0; i < 2_000; i++) {
      const r = next();
      expect(r).toMatchObject({ op: 'comment_create', method: 'POST', headers: { 'content-type': 'application/json' } });
      const post = POSTS.find((p) => p.id === postIdOf(r.path));
      expect(post).toBeDefined();
      if (r.headers.authorization === 'Bearer tok1') expect(post?.authorId).not.toBe(id(99));
      expect((JSON.parse(r.body ?? '{}') as { content?: string }).content?.length).toBeGreaterThan(0);
    }
  });

  it('comment spreads over many posts, the newest far more often than old ones', () => {
    const next = new RequestFactory({ ...DATA, actors: [DATA.actors[1] ?? DATA.actors[0]!] }, lcg(3)).generator('comment');
    const hits = new Map<string, number>();
    const N = 20_000;
    for (let i = 0; i < N; i++) {
      const p = postIdOf(next().path) ?? '';
      hits.set(p, (hits.get(p) ?? 0) + 1);
    }
    const newest = hits.get(POSTS[0]?.id ?? '') ?? 0;
    const oldHalf = POSTS.slice(150).reduce((s, p) => s + (hits.get(p.id) ?? 0), 0);
    expect(hits.size).toBeGreaterThan(150);
    expect(newest / N).toBeGreaterThan(0.08);
    expect(newest / N).toBeLessThan(0.3);
    expect(newest).toBeGreaterThan(oldHalf / 20);
    expect(oldHalf).toBeGreaterThan(0);
  });

  it('finds an allowed post even when the hot ones are all across a block, and says what is missing without posts', () => {
    const blockedHead = POSTS.map((p, i) => (i < 50 ? { ...p, authorId: id(99) } : p));
    const f = new RequestFactory({ ...DATA, actors: [DATA.actors[0]!], recentPosts: blockedHead }, lcg(4));
    for (let i = 0; i < 500; i++) {
      const post = blockedHead.find((p) => p.id === postIdOf(f.build('comment_create').path));
      expect(post?.authorId).not.toBe(id(99));
    }
    expect(() => new RequestFactory({ ...DATA, recentPosts: [] }).build('comment_create')).toThrow(/public posts/);
    const allBlocked = new RequestFactory({ ...DATA, actors: [DATA.actors[0]!], recentPosts: [{ id: id(7), authorId: id(99) }] });
    expect(() => allBlocked.build('comment_create')).toThrow(/blocked/);
  });
});
