/*
 * The x range of the dashboard's time charts (served from /dashboard/assets/chart-window.js,
 * imported by dashboard.js; a pure ES module so test/unit can import it too).
 *
 * uPlot widens a time axis with a single x value by "one day" counted in its own time units,
 * which for second timestamps is 86,400,000 s: right after start-up a live chart with one sample
 * drew an x axis from 2027 to 2029. With fewer than two distinct times a chart shows the
 * `spanSeconds` up to its one sample instead, the window it will fill as samples arrive; with
 * two or more it keeps the range uPlot proposes (the data's, or a zoom).
 */

/** Share of the span left empty right of a lone sample, so its marker is not cut by the edge. */
const RIGHT_PAD = 0.02;
const DEFAULT_SPAN_S = 900;

/**
 * @param {ArrayLike<number | null | undefined>} times the chart's x values, epoch seconds
 * @param {number | null | undefined} min the range uPlot proposes (its dataMin, or a zoom)
 * @param {number | null | undefined} max
 * @param {number} spanSeconds the window to show when the data has no range to show
 * @param {number} nowSeconds the current time, used only when there is no sample at all
 * @returns {[number, number]} [from, to] in epoch seconds
 */
export function xWindow(times, min, max, spanSeconds, nowSeconds) {
  const span = Number.isFinite(spanSeconds) && spanSeconds > 0 ? spanSeconds : DEFAULT_SPAN_S;
  let first = Number.NaN;
  let distinct = 0;
  for (let i = 0; i < times.length && distinct < 2; i++) {
    const t = times[i];
    if (typeof t !== 'number' || !Number.isFinite(t)) continue;
    if (distinct === 0) { first = t; distinct = 1; } else if (t !== first) distinct = 2;
  }
  if (distinct === 2 && typeof min === 'number' && typeof max === 'number' && max > min) return [min, max];
  const end = distinct > 0 ? first : nowSeconds;
  return [end - span, end + span * RIGHT_PAD];
}
