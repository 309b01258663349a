/**
 * EXPLAIN (ANALYZE, BUFFERS) of GET /api/search per bench operation (issue 15): the catalog
 * SQL of search.profiles / search.profiles_near, with parameters drawn as the bench's search
 * workload draws them (request-factory.ts #searchQuery, vocabulary from data.sql.ts) and the
 * viewer drawn Zipf(1.0) over the first 1,000 active users, as the bench picks its actors.
 * Each statement is sent unnamed, so it gets a custom plan as the app's `plan: 'custom'`
 * entries do; it runs three times and the last run counts (warm cache). Prints, per
 * operation, the median and maximum of planning + execution time and the buffers touched.
 * The draws are seeded, so two runs (before and after a change) see the same parameters.
 *
 *   node --import tsx src/tools/bench/search-explain.ts [url] [draws per operation] [--verbose]
 *     [--only=multi] [--combinations] [--generic] [--draws-file=path] [--best=N]
 *
 * --only=<operation> measures one operation; --combinations prints search_multi per filter
 * combination (count, median ms, median and mean buffers); --generic plans each statement as
 * a named prepared statement would be after five executions (plan_cache_mode =
 * force_generic_plan, PREPARE + EXPLAIN EXECUTE). The app sends search.profiles and
 * search.profiles_near unnamed (`plan: 'custom'`), so custom plans are what it gets.
 * --draws-file replays the draws saved in that file, or saves this run's draws there when it
 * does not exist: the vocabulary queries sample profiles in physical order, so the draws
 * drift as the bench's writes move rows, and before/after runs should replay one file.
 * --best=N runs each statement N times with EXPLAIN (ANALYZE, TIMING OFF) and keeps the fastest
 * planning and the fastest execution, for before/after runs on the shared 2-core machine while
 * a bench runs: 41 search_interest draws twice each, load average 5.5, median 1.49 / 1.75 ms and
 * max 20.2 / 6.2 ms as the last of three, 0.93 / 0.88 and 2.1 / 1.8 ms with --best=7 (buffers
 * do not change between runs of one plan either way).
 *
 * The url defaults to the `large` bench database on the first replica of the dev stack at
 * port offset 200 (where the app's search reads go).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { searchQueries } from '../../repositories/search.repository.ts';
import { MAX_UUID, MIN_UUID } from '../../repositories/sql-fragments.ts';
import { yearsAgo } from '../../services/age.ts';
import { DATA_SQL } from './data/data.sql.ts';
import { ZipfPicker } from './zipf.ts';

const KINDS = ['place', 'near', 'age', 'interest', 'role', 'metadata', 'text'] as const;
const OPERATIONS = [...KINDS, 'multi'] as const;
const STOP = new Set(['with', 'that', 'this', 'from', 'have', 'they', 'their', 'about', 'there', 'what', 'when', 'your', 'just', 'like', 'into', 'more', 'been', 'some', 'will']);

interface Draw {
  q?: string; city?: string; state?: string; bornOnOrBefore?: string; bornAfter?: string;
  interests?: string; roles?: string; metadata?: string; lat?: number; lng?: number; radiusM?: number;
}
interface Vocabulary {
  places: Array<{ city: string; state: string; lat: number | null; lng: number | null }>;
  interests: string[]; roles: string[]; metadata: string[]; words: string[];
}

/** A small seeded LCG: the same draws on every run. */
function seeded(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

/** As load-data.ts frequentWords: words of four letters or more that occur in bios. */
function frequentWords(bios: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const b of bios) for (const w of b.toLowerCase().split(/[^a-z]+/)) if (w.length >= 4 && !STOP.has(w)) counts.set(w, (counts.get(w) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 100).map(([w]) => w);
}

const median = (xs: readonly number[]): number => {
  const a = [...xs].sort((x, y) => x - y);
  const m = a.length >> 1;
  return a.length % 2 ? (a[m] ?? 0) : ((a[m - 1] ?? 0) + (a[m] ?? 0)) / 2;
};

const mean = (xs: readonly number[]): number => Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const verbose = process.argv.includes('--verbose');
  const byCombination = process.argv.includes('--combinations');
  const generic = process.argv.includes('--generic');
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  const drawsFile = process.argv.find((a) => a.startsWith('--draws-file='))?.slice('--draws-file='.length);
  const best = Number(process.argv.find((a) => a.startsWith('--best='))?.slice('--best='.length) ?? 0);
  if (!Number.isInteger(best) || best < 0) throw new Error('--best=N needs a whole number of runs');
  const replay: Array<{ op: string; kinds: string[]; d: Draw; viewer: string }> | undefined = drawsFile !== undefined && existsSync(drawsFile)
    ? readFileSync(drawsFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { op: string; kinds: string[]; d: Draw; viewer: string })
    : undefined;
  const recorded: string[] = [];
  const url = args[0] ?? 'postgres://postgres@127.0.0.1:54521/bgc_bench_large';
  const draws = Number(args[1] ?? 31);
  const random = seeded(42);
  const pick = <T>(xs: readonly T[]): T | undefined => xs[Math.floor(random() * xs.length)];

  const client = new pg.Client({ connectionString: url, application_name: 'bgc-search-explain' });
  await client.connect();
  try {
    const rows = async <T extends pg.QueryResultRow>(sql: string): Promise<T[]> => (await client.query<T>(sql)).rows;
    const v: Vocabulary = {
      places: await rows(DATA_SQL.places),
      interests: (await rows<{ v: string }>(DATA_SQL.interests)).map((r) => r.v),
      roles: (await rows<{ v: string }>(DATA_SQL.roles)).map((r) => r.v),
      metadata: (await rows<{ v: string }>(DATA_SQL.metadataFilters)).map((r) => r.v),
      words: frequentWords((await rows<{ bio: string }>(DATA_SQL.bios)).map((r) => r.bio)),
    };
    const actors = (await rows<{ id: string }>(`SELECT id FROM users WHERE is_active ORDER BY created_at, id LIMIT 1000`)).map((r) => r.id);
    const viewers = new ZipfPicker(actors, 1.0, random);

    const apply = (kind: (typeof KINDS)[number], d: Draw): void => {
      if (kind === 'place') {
        const p = pick(v.places);
        if (p) { d.city = p.city; d.state = p.state; }
      } else if (kind === 'near') {
        const p = pick(v.places);
        if (p && p.lat !== null && p.lng !== null) { d.lat = p.lat; d.lng = p.lng; d.radiusM = (10 + Math.floor(random() * 40)) * 1000; }
      } else if (kind === 'age') {
        const lo = 18 + Math.floor(random() * 40);
        const hi = lo + 5 + Math.floor(random() * 15);
        d.bornOnOrBefore = yearsAgo(lo);
        d.bornAfter = yearsAgo(hi + 1);
      } else if (kind === 'interest') d.interests = JSON.stringify([pick(v.interests)]);
      else if (kind === 'role') d.roles = JSON.stringify([pick(v.roles)]);
      else if (kind === 'metadata') d.metadata = pick(v.metadata);
      else d.q = pick(v.words);
    };
    // search_multi: the bench's 1 + (p .3) + (p .1) filters, kept when two kinds or more differ.
    const draw = (op: (typeof OPERATIONS)[number]): { d: Draw; kinds: string[] } => {
      if (op !== 'multi') { const d: Draw = {}; apply(op, d); return { d, kinds: [op] }; }
      for (;;) {
        const d: Draw = {};
        const used = new Set<string>();
        const n = 1 + (random() < 0.3 ? 1 : 0) + (random() < 0.1 ? 1 : 0);
        for (let i = 0; i < n; i++) {
          const k = pick(KINDS) ?? 'text';
          used.add(k);
          apply(k, d);
        }
        if (used.size > 1) return { d, kinds: [...used].sort() };
      }
    };

    if (generic) await client.query(`SET plan_cache_mode = force_generic_plan`);
    const types = ['text', 'text', 'text', 'text', 'date', 'date', 'jsonb', 'jsonb', 'jsonb', 'float8', 'float8', 'float8'];
    const prepared = new Set<string>();
    // EXECUTE takes its arguments as literals (a utility statement has no bind parameters).
    const literal = (x: unknown): string => (x === null ? 'NULL' : client.escapeLiteral(String(x)));
    const explain = async (def: typeof searchQueries.profiles, near: boolean, values: unknown[]): Promise<{ text: string; values: unknown[] }> => {
      const options = best > 0 ? 'ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON' : 'ANALYZE, BUFFERS, FORMAT JSON';
      if (!generic) return { text: `EXPLAIN (${options}) ${def.text}`, values };
      const name = near ? 'search_near' : 'search_profiles';
      if (!prepared.has(name)) {
        const all = [...types, near ? 'float8' : 'timestamptz', 'uuid', 'int', 'uuid'];
        await client.query(`PREPARE ${name} (${all.join(', ')}) AS ${def.text}`);
        prepared.add(name);
      }
      return { text: `EXPLAIN (${options}) EXECUTE ${name} (${values.map(literal).join(', ')})`, values: [] };
    };

    for (const op of OPERATIONS) {
      if (only !== undefined && op !== only) continue;
      const combinations = new Map<string, { ms: number[]; buffers: number[] }>();
      const times: number[] = [];
      const planning: number[] = [];
      const buffers: number[] = [];
      const planned = replay ? replay.filter((r) => r.op === op) : Array.from({ length: draws }, () => ({ ...draw(op), viewer: viewers.pick() }));
      for (const { d, kinds, viewer } of planned) {
        recorded.push(JSON.stringify({ op, kinds, d, viewer }));
        const near = d.lat !== undefined;
        const def = near ? searchQueries.near : searchQueries.profiles;
        const values = [
          d.q ?? null, d.city ?? null, d.state ?? null, null, d.bornOnOrBefore ?? null, d.bornAfter ?? null,
          d.interests ?? null, d.roles ?? null, d.metadata ?? null, d.lat ?? null, d.lng ?? null, d.radiusM ?? null,
          near ? -1 : 'infinity', near ? MIN_UUID : MAX_UUID, 21, viewer,
        ];
        let plan: { 'Planning Time': number; 'Execution Time': number; Plan: { 'Shared Hit Blocks': number; 'Shared Read Blocks': number } } | undefined;
        let fastest = { planning: Infinity, execution: Infinity };
        for (let rep = 0; rep < Math.max(3, best); rep++) {
          const r = await client.query<{ 'QUERY PLAN': [NonNullable<typeof plan>] }>(await explain(def, near, values));
          plan = r.rows[0]?.['QUERY PLAN'][0];
          if (plan) fastest = { planning: Math.min(fastest.planning, plan['Planning Time']), execution: Math.min(fastest.execution, plan['Execution Time']) };
        }
        if (!plan) throw new Error('EXPLAIN returned no plan');
        if (best > 0) plan = { ...plan, 'Planning Time': fastest.planning, 'Execution Time': fastest.execution };
        const ms = plan['Planning Time'] + plan['Execution Time'];
        const bufs = plan.Plan['Shared Hit Blocks'] + plan.Plan['Shared Read Blocks'];
        times.push(ms);
        planning.push(plan['Planning Time']);
        buffers.push(bufs);
        const c = combinations.get(kinds.join('+')) ?? { ms: [], buffers: [] };
        c.ms.push(ms);
        c.buffers.push(bufs);
        combinations.set(kinds.join('+'), c);
        if (verbose) console.log(`  ${op} ${kinds.join('+')} ${JSON.stringify(d)} viewer ${viewer}: ${ms.toFixed(2)} ms, ${bufs} buffers`);
      }
      console.log(`search_${op}`.padEnd(17), `median ${median(times).toFixed(2)} ms`, `(planning ${median(planning).toFixed(2)})`,
        `max ${Math.max(...times).toFixed(2)} ms`, `buffers median ${median(buffers)}`, `mean ${mean(buffers)}`, `time mean ${(times.reduce((a, b) => a + b, 0) / times.length).toFixed(2)} ms`);
      if (byCombination && op === 'multi') {
        for (const [k, c] of [...combinations.entries()].sort((a, b) => mean(b[1].buffers) * b[1].buffers.length - mean(a[1].buffers) * a[1].buffers.length)) {
          console.log(`  ${k.padEnd(24)} n ${String(c.ms.length).padStart(3)}  median ${median(c.ms).toFixed(2)} ms  max ${Math.max(...c.ms).toFixed(2)} ms  buffers median ${median(c.buffers)} mean ${mean(c.buffers)} max ${Math.max(...c.buffers)}`);
        }
      }
    }
    if (drawsFile !== undefined && !replay) writeFileSync(drawsFile, `${recorded.join('\n')}\n`);
  } finally {
    await client.end();
  }
}

await main();
