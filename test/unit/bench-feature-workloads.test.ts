import { describe, expect, it } from 'vitest';
import { EMPTY_BENCH_DATA, type BenchData } from '../../src/tools/bench/data/bench-data.ts';
import { FEATURE_WORKLOADS, WORKLOAD_MIX } from '../../src/tools/bench/workloads/catalog.ts';
import { RequestFactory } from '../../src/tools/bench/workloads/request-factory.ts';
import { resolveOptions } from '../../src/tools/cli/commands/bench.ts';

/** The issue 20 read workloads of `bgc bench`: group feed, group list, profile gallery. */
const id = (n: number) => `00000000-0000-7000-8000-${String(n).padStart(12, '0')}`;

function lcg(seed: number): () => number {
  let s = seed;
  return () => { s = (s * 1_103_515_245 + 12_345) % 2 ** 31; return s / 2 ** 31; };
}

const DATA: BenchData = {
  ...EMPTY_BENCH_DATA,
  actors: [
    { id: id(1), token: 'tok1', conversations: [], hidden: [id(102)], groups: [id(201), id(202)] },
    { id: id(2), token: 'tok2', conversations: [], hidden: [], groups: [] },
  ],
  galleryOwners: [id(101), id(102), id(103)],
};

describe('feature workloads', () => {
  it('are selectable by name but not in the default set', () => {
    for (const w of FEATURE_WORKLOADS) expect(WORKLOAD_MIX[w].length).toBeGreaterThan(0);
    expect(resolveOptions({ workload: 'group_feed,groups,gallery' }, 'bench').workloads).toEqual(['group_feed', 'groups', 'gallery']);
    expect(resolveOptions({ workload: 'all' }, 'bench').workloads).not.toContain('group_feed');
  });

  it('group_feed reads the feed of a group the actor belongs to, as that actor', () => {
    const next = new RequestFactory(DATA, lcg(1)).generator('group_feed');
    for (let i = 0; i < 200; i++) {
      const r = next();
      expect(r).toMatchObject({ op: 'group_feed', method: 'GET', headers: { authorization: 'Bearer tok1' } });
      expect([`/api/groups/${id(201)}/feed`, `/api/groups/${id(202)}/feed`]).toContain(r.path);
    }
  });

  it('groups lists groups, sometimes searching by a word', () => {
    const next = new RequestFactory(DATA, lcg(2)).generator('groups');
    const paths = Array.from({ length: 300 }, () => next().path);
    expect(paths.every((p) => /^\/api\/groups(\?q=[a-z]+)?$/.test(p))).toBe(true);
    expect(paths.some((p) => p === '/api/groups')).toBe(true);
    expect(paths.some((p) => p.includes('?q='))).toBe(true);
  });

  it('gallery reads the photos of public profiles with photos, avoiding blocked ones', () => {
    const next = new RequestFactory(DATA, lcg(3)).generator('gallery');
    for (let i = 0; i < 300; i++) {
      const r = next();
      expect(r.op).toBe('gallery');
      const owner = /^\/api\/profiles\/([0-9a-f-]{36})\/photos$/.exec(r.path)?.[1];
      expect(DATA.galleryOwners).toContain(owner);
      if (r.headers.authorization === 'Bearer tok1') expect(owner).not.toBe(id(102));
    }
  });

  it('says what is missing when the data has no groups or photos', () => {
    const empty = new RequestFactory({ ...DATA, actors: [{ id: id(2), token: 't', conversations: [], hidden: [], groups: [] }], galleryOwners: [] });
    expect(() => empty.build('group_feed')).toThrow(/belong to groups/);
    expect(() => empty.build('gallery')).toThrow(/photos/);
  });
});
