/**
 * The dashboard's HTML shell: static markup with the containers the client script fills.
 * Every asset comes from this admin port (/dashboard/assets/…), so it works offline and under a
 * strict Content-Security-Policy (no inline script or style).
 */
const CARDS: ReadonlyArray<readonly [string, string]> = [
  ['card-ready', 'Readiness'], ['card-primary', 'Primary'], ['card-replicas', 'Replicas in rotation'], ['card-pools', 'Primary pool open / max'],
  ['card-cache', 'App cache hit ratio'], ['card-snapshot', 'Last snapshot'], ['card-reports', 'Reports'],
];

function section(title: string, body: string): string {
  return `<section><h2>${title}</h2>${body}</section>`;
}

export function dashboardPage(): string {
  const cards = CARDS.map(([id, label]) => `<div class="card"><span>${label}</span><b id="${id}">…</b></div>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>BGC dashboard</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/assets/uPlot.min.css"><link rel="stylesheet" href="/dashboard/assets/dashboard.css">
</head><body>
<header><h1>BGC Replica — dashboard</h1><span id="updated">loading…</span></header>
<main>
<div class="cards">${cards}</div>
<div class="grid2">
${section('Replicas', '<div id="replicas"></div><div id="chart-live-lag" class="chart"></div>')}
${section('Pools', '<div id="pools"></div><div id="chart-live-pools" class="chart"></div>')}
</div>
${section('Cache', '<div id="cache"></div>')}
${section('History', '<div id="history-note"></div><div class="grid2"><div id="chart-lag" class="chart"></div><div id="chart-connections" class="chart"></div></div><div id="chart-statements" class="chart"></div>')}
<div class="grid2">
${section('Regressed queries (last day vs the six before, mean ≥ 2×)', '<div id="regressed"></div>')}
${section('Slowest queries (last day of snapshots)', '<div id="slowest-history"></div>')}
</div>
${section('Slowest queries now (pg_stat_statements on every node)', '<div id="slowest-live"></div>')}
<div class="grid2">
${section('Partitions', '<div id="partitions"></div>')}
${section('Monthly reports', '<div id="reports"></div>')}
</div>
</main>
<script src="/dashboard/assets/uPlot.iife.min.js"></script>
<script type="module" src="/dashboard/assets/dashboard.js"></script>
</body></html>
`;
}
