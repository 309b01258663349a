import fs from 'node:fs';
import path from 'node:path';
import type { HaPrivateStack } from './ha-stack.ts';

/**
 * Prints what Patroni and etcd logged between `fromMs` and `toMs` (epoch ms) on every member
 * of a private HA stack. A chaos test calls it when it fails: the stack and its logs are
 * deleted after the file, and a rare failure (one etcd member lost demoting the leader, seen
 * once in CI) cannot be explained from the test's own counts.
 */
export function printHaLogs(ps: HaPrivateStack, fromMs: number, toMs: number, maxLinesPerFile = 120): void {
  const files = [
    ...ps.stack.members.map((m) => ({ label: `patroni ${m.spec.name}`, file: path.join(m.spec.dir, 'patroni.log') })),
    ...ps.stack.etcd.map((e) => ({ label: `etcd ${e.spec.name}`, file: e.logFile })),
  ];
  for (const { label, file } of files) {
    const lines = linesBetween(file, fromMs, toMs);
    const shown = lines.slice(-maxLinesPerFile);
    console.log(`[chaos-ha] ${label} (${file}), ${new Date(fromMs).toISOString()} to ${new Date(toMs).toISOString()}: ` +
      `${lines.length} lines${shown.length < lines.length ? `, the last ${shown.length} shown` : ''}\n${shown.join('\n')}`);
  }
}

/** The timestamped lines of `file` within the window (Patroni: local "YYYY-MM-DD HH:MM:SS,mmm"; etcd's zap: "ts":"…Z"). */
function linesBetween(file: string, fromMs: number, toMs: number): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return [`(cannot read: ${String(err)})`];
  }
  return text.split('\n').filter((line) => {
    // etcd's peer-stream chatter (every reconnect logs a dozen lines) would push out the raft events.
    if (line.includes('"caller":"rafthttp/')) return false;
    const at = timestampOf(line);
    return at !== undefined && at >= fromMs && at <= toMs;
  }).map((line) => line.slice(0, 400));
}

function timestampOf(line: string): number | undefined {
  const patroni = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3}) /.exec(line);
  if (patroni) return new Date(`${patroni[1]}T${patroni[2]}.${patroni[3]}`).getTime();
  const zap = /"ts":"([^"]+)"/.exec(line);
  if (zap?.[1]) {
    const at = Date.parse(zap[1]);
    return Number.isNaN(at) ? undefined : at;
  }
  return undefined;
}
