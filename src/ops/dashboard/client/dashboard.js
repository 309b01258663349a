/* global window, document, fetch, setTimeout, uPlot, URLSearchParams */
/*
 * The admin dashboard's browser script (served from /dashboard/assets/dashboard.js as an ES
 * module, no build step, no CDN). Fetches /admin/api/dashboard every few seconds and renders
 * cards, tables and uPlot charts. Live charts keep their own short ring buffer of the live
 * values, so they move even when the snapshot history is empty; history charts show the last
 * day of snapshots.
 */
import { xWindow } from './chart-window.js';

const params = new URLSearchParams(window.location.search);
const REFRESH_MS = Math.max(2000, Number(params.get('refresh') ?? 10000) || 10000);
const LIVE_POINTS = 90;
/** What a chart with a single sample shows: the last fifteen minutes up to it. */
const LONE_SAMPLE_SPAN_S = 15 * 60;
const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2'];
const charts = {};
const live = { t: [], lag: {}, pool: {} };

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof window.Node ? c : String(c));
  return e;
}

const fmt = {
  ms: (v) => (v === null || v === undefined ? '—' : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : v >= 10 ? `${v.toFixed(0)} ms` : `${v.toFixed(2)} ms`),
  pct: (v) => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)} %`),
  num: (v) => (v === null || v === undefined ? '—' : Math.round(v).toLocaleString('en-US')),
  bytes: (v) => {
    if (v === null || v === undefined) return '—';
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let n = v;
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return `${i === 0 ? n.toFixed(0) : n.toFixed(1)} ${u[i]}`;
  },
  time: (iso) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '—'),
};

function isError(part) { return part && typeof part === 'object' && !Array.isArray(part) && 'error' in part && Object.keys(part).length === 1; }

function table(headers, rows) {
  if (rows.length === 0) return el('p', { class: 'empty', text: 'None.' });
  return el('table', {},
    el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { text: h })))),
    el('tbody', {}, ...rows.map((r) => el('tr', {}, ...r.map((c) => (c instanceof window.Node ? el('td', {}, c) : el('td', { text: c === null || c === undefined ? '—' : String(c) })))))));
}

function fill(id, ...nodes) {
  const target = document.getElementById(id);
  target.replaceChildren(...nodes);
}

function card(id, value, cls) {
  const b = document.getElementById(id);
  b.textContent = value;
  b.className = cls ?? '';
}

function chart(id, title, seriesNames, data, valueFmt) {
  const host = document.getElementById(id);
  const width = Math.max(280, host.clientWidth - 4);
  const hasData = data[0].length > 0;
  host.dataset.points = String(data[0].length);
  if (!hasData) {
    if (charts[id]) { charts[id].destroy(); delete charts[id]; }
    host.replaceChildren(el('p', { class: 'empty', text: `${title}: no data yet.` }));
    return;
  }
  const key = seriesNames.join('|');
  if (charts[id] && charts[id].bgcKey === key) {
    charts[id].setData(data);
    return;
  }
  if (charts[id]) charts[id].destroy();
  host.replaceChildren();
  const opts = {
    title, width, height: 200,
    scales: { x: { time: true, range: (u, min, max) => xWindow(u.data[0], min, max, LONE_SAMPLE_SPAN_S, Date.now() / 1000) } },
    axes: [{}, { values: (_u, ticks) => ticks.map(valueFmt), size: 70 }],
    series: [{}, ...seriesNames.map((name, i) => ({ label: name, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true, value: (_u, v) => valueFmt(v) }))],
    // The drawn x range, for the browser test and for anyone inspecting the page.
    hooks: { setScale: [(u, scale) => { if (scale === 'x') { host.dataset.xMin = String(u.scales.x.min); host.dataset.xMax = String(u.scales.x.max); } }] },
  };
  charts[id] = new uPlot(opts, data, host);
  charts[id].bgcKey = key;
}

function renderHealth(d) {
  const h = d.health;
  if (isError(h)) { card('card-ready', 'error', 'bad'); return; }
  card('card-ready', h.ready ? 'ready' : 'not ready', h.ready ? 'good' : 'bad');
  card('card-primary', h.primary.ok ? 'ok' : 'down', h.primary.ok ? 'good' : 'bad');
  const avail = d.replicas.filter((r) => r.available).length;
  card('card-replicas', `${avail} / ${d.replicas.length}`, avail === d.replicas.length ? 'good' : 'warn');
  fill('replicas', table(['Replica', 'State', 'Lag', 'Lag bytes', 'In flight', 'Error'],
    d.replicas.map((r) => [r.node, r.available ? 'in rotation' : r.reachable ? 'lagging' : 'down', fmt.ms(r.lagMs), fmt.bytes(r.lagBytes), r.inFlight, r.error])));
}

function renderPools(d) {
  const pools = d.pools.filter(Boolean);
  const primary = pools.find((p) => p.role === 'primary');
  card('card-pools', primary ? `${primary.total} / ${primary.max}` : '—', primary && primary.waiting > 0 ? 'warn' : '');
  fill('pools', table(['Node', 'Role', 'Open', 'Idle', 'Waiting', 'Max'], pools.map((p) => [p.node, p.role, p.total, p.idle, p.waiting, p.max])));
}

function renderCache(d) {
  const c = d.cache;
  if (isError(c)) { card('card-cache', 'error', 'bad'); return; }
  card('card-cache', c.hitRatio === null ? 'no traffic' : fmt.pct(c.hitRatio), c.hitRatio !== null && c.hitRatio < 0.95 ? 'warn' : '');
  fill('cache', el('p', { text: `Lookups served from cache: ${fmt.num(c.hits)}; missed: ${fmt.num(c.misses)}; Redis memory ${fmt.bytes(c.memoryBytes)} of ${c.maxBytes ? fmt.bytes(c.maxBytes) : '—'}.` }));
}

function pushLive(d) {
  const now = Math.round(Date.now() / 1000);
  live.t.push(now);
  for (const r of d.replicas) (live.lag[r.node] ??= []).push(r.lagMs);
  for (const p of d.pools.filter(Boolean)) (live.pool[p.node] ??= []).push(p.total);
  if (live.t.length > LIVE_POINTS) {
    live.t.shift();
    for (const a of Object.values(live.lag)) a.shift();
    for (const a of Object.values(live.pool)) a.shift();
  }
  const lagNames = Object.keys(live.lag);
  chart('chart-live-lag', 'Replica lag (live)', lagNames, [live.t.slice(), ...lagNames.map((n) => live.lag[n].slice())], fmt.ms);
  const poolNames = Object.keys(live.pool);
  chart('chart-live-pools', 'Open pool connections (live)', poolNames, [live.t.slice(), ...poolNames.map((n) => live.pool[n].slice())], fmt.num);
}

function alignedSeries(nodes, names, field) {
  const ts = [...new Set(names.flatMap((n) => nodes[n].t))].sort((a, b) => a - b);
  return [ts, ...names.map((n) => {
    const at = new Map(nodes[n].t.map((t, i) => [t, nodes[n][field][i]]));
    return ts.map((t) => (at.has(t) ? at.get(t) : null));
  })];
}

function queryName(r) {
  if (r.name) return r.name;
  const text = (r.query ?? '').replace(/\s+/g, ' ').trim();
  return text ? (text.length > 90 ? `${text.slice(0, 89)}…` : text) : `queryid ${r.queryid}`;
}

function renderHistory(d) {
  const h = d.history;
  if (isError(h)) { fill('history-note', el('p', { class: 'bad', text: `History unavailable: ${h.error}` })); card('card-snapshot', 'error', 'bad'); return; }
  card('card-snapshot', h.lastSnapshotAt ? fmt.time(h.lastSnapshotAt) : 'none yet', h.lastSnapshotAt ? '' : 'warn');
  fill('history-note', el('p', { class: 'sub', text: h.lastSnapshotAt ? `${fmt.num(h.runs)} snapshot runs kept; charts show the day before ${fmt.time(h.lastSnapshotAt)}.` : 'No snapshots yet: the history job runs every few minutes on the leader.' }));
  const replicas = Object.keys(h.nodes).filter((n) => n !== 'primary');
  chart('chart-lag', 'Replica lag (snapshots)', replicas, alignedSeries(h.nodes, replicas, 'lagMs'), fmt.ms);
  const all = Object.keys(h.nodes);
  chart('chart-connections', 'Connections per node (snapshots)', all, alignedSeries(h.nodes, all, 'connections'), fmt.num);
  chart('chart-statements', 'Statement time per snapshot', ['all nodes'], [h.statements.t, h.statements.totalMs], fmt.ms);
  fill('regressed', table(['Query', 'Mean before', 'Mean now', 'Ratio', 'Calls (last day)'],
    h.regressed.map((r) => [queryName(r), fmt.ms(r.beforeMs), fmt.ms(r.nowMs), `×${r.ratio.toFixed(2)}`, fmt.num(r.calls)])));
  fill('slowest-history', table(['Query', 'Calls', 'Mean', 'Total'], h.slowest.map((r) => [queryName(r), fmt.num(r.calls), fmt.ms(r.meanMs), fmt.ms(r.totalMs)])));
}

function renderLiveStatements(d) {
  const s = d.liveStatements;
  if (isError(s)) { fill('slowest-live', el('p', { class: 'bad', text: s.error })); return; }
  fill('slowest-live', table(['Node', 'Query', 'Calls', 'Mean', 'Max'], s.map((r) => [r.node, queryName(r), fmt.num(r.calls), fmt.ms(r.meanMs), fmt.ms(r.maxMs)])));
}

function renderPartitions(d) {
  const p = d.partitions;
  if (isError(p)) { fill('partitions', el('p', { class: 'bad', text: p.error })); return; }
  fill('partitions', table(['Table', 'Partition', 'From', 'To', 'Size', 'Rows (est.)'],
    p.map((r) => [r.parent, r.partition, (r.rangeFrom ?? '').slice(0, 10), (r.rangeTo ?? '').slice(0, 10), fmt.bytes(r.bytes), fmt.num(r.rows)])));
}

function renderReports(d) {
  const r = d.reports;
  if (isError(r)) { fill('reports', el('p', { class: 'bad', text: r.error })); card('card-reports', 'error', 'bad'); return; }
  card('card-reports', String(r.length));
  fill('reports', table(['Month', 'Formats', 'Generated'], r.map((m) => [
    m.month,
    el('span', {}, ...m.formats.flatMap((f, i) => [i > 0 ? ' · ' : '', el('a', { href: `/admin/reports/${m.month}/${f.format}`, target: '_blank', rel: 'noopener', text: f.format })])),
    m.formats.map((f) => `${f.generatedBy} ${fmt.time(f.createdAt)}`)[0],
  ])));
}

async function refresh() {
  try {
    const res = await fetch('/admin/api/dashboard', { headers: { accept: 'application/json' }, credentials: 'same-origin' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const d = await res.json();
    renderHealth(d);
    renderPools(d);
    renderCache(d);
    pushLive(d);
    renderHistory(d);
    renderLiveStatements(d);
    renderPartitions(d);
    renderReports(d);
    document.getElementById('updated').textContent = `updated ${fmt.time(d.generatedAt)} · ${d.env} · every ${REFRESH_MS / 1000} s`;
    document.body.dataset.loaded = 'true';
  } catch (err) {
    document.getElementById('updated').textContent = `refresh failed: ${err.message}`;
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

refresh();
