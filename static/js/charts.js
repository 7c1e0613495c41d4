// Throughput charts (issue 14): events/s, and completions/min with failures/min over them, for
// the last 10 minutes, from GET /summary's `history` ({step, events_per_second,
// closed_per_minute, failed_per_minute}: up to 60 buckets of `step` s, oldest first, the last
// ending now). Plain inline SVG, no library. chartModel() and describe() are pure.

const SVG_NS = 'http://www.w3.org/2000/svg';
const W = 300;                   // the viewBox: the SVG scales to its box
const H = 80;
const PAD_TOP = 4;
const PAD_BOTTOM = 2;
export const BUCKETS = 60;       // the span drawn: 60 buckets (10 min of 10 s)

const finite = (x) => (typeof x === 'number' && Number.isFinite(x) ? x : 0);

// A value as the axis and the point titles read it: "12.5", "0.4", "1,234".
export function fmtValue(x) {
  if (x >= 100) return Math.round(x).toLocaleString('en');
  if (x >= 10) return (Math.round(x * 10) / 10).toString();
  return (Math.round(x * 100) / 100).toString();
}

// How long before now a bucket's end is, as a person says it: "now", "40 s ago", "3 min 20 s ago".
export function fmtBefore(seconds) {
  if (seconds < 1) return 'now';
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  if (!m) return `${s} s ago`;
  return s ? `${m} min ${s} s ago` : `${m} min ago`;
}

// The span of the x axis in seconds, and its label ("10 min ago").
export const spanOf = (step) => BUCKETS * step;

// Points of several series over one y scale: { max, series: [{ points: [{x, y, value, ago}] }] }.
// The x axis spans BUCKETS × step seconds ending now, whatever the history holds, so a short
// history sits at the right; the y axis goes from 0 to the largest value (1 when all are 0).
// seconds: each bucket's length when given (/summary's history.seconds: the last one is still
// filling), else step.
export function chartModel(seriesValues, step = 10, seconds = null) {
  const span = spanOf(step);
  let max = 0;
  for (const values of seriesValues) for (const v of values) max = Math.max(max, finite(v));
  const top = max > 0 ? max : 1;
  const series = seriesValues.map((values) => {
    const n = values.length;
    // ends[i]: how long before now bucket i ends (the last one ends now).
    const ends = new Array(n).fill(0);
    for (let i = n - 2; i >= 0; i--) {
      const len = seconds && finite(seconds[seconds.length - (n - 1 - i)]) > 0 ? seconds[seconds.length - (n - 1 - i)] : step;
      ends[i] = ends[i + 1] + len;
    }
    return {
      points: values.map((v, i) => {
        const ago = Math.round(ends[i] * 10) / 10;       // the bucket ends this long before now
        const x = W * (1 - Math.min(span, ago) / span);
        const y = PAD_TOP + (H - PAD_TOP - PAD_BOTTOM) * (1 - finite(v) / top);
        return { x: Math.round(x * 10) / 10, y: Math.round(y * 10) / 10, value: finite(v), ago };
      }),
    };
  });
  return { max, series };
}

// A sentence for screen readers: "Events per second, last 10 minutes: now 3.2, peak 12.5,
// average 4.1."
export function describe(label, values) {
  if (!values.length) return `${label}: no data yet.`;
  const nums = values.map(finite);
  const peak = Math.max(...nums);
  const mean = nums.reduce((a, b) => a + b, 0) / nums.length;
  return `${label}: now ${fmtValue(nums[nums.length - 1])}, peak ${fmtValue(peak)}, average ${fmtValue(mean)}.`;
}

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (parent) parent.appendChild(node);
  return node;
}

// One chart in a <figure>: title, the SVG, the axis labels (max, "10 min ago", "now"), a text
// summary. series: [{ key, label, values, unit }], the first drawn as an area.
export function drawChart(figure, { title, series, step, seconds = null }) {
  const model = chartModel(series.map((s) => s.values), step, seconds);
  figure.replaceChildren();
  figure.dataset.points = String(model.series.reduce((n, s) => n + s.points.filter((p) => p.value > 0).length, 0));
  const cap = document.createElement('figcaption');
  cap.className = 'chart-title';
  cap.textContent = title;
  if (series.length > 1) {
    for (const s of series) {
      const key = cap.appendChild(document.createElement('span'));
      key.className = `chart-key key-${s.key}`;
      key.textContent = s.label;
    }
  }
  figure.appendChild(cap);

  const box = figure.appendChild(document.createElement('div'));
  box.className = 'chart-box';
  const maxEl = box.appendChild(document.createElement('span'));
  maxEl.className = 'chart-max';
  maxEl.textContent = `max ${fmtValue(model.max)} ${series[0].unit}`;
  const summary = series.map((s) => describe(`${s.label}, last ${Math.round(spanOf(step) / 60)} minutes`, s.values)).join(' ');
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': summary });
  box.appendChild(svg);
  for (const y of [PAD_TOP, (H + PAD_TOP) / 2]) el('line', { x1: 0, x2: W, y1: y, y2: y, class: 'grid' }, svg);
  el('line', { x1: 0, x2: W, y1: H - PAD_BOTTOM, y2: H - PAD_BOTTOM, class: 'axis' }, svg);
  // The first series as bars (one per bucket, ending at its bucket's end: legible from the
  // first bucket on), the others as lines with a dot per bucket over them.
  const base = H - PAD_BOTTOM;
  const barW = (W / BUCKETS) * 0.8;
  model.series.forEach(({ points }, k) => {
    const s = series[k];
    if (!points.length) return;
    const g = el('g', { class: `points points-${s.key}` }, svg);
    const title = (node, p) => { el('title', {}, node).textContent = `${fmtBefore(p.ago)}: ${fmtValue(p.value)} ${s.unit}`; };
    if (k === 0) {
      for (const p of points) {
        const h = Math.max(p.value > 0 ? 1 : 0.5, base - p.y);
        title(el('rect', { x: Math.max(0, p.x - barW), y: base - h, width: barW, height: h,
          class: `point col col-${s.key}`, 'data-value': p.value }, g), p);
      }
      return;
    }
    el('polyline', { points: points.map((p) => `${p.x - barW / 2},${p.y}`).join(' '), class: `line line-${s.key}` }, svg);
    for (const p of points) {
      title(el('circle', { cx: p.x - barW / 2, cy: p.y, r: p.value > 0 ? 1.8 : 0.9, class: 'point dot', 'data-value': p.value }, g), p);
    }
  });
  const axis = figure.appendChild(document.createElement('div'));
  axis.className = 'chart-axis muted';
  const left = axis.appendChild(document.createElement('span'));
  left.textContent = `${Math.round(spanOf(step) / 60)} min ago`;
  const right = axis.appendChild(document.createElement('span'));
  right.textContent = 'now';
  const text = figure.appendChild(document.createElement('p'));
  text.className = 'visually-hidden chart-summary';
  text.textContent = summary;
}

// Both charts from a /summary answer (its history; nothing drawn without one).
export function drawHistory(eventsFig, closedFig, history) {
  if (!history || typeof history !== 'object') return false;
  const step = finite(history.step) || 10;
  const arr = (x) => (Array.isArray(x) ? x.slice(-BUCKETS) : []);
  const seconds = Array.isArray(history.seconds) ? history.seconds.slice(-BUCKETS) : null;
  drawChart(eventsFig, {
    title: 'Events per second', step, seconds,
    series: [{ key: 'events', label: 'events/s', values: arr(history.events_per_second), unit: 'events/s' }],
  });
  drawChart(closedFig, {
    title: 'Completions and failures per minute', step, seconds,
    series: [
      { key: 'closed', label: 'completions/min', values: arr(history.closed_per_minute), unit: 'completions/min' },
      { key: 'failed', label: 'failures/min', values: arr(history.failed_per_minute), unit: 'failures/min' },
    ],
  });
  return true;
}
