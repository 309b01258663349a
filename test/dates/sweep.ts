/**
 * The date sweep (`npm run test:dates`): the calendar-sensitive test files run with the whole
 * process tree believing it is each date below — vitest and its workers, pg_ctl and every
 * PostgreSQL backend — through Debian's libfaketime with a fixed offset from the real clock,
 * so all of them agree on the date and time still moves (a year can end mid-test). Redis
 * stays on the real clock (see serverEnv in src/config). Each date gets its own stack,
 * moved by BGC_STACK_PORT_OFFSET and created from nothing, and removed afterwards.
 *
 * Usage: npm run test:dates [-- --only 2027-01-01T00:00:05Z] [--files test/integration/report.test.ts,…]
 *        npm run test:dates -- --month-end   (only the month-end runs)
 * With --only or --files, the month-end runs are left out.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../src/config/index.ts';
import { LocalStack } from '../../src/tools/stack/stack.ts';

/** Ascending, so a reader of the output sees the calendar move forward. */
const SWEEP_DATES = [
  '2026-12-31T23:59:30Z', // the year ends while the tests run
  '2027-01-01T00:00:05Z', // first seconds of a year
  '2027-03-01T00:00:00Z', // first instant of a month after a short February
  '2027-06-03T10:00:00Z', // the 3rd of a month: a 7-day window reaches the month before
  '2028-02-28T23:59:50Z', // a leap day comes next
  '2028-02-29T12:00:00Z', // the leap day
] as const;

/**
 * Dates seconds before a boundary that must pass while the tests run, not while the stack
 * starts: they run alone (after the shared lanes), as the month-end runs do, so a
 * neighbour's load cannot stretch their start-up past the boundary.
 */
const ALONE_DATES: ReadonlySet<string> = new Set(['2026-12-31T23:59:30Z', '2028-02-28T23:59:50Z']);

/** The test files whose behaviour turns on months, years and "now". */
const SWEEP_FILES = [
  'test/integration/partitions-create.test.ts',
  'test/integration/partitions-retention.test.ts',
  'test/integration/partitions-writers.test.ts',
  'test/integration/data-safety-partitions.test.ts',
  'test/integration/explain.test.ts',
  'test/integration/report.test.ts',
  'test/integration/history.test.ts',
  'test/integration/scheduler-report.test.ts',
  'test/integration/seed.test.ts',
  'test/integration/api-pagination.test.ts',
];
/**
 * Runs that must cross a month's end mid-file: each starts `leadS` seconds before `boundary`
 * (for the stack, the template database and the file's own set-up: 12 s on a quiet
 * machine) and tells the file the instant in BGC_SWEEP_MONTH_END. The file waits for it.
 */
const MONTH_END_RUNS = [
  { boundary: '2027-05-01T00:00:00Z', leadS: 50, files: ['test/integration/send-month-rollover.test.ts'] }, // a 30-day month ends
] as const;

/** Unit files matched by name (cursors, time windows, partition policy, report months). */
const SWEEP_UNIT_PATTERN = /(cursor|time-window|partition|month|report|calendar)/;

/**
 * Port offsets no default stack uses, so the sweep can run beside the dev stack: one per
 * lane. The dates run two at a time (each on its own stack): much of a date's run waits on
 * its stack's start and its databases, so two lanes took the sweep from 339 s (one lane, in
 * CI) to 258–278 s on two cores (2026-12-07; each date then takes 62–81 s instead of 40–63 s).
 * Runs seconds before a boundary go alone afterwards (ALONE_DATES, the month-end runs): their
 * lead must not be eaten by a neighbour's load. BGC_SWEEP_LANES=1 runs one at a time.
 */
const LANE_OFFSETS = ['700', '800'] as const;

function findLibfaketime(): string {
  for (const dir of ['/usr/lib/x86_64-linux-gnu/faketime', '/usr/lib/aarch64-linux-gnu/faketime', '/usr/lib/faketime']) {
    const lib = path.join(dir, 'libfaketime.so.1');
    if (fs.existsSync(lib)) return lib;
  }
  throw new Error('libfaketime not found: install it with `apt-get install -y faketime`');
}

function sweepFiles(root: string): string[] {
  const unit = fs.readdirSync(path.join(root, 'test', 'unit'))
    .filter((f) => f.endsWith('.test.ts') && SWEEP_UNIT_PATTERN.test(f))
    .map((f) => `test/unit/${f}`);
  return [...unit, ...SWEEP_FILES.filter((f) => fs.existsSync(path.join(root, f)))];
}

/**
 * Builds test/dates/real-waits.c into `dir` (see that file for why PostgreSQL needs it) and
 * returns the library's path; the folder must be readable by the `postgres` user.
 */
async function buildRealWaits(root: string, dir: string): Promise<string> {
  const out = path.join(dir, 'real-waits.so');
  const code = await new Promise<number>((resolve, reject) => {
    const cc = spawn('cc', ['-shared', '-fPIC', '-O2', '-o', out, path.join(root, 'test', 'dates', 'real-waits.c'), '-ldl'], { stdio: 'inherit' });
    cc.on('error', (err) => reject(new Error(`cannot run cc (${err.message}): install it with \`apt-get install -y gcc libc6-dev\``)));
    cc.on('close', (c) => resolve(c ?? 1));
  });
  if (code !== 0) throw new Error(`cc failed to build ${out} (exit ${code})`);
  fs.chmodSync(out, 0o755);
  return out;
}

/** libfaketime's relative form: seconds to add to the real clock ("+123", "-45"). */
function faketimeOffset(target: string, nowMs: number): string {
  const seconds = Math.round((Date.parse(target) - nowMs) / 1000);
  return seconds >= 0 ? `+${seconds}` : String(seconds);
}

/** Runs vitest; its output is kept and returned (printed whole when the run ends, so lanes do not interleave). */
function runVitest(root: string, files: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  const vitest = path.join(root, 'node_modules', 'vitest', 'vitest.mjs');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [vitest, 'run', ...files], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output: Buffer.concat(chunks).toString('utf8') }));
  });
}

interface SweepRun {
  readonly label: string;
  readonly date: string;
  readonly files: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

function sweepRuns(root: string): SweepRun[] {
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] ?? '' : undefined;
  };
  const only = arg('--only');
  const picked = arg('--files');
  const monthEndOnly = process.argv.includes('--month-end');
  const dates = only !== undefined ? [only] : monthEndOnly ? [] : [...SWEEP_DATES];
  for (const d of dates) if (Number.isNaN(Date.parse(d))) throw new Error(`--only: "${d}" is not an ISO date such as 2027-01-01T00:00:05Z`);
  const files = picked !== undefined ? picked.split(',').filter((f) => f !== '') : sweepFiles(root);
  const runs: SweepRun[] = dates.map((date) => ({ label: date, date, files, env: {} }));
  if (only === undefined && picked === undefined) {
    // Each starts its lead before the boundary, counted from when it starts (not from now).
    for (const m of MONTH_END_RUNS) {
      runs.push({
        label: `${m.boundary} − ${m.leadS} s (month end)`, date: new Date(Date.parse(m.boundary) - m.leadS * 1000).toISOString(),
        files: m.files, env: { BGC_SWEEP_MONTH_END: m.boundary },
      });
    }
  }
  return runs;
}

async function main(): Promise<void> {
  const root = path.resolve(import.meta.dirname, '..', '..');
  const runs = sweepRuns(root);
  const lib = findLibfaketime();
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-dates-'));
  fs.chmodSync(base, 0o755); // PostgreSQL runs as `postgres` and loads the preloads from here
  const results: Array<{ label: string; ok: boolean; seconds: number }> = [];
  const sweepStarted = Date.now();
  console.log(`date sweep: ${runs.length} runs (${runs.map((r) => `${r.files.length} files`).join(', ')}), stacks under ${base}, ports +${LANE_OFFSETS.join(' and +')}`);
  try {
    const realWaits = await buildRealWaits(root, base);
    const runOne = async (run: SweepRun, offset: string): Promise<void> => {
      const dataDir = path.join(base, run.date.replace(/[^0-9T]/g, ''));
      const stackEnv = { BGC_STACK_PORT_OFFSET: offset, BGC_DATA_DIR: dataDir };
      const started = Date.now();
      const env = {
        ...process.env, ...stackEnv, ...run.env,
        // real-waits first, so its blocking waits take precedence over libfaketime's.
        FAKETIME: faketimeOffset(run.date, Date.now()), LD_PRELOAD: `${realWaits} ${lib}`,
        // Timers and timeouts stay on the real monotonic clock; only the date moves.
        FAKETIME_DONT_FAKE_MONOTONIC: '1',
        // Tells a file it runs under the sweep (SWEEP_DATE in test/helpers/constants.ts).
        BGC_SWEEP_DATE: run.date,
      };
      let result: { code: number; output: string } | undefined;
      try {
        result = await runVitest(root, run.files, env);
      } finally {
        // The run's global setup stops the stack it started; this removes its data too.
        await new LocalStack(parseConfig({ NODE_ENV: 'test', ...stackEnv })).down({ purge: true }).catch((err: unknown) => {
          console.error(`cleanup of the ${run.label} stack failed: ${err instanceof Error ? err.message : String(err)}`);
        });
      }
      const seconds = Math.round((Date.now() - started) / 1000);
      console.log(`\n=== ${run.label} (FAKETIME=${env.FAKETIME}, ports +${offset}, ${seconds} s) ===\n${result.output}`);
      results.push({ label: run.label, ok: result.code === 0, seconds });
      results.sort((a, b) => runs.findIndex((r) => r.label === a.label) - runs.findIndex((r) => r.label === b.label));
    };
    const lanes = Math.max(1, Math.min(LANE_OFFSETS.length, Number(process.env.BGC_SWEEP_LANES ?? LANE_OFFSETS.length) || 1));
    const isAlone = (r: SweepRun) => r.env.BGC_SWEEP_MONTH_END !== undefined || ALONE_DATES.has(r.date);
    const together = runs.filter((r) => !isAlone(r));
    const alone = runs.filter(isAlone);
    let next = 0;
    // allSettled: a lane that fails must not end the sweep (and remove its folder) under the
    // other lane's running stack; the first failure is raised once both lanes are done.
    const lanesDone = await Promise.allSettled(LANE_OFFSETS.slice(0, lanes).map(async (offset) => {
      for (let i = next++; i < together.length; i = next++) await runOne(together[i] as SweepRun, offset);
    }));
    const laneFailure = lanesDone.find((l) => l.status === 'rejected');
    if (laneFailure) throw (laneFailure as PromiseRejectedResult).reason;
    for (const run of alone) await runOne(run, LANE_OFFSETS[0]);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
  console.log('\ndate sweep results');
  for (const r of results) console.log(`  ${r.ok ? 'pass' : 'FAIL'}  ${r.label}  ${r.seconds} s`);
  console.log(`  total ${Math.round((Date.now() - sweepStarted) / 1000)} s`);
  if (results.some((r) => !r.ok)) process.exitCode = 1;
}

await main();
