import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';

/**
 * `bgc bench --quick --json FILE` end to end, as CI runs it: a child process against the
 * local stack (bench databases bgc_bench_small[_baseline], seeded on first use), every
 * workload briefly on the optimized and the baseline configuration, plus the floor.
 * Asserts the report's shape (DESIGN §5, issue 5 acceptance) and zero request errors.
 * Whether the optimized configuration out-ran the baseline is a performance verdict
 * the command itself turns into its exit status; on a shared 2-core test machine it is
 * recorded here, not asserted, so a noisy neighbour cannot fail the suite.
 */
const root = parseConfig({ NODE_ENV: 'test' }).projectRoot;
const WORKLOADS = ['profile', 'inbox', 'history', 'search', 'feed', 'send', 'mixed'];
const FIELDS = ['rps', 'p50_ms', 'p95_ms', 'p99_ms', 'errors', 'cache_hit_ratio', 'replica_read_share', 'max_pg_connections', 'round_trips_per_request'];

function runQuick(file: string): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/bgc.js', 'bench', '--quick', '--json', file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGTERM'), 170_000);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => {
  expect(v, 'expected an object').toBeTypeOf('object');
  expect(v).not.toBeNull();
  return v as Json;
};

describe('bgc bench --quick', () => {
  it('writes per-workload measurements, baseline, floor and ratios, with zero request errors', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-bench-'));
    const file = path.join(dir, 'out.json');
    try {
      const run = await runQuick(file);
      expect(fs.existsSync(file), `no report written; exit ${run.code}\n${run.stderr.slice(-3000)}`).toBe(true);
      const report = obj(JSON.parse(fs.readFileSync(file, 'utf8')));

      const workloads = obj(report.workloads);
      const baseline = obj(obj(report.baseline).workloads);
      for (const name of WORKLOADS) {
        for (const section of [workloads, baseline]) {
          const w = obj(section[name]);
          for (const f of FIELDS) expect(w, `${name}.${f}`).toHaveProperty(f);
          // A 503 is the admission guard's answer when other test files hold the cores (one
          // OVERLOADED profile read in ~3,000 was seen in CI): allowed, but at most 1% of the
          // requests. Every other failure (4xx, 500, socket errors, timeouts) is a bug.
          const refused = obj(w.status_counts)['503'] as number | undefined ?? 0;
          if (refused > 0) console.log(`[bench-quick] ${name}: ${refused} of ${w.requests as number} refused with 503 (${JSON.stringify(w.sample_errors)})`);
          expect((w.errors as number) - refused, `${name}: ${JSON.stringify(w.sample_errors)}`).toBe(0);
          expect(refused, `${name}: refusals`).toBeLessThanOrEqual(Math.ceil((w.requests as number) * 0.01));
          expect(w.rps as number).toBeGreaterThan(0);
          expect(w.p99_ms as number).toBeGreaterThanOrEqual(w.p50_ms as number);
          expect(Object.keys(obj(w.max_pg_connections))).toContain('primary');
        }
        const opt = obj(workloads[name]);
        // Reads served wholly from the cache send no statement (CI saw 0 on a fast machine:
        // every profile warmed); a write always sends one.
        expect(opt.round_trips_per_request as number, `${name}: round trips`).toBeGreaterThanOrEqual(0);
        if (name === 'send') expect(opt.round_trips_per_request as number).toBeGreaterThan(0);
        // The baseline runs with the cache off; the optimized one reports its hit ratio.
        expect(obj(baseline[name]).cache_hit_ratio).toBeNull();
      }
      expect(obj(workloads.profile).cache_hit_ratio as number).toBeGreaterThan(0);
      // Where the cores went (issue 15): every local process tree has a figure, and the mixed
      // workload's database time is attributed to catalog entries.
      const cpu = obj(obj(workloads.mixed).cpu);
      const perRequest = obj(cpu.cpu_ms_per_request);
      for (const part of ['api', 'primary', 'replica1', 'replica2', 'redis', 'load_generator', 'harness']) {
        expect(perRequest[part], `cpu_ms_per_request.${part}`).toBeTypeOf('number');
      }
      expect(perRequest.api as number).toBeGreaterThan(0);
      const top = obj(workloads.mixed).db_time_top as Array<Json>;
      expect(top.length).toBeGreaterThan(0);
      expect(String(top[0]?.name)).toMatch(/^[a-z_]+\./);
      // The Redis side of the same question: the cache's commands per request, busiest first.
      const redis = obj(obj(workloads.mixed).redis_commands);
      expect(redis.per_request as number).toBeGreaterThan(0);
      expect(Object.keys(obj(redis.top)).length).toBeGreaterThan(0);
      // Where the time went: the server handler's mean is part of the client's, and the API's
      // event-loop delay is reported from its own metrics.
      const split = obj(obj(workloads.mixed).time_split);
      expect(split.server_mean_ms as number).toBeGreaterThan(0);
      expect(split.server_mean_ms as number).toBeLessThanOrEqual((split.client_mean_ms as number) * 1.05);
      expect(obj(split.event_loop_delay_ms).max as number).toBeGreaterThanOrEqual(obj(split.event_loop_delay_ms).p50 as number);
      // A share, or null when no read ran; 0 is possible when replicas lag (the router
      // then keeps reads on the primary), e.g. while another job loads data.
      const share = obj(workloads.mixed).replica_read_share as number;
      expect(share).toBeGreaterThanOrEqual(0);
      expect(share).toBeLessThanOrEqual(1);

      const floor = obj(report.floor);
      for (const f of ['trivial_route', 'redis_get', 'select_1', 'durable_commit']) {
        expect(obj(floor[f]).rps as number).toBeGreaterThan(0);
        expect(obj(floor[f]).errors).toBe(0);
      }
      const ratios = obj(report.ratios);
      for (const name of WORKLOADS) {
        expect(obj(obj(ratios.optimized_vs_baseline)[name]).rps).toBeTypeOf('number');
        expect(obj(obj(ratios.vs_floor)[name]).rps_vs_trivial_route).toBeTypeOf('number');
      }
      // Sends are read against the durable one-row commit floor (issue 16).
      expect(obj(obj(ratios.vs_floor).send).rps_vs_durable_commit).toBeTypeOf('number');

      const checks = report.checks as Array<{ name: string; ok: boolean; detail: string }>;
      const failed = checks.filter((c) => !c.ok);
      // The command's own "zero request errors" counts the 503s allowed above (CI saw one
      // OVERLOADED baseline profile read fail it): such a check is excused only when its errors
      // are no more than that configuration's 503s.
      const refusedIn = (section: Json): number => WORKLOADS.reduce((n, name) => n + ((obj(obj(section[name]).status_counts)['503'] as number | undefined) ?? 0), 0);
      const refused = new Map([['optimized', refusedIn(workloads)], ['baseline', refusedIn(baseline)]]);
      const onlyRefusals = (c: { name: string; detail: string }): boolean => {
        const side = /^(optimized|baseline): zero request errors$/.exec(c.name)?.[1];
        const count = Number(/^(\d+) errors$/.exec(c.detail)?.[1] ?? Number.NaN);
        return side !== undefined && count <= (refused.get(side) ?? 0);
      };
      // Only the rps comparison may fail here (see above); it is printed for the record.
      expect(failed.filter((c) => !c.name.startsWith('mixed: optimized not slower') && !onlyRefusals(c)), JSON.stringify(failed)).toEqual([]);
      if (failed.length > 0) console.warn(`bench --quick: ${failed.map((c) => `${c.name}: ${c.detail}`).join('; ')}`);
      expect(run.code).toBe(failed.length === 0 ? 0 : 1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
