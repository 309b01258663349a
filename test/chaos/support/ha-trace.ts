import fs from 'node:fs';
import path from 'node:path';
import type { HaPrivateStack } from './ha-stack.ts';
import type { Sample } from './load.ts';

/**
 * Where an HA scenario's write outage goes: one timeline, relative to the fault, of
 *  - HAProxy's view of every server on the leader port (its stats page polled every 50 ms:
 *    when the old leader left it and the new one entered it),
 *  - Patroni's log of every member (demote, checkpoint, leader key released and acquired,
 *    promote, synchronous standby chosen),
 *  - PostgreSQL's log of every member (shutdown, promotion, a standby becoming synchronous),
 *  - the promotion callback's log (the peers' slots created, src/tools/stack/ha/promotion-slots.ts),
 *  - marks set by the test (e.g. `patronictl switchover` issued and answered),
 *  - the app's writes around the gap (start → end, status, code).
 * The logs are read after the fact; only HAProxy is polled, and cheaply, so tracing does not
 * move the figure it explains.
 */
export interface TraceEvent { readonly at: number; readonly source: string; readonly text: string }

export interface HaTrace {
  mark(source: string, text: string): void;
  /** Stops polling; the events between `from` and `to` (epoch ms), logs included, in time order. */
  stop(from: number, to: number): TraceEvent[];
}

const POLL_MS = 50;
const LINE_MAX = 220;

/** PostgreSQL lines that say what the server is doing; the rest (statements, checkpoints' detail) is noise here. */
const PG_EVENTS = /shut ?down|promot|ready to accept|synchronous|timeline|redo (done|starts)|recovery|started streaming|terminating walreceiver|could not connect|checkpoint (starting|complete)|received .* request|archive recovery|consistent recovery|listening on/i;

export function startHaTrace(ps: HaPrivateStack): HaTrace {
  const events: TraceEvent[] = [];
  const last = new Map<string, string>();
  let stopped = false;
  let inFlight = false;
  const timer = setInterval(() => {
    if (inFlight || stopped) return;
    inFlight = true;
    const at = Date.now();
    void ps.stack.haproxy.servers(500).then((servers) => {
      for (const s of servers) {
        if (s.listener !== 'primary') continue;
        const key = `${s.listener}/${s.server}`;
        if (last.get(key) !== s.status) {
          events.push({ at, source: 'haproxy', text: `${key} ${last.get(key) ?? '?'} → ${s.status}` });
          last.set(key, s.status);
        }
      }
    }).finally(() => { inFlight = false; });
  }, POLL_MS);
  timer.unref(); // never what keeps a test process alive
  return {
    mark(source, text) { events.push({ at: Date.now(), source, text }); },
    stop(from, to) {
      stopped = true;
      clearInterval(timer);
      const out = events.filter((e) => e.at >= from && e.at <= to);
      for (const m of ps.stack.members) {
        out.push(...patroniLog(path.join(m.spec.dir, 'patroni.log'), m.spec.name, from, to));
        out.push(...postgresLog(path.join(m.spec.dataDir, 'log', 'postgresql.log'), m.spec.name, from, to));
        out.push(...callbackLog(path.join(m.spec.dir, 'callbacks.log'), m.spec.name, from, to));
      }
      return out.sort((a, b) => a.at - b.at);
    },
  };
}

function readLines(file: string): string[] {
  try { return fs.readFileSync(file, 'utf8').split('\n'); } catch { return []; }
}

/** Patroni logs local time, `2026-12-04 17:22:01,123 INFO: …`; Node reads a zone-less date as local time too. */
function patroniLog(file: string, member: string, from: number, to: number): TraceEvent[] {
  const out: TraceEvent[] = [];
  for (const line of readLines(file)) {
    const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3}) (\w+): (.*)$/.exec(line);
    if (!m) continue;
    const at = new Date(`${m[1]}T${m[2]}.${m[3]}`).getTime();
    if (at < from || at > to) continue;
    out.push({ at, source: `${member} patroni`, text: `${m[4]}: ${m[5]}`.slice(0, LINE_MAX) });
  }
  return out;
}

/**
 * PostgreSQL's `%m [%p] …` lines (log_timezone UTC). A message repeated by many backends
 * (every refused connection during a shutdown) is kept once, with its count and last time.
 */
function postgresLog(file: string, member: string, from: number, to: number): TraceEvent[] {
  const out: TraceEvent[] = [];
  const repeats = new Map<string, { first: TraceEvent; count: number; lastAt: number }>();
  for (const line of readLines(file)) {
    const m = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) UTC \[\d+\] (.*)$/.exec(line);
    if (!m) continue;
    const at = new Date(`${(m[1] ?? '').replace(' ', 'T')}Z`).getTime();
    if (at < from || at > to) continue;
    const text = (m[2] ?? '').replace(/^\S*\s+\S*@\S*\s+/, '').slice(0, LINE_MAX);
    if (/^FATAL|^ERROR/.test(text)) {
      const seen = repeats.get(text);
      if (seen) { seen.count++; seen.lastAt = at; continue; }
      const first = { at, source: `${member} postgres`, text };
      repeats.set(text, { first, count: 1, lastAt: at });
      out.push(first);
      continue;
    }
    if (PG_EVENTS.test(text)) out.push({ at, source: `${member} postgres`, text });
  }
  for (const r of repeats.values()) {
    if (r.count > 1) out.push({ at: r.lastAt, source: r.first.source, text: `the same ×${r.count} in all, the last here: ${r.first.text}`.slice(0, LINE_MAX) });
  }
  return out;
}

/** The promotion callback's lines (src/tools/stack/ha/promotion-slots.ts): `2026-12-04T17:22:01.123Z …`. */
function callbackLog(file: string, member: string, from: number, to: number): TraceEvent[] {
  const out: TraceEvent[] = [];
  for (const line of readLines(file)) {
    const m = /^(\S+Z) (.*)$/.exec(line);
    const at = m ? new Date(m[1] ?? '').getTime() : Number.NaN;
    if (m && at >= from && at <= to) out.push({ at, source: `${member} callback`, text: (m[2] ?? '').slice(0, LINE_MAX) });
  }
  return out;
}

/** The app's writes that started or ended inside [from, to]: start → end, status and code. */
export function writeEvents(samples: readonly Sample[], from: number, to: number): TraceEvent[] {
  return samples
    .filter((s) => s.kind === 'write' && s.at + s.ms >= from && s.at <= to && s.status !== 201)
    .map((s) => ({ at: s.at + s.ms, source: 'app write', text: `started ${s.at - from} ms after the window opened, ${s.ms} ms → ${s.status}${s.code ? ` ${s.code}` : ''}` }))
    .concat(samples.filter((s) => s.kind === 'write' && s.status === 201 && s.at + s.ms >= from && s.at + s.ms <= to && s.ms >= 300)
      .map((s) => ({ at: s.at + s.ms, source: 'app write', text: `acknowledged after ${s.ms} ms (slow)` })));
}

/** One line per event, `+ms source: text`, relative to `zero`. */
export function formatTrace(events: readonly TraceEvent[], zero: number): string {
  return events.map((e) => `${String(e.at - zero).padStart(7)} ms  ${e.source.padEnd(12)} ${e.text}`).join('\n');
}

/**
 * The switchover's milestones, ms after `zero` (the last write acknowledged before the gap),
 * found in the timeline: the old leader's fast shutdown, its leader key released, the lock
 * taken by the new leader, the new leader accepting writes, HAProxy sending it the leader
 * port, the first synchronous standby (with synchronous_mode_strict, commits wait for it).
 */
export function switchoverSteps(events: readonly TraceEvent[], oldLeader: string, newLeader: string, zero: number): string {
  const at = (source: string, pattern: RegExp): string => {
    const e = events.find((x) => x.source === source && pattern.test(x.text));
    return e ? String(e.at - zero) : '?';
  };
  const sync = events.find((x) => x.source === `${newLeader} postgres` && /is now a synchronous standby/.test(x.text));
  return [
    `fast shutdown of ${oldLeader} ${at(`${oldLeader} postgres`, /received fast shutdown request/)}`,
    `leader key released ${at(`${oldLeader} patroni`, /Leader key released/)}`,
    `lock taken by ${newLeader} ${at(`${newLeader} patroni`, /acquiring session lock/)}`,
    `peers' slots ${at(`${newLeader} callback`, /slots/)}`,
    `${newLeader} accepts writes ${at(`${newLeader} postgres`, /ready to accept connections/)}`,
    `HAProxy sends it the leader port ${at('haproxy', new RegExp(`^primary/${newLeader} .*→ UP$`))}`,
    `synchronous standby ${sync ? `${sync.at - zero} (${/standby "([^"]+)"/.exec(sync.text)?.[1] ?? '?'})` : '?'}`,
  ].join(', ');
}
