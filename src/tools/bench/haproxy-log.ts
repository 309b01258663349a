import fs from 'node:fs';

/**
 * The proxy's own refusals, timed by HAProxy (its request log, REQUEST_LOG_FORMAT in
 * src/tools/stack/fleet/haproxy-config.ts): a 503 that no server answered (Tr -1) is one the
 * proxy sent itself, at once when the queue was full or after `timeout queue`. The client's
 * figure for the same refusals adds the load generator's own lag on the same two cores.
 */
export interface ProxyRefusalTimes {
  readonly count: number;
  /** Refused without waiting in the queue (the queue was full). */
  readonly at_once: number;
  /** Refused after waiting in the queue (`timeout queue`). */
  readonly after_queueing: number;
  readonly within_1_ms: number;
  readonly within_5_ms: number;
  readonly within_25_ms: number;
  readonly p99_ms: number | null;
  /** Lines that did not parse (a truncated last line, HAProxy's own start-up messages). */
  readonly unparsed: number;
}

/** Log lines `status Ta Tw Tr server`, e.g. `503 0 -1 -1 <NOSRV>` or `200 14 0 13 api1`. */
export function proxyRefusalTimes(lines: readonly string[]): ProxyRefusalTimes {
  const times: number[] = [];
  let atOnce = 0;
  let unparsed = 0;
  for (const line of lines) {
    if (line.length === 0) continue;
    const f = line.trim().split(' ');
    const [status, ta, tw, tr] = [Number(f[0]), Number(f[1]), Number(f[2]), Number(f[3])];
    if (f.length < 5 || ![status, ta, tw, tr].every(Number.isFinite)) { unparsed++; continue; }
    if (status !== 503 || tr !== -1) continue;
    times.push(ta);
    if (tw <= 0) atOnce++;
  }
  times.sort((a, b) => a - b);
  const within = (ms: number) => times.filter((t) => t <= ms).length;
  return {
    count: times.length, at_once: atOnce, after_queueing: times.length - atOnce,
    within_1_ms: within(1), within_5_ms: within(5), within_25_ms: within(25),
    p99_ms: times.length > 0 ? (times[Math.min(times.length - 1, Math.ceil(times.length * 0.99) - 1)] ?? null) : null,
    unparsed,
  };
}

/**
 * The proxy's own refusals per second of the log, counted from the second its first request
 * started (accept date + Th + Ti + TR; lines without those fields are left out). Shows when in a
 * run the refusals fell: at the start (clients connecting) or in bursts later.
 */
export function refusalsPerSecond(lines: readonly string[]): number[] {
  const starts: Array<{ at: number; refused: boolean }> = [];
  for (const line of lines) {
    const f = line.trim().split(' ');
    if (f.length < 10) continue;
    const n = f.map(Number);
    const [status, tr, acceptS, acceptMs, th, ti, tRecv] = [n[0], n[3], n[5], n[6], n[7], n[8], n[9]];
    if (![status, tr, acceptS, acceptMs, th, ti, tRecv].every((x) => x !== undefined && Number.isFinite(x))) continue;
    const at = (acceptS ?? 0) * 1000 + (acceptMs ?? 0) + Math.max(0, th ?? 0) + Math.max(0, ti ?? 0) + Math.max(0, tRecv ?? 0);
    starts.push({ at, refused: status === 503 && tr === -1 });
  }
  if (starts.length === 0) return [];
  // A loop, not Math.min(...): an overload run logs 100,000+ requests, past the arguments a call may take.
  const first = starts.reduce((min, s) => Math.min(min, s.at), Infinity);
  const seconds: number[] = [];
  for (const s of starts) {
    const k = Math.floor((s.at - first) / 1000);
    while (seconds.length <= k) seconds.push(0);
    if (s.refused) seconds[k] = (seconds[k] ?? 0) + 1;
  }
  return seconds;
}

/** The log file's lines from byte `from` on (a mark taken before a phase); none if it is missing. */
export function logLinesSince(file: string, from: number): string[] {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return [];
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size <= from) return [];
    const buf = Buffer.alloc(size - from);
    fs.readSync(fd, buf, 0, buf.length, from);
    return buf.toString('utf8').split('\n');
  } finally {
    fs.closeSync(fd);
  }
}

export function logSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
