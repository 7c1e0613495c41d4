// How numbers, durations and tasks read on the board. Pure: no DOM, no clock of its own
// (callers pass `now`, in seconds), so Node's test runner imports it as it is.

export const STATUS_LABEL = {
  start: 'started', update: 'running', close: 'done', error: 'failed',
  stale: 'stale', recovered: 'recovered',
};

const numberFormat = new Intl.NumberFormat('en');
export const fmtCount = (x) => numberFormat.format(x);

// "1 task", "2 tasks", with the count grouped by thousands.
export const plural = (count, noun) => `${fmtCount(count)} ${noun}${count === 1 ? '' : 's'}`;

// Whole percent, rounded down so a bar shows 100% only when it is done.
export const percent = (n, total) => `${Math.floor((n / total) * 100)}%`;

const pad2 = (x) => (x < 10 ? '0' : '') + x;

// tqdm's clock: MM:SS, or H:MM:SS past an hour.
export function fmtClock(s) {
  if (!Number.isFinite(s) || s < 0) return '?';
  s = Math.round(s);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h ? `${h}:${pad2(m)}:${pad2(sec)}` : `${pad2(m)}:${pad2(sec)}`;
}

// A count: integers as they are, a fraction to two places while it matters (below 100), a
// large count whole ("148634515", never "148634514.55").
export function fmtNum(x) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '0';
  if (Number.isInteger(x)) return String(x);
  if (Math.abs(x) >= 100) return String(Math.round(x));
  return String(Math.round(x * 100) / 100);
}

const SI_PREFIXES = ['', 'k', 'M', 'G', 'T', 'P', 'E', 'Z'];

// tqdm's format_sizeof: three significant digits and an SI prefix, "1.81G", "155M", "999",
// "1.00k"; `divisor` 1024 for bytes counted in binary multiples (tqdm's unit_divisor).
export function fmtSizeof(x, divisor = 1000) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '?';
  for (const prefix of SI_PREFIXES) {
    const a = Math.abs(x);
    if (a < 999.5) {
      if (a < 99.95) return (a < 9.995 ? x.toFixed(2) : x.toFixed(1)) + prefix;
      return x.toFixed(0) + prefix;
    }
    x /= divisor;
  }
  return `${x.toFixed(1)}Y`;
}

const BYTE_UNITS = new Set(['B', 'iB', 'byte', 'bytes']);

// How a task's counts are scaled, as tqdm's `unit_scale` and `unit_divisor` (RemoteTqdm users
// pass them in `meta`): null when they are not, else {factor, divisor}. unit_scale true (or 1)
// scales; a number also multiplies the counts; false or 0 turns it off. Unset, byte units
// (B, iB, bytes) are scaled by 1024, as `tqdm(unit="B", unit_scale=True, unit_divisor=1024)`.
export function unitScaling(t) {
  const meta = t.meta && typeof t.meta === 'object' ? t.meta : {};
  const asked = meta.unit_scale;
  const divisorOf = (fallback) =>
    (typeof meta.unit_divisor === 'number' && meta.unit_divisor > 1 ? meta.unit_divisor : fallback);
  if (asked === true || (typeof asked === 'number' && asked > 0)) {
    return { factor: asked === true ? 1 : asked, divisor: divisorOf(1000) };
  }
  if (asked === undefined && BYTE_UNITS.has(t.unit)) return { factor: 1, divisor: divisorOf(1024) };
  return null;
}

// tqdm shows "3.41 it/s", and "2.50 s/it" once a unit takes longer than a second.
export function fmtRate(rate, unit) {
  if (typeof rate !== 'number' || !(rate > 0)) return `? ${unit}/s`;
  if (rate < 1) return `${(1 / rate).toFixed(2)} s/${unit}`;
  return `${rate.toFixed(2)} ${unit}/s`;
}

export function fmtAgo(s) {
  if (!Number.isFinite(s)) return '';
  if (s < 1) return 'just now';
  if (s < 60) return `${Math.floor(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

const isLive = (status) => status === 'start' || status === 'update' || status === 'recovered';
export const hasTotal = (t) => typeof t.total === 'number' && t.total > 0;

// A scaled rate as tqdm writes it: "155MB/s", or "2.50s/B" below one unit a second.
function fmtScaledRate(rate, unit, scaling) {
  if (typeof rate !== 'number' || !(rate > 0)) return `?${unit}/s`;
  const r = rate * scaling.factor;
  if (r < 1) return `${(1 / r).toFixed(2)}s/${unit}`;
  return `${fmtSizeof(r, scaling.divisor)}${unit}/s`;
}

// `42/100 [00:12<00:17, 3.41 it/s]` with a total, `42 it [00:12, 3.41 it/s]` without; with
// unit scaling (unitScaling), tqdm's `1.81G/3.17G [00:12<00:09, 155MB/s]` and
// `1.81GB [00:12, 155MB/s]`. An ETA that has run out while the task goes on reads `overdue`.
export function tqdmLine(t, now) {
  const unit = t.unit || 'it';
  const scaling = unitScaling(t);
  const count = (x) => (scaling ? fmtSizeof((Number.isFinite(x) ? x : 0) * scaling.factor,
    scaling.divisor) : fmtNum(x));
  const n = count(t.n);
  const start = t.created_at;
  const end = t.done_at || (isLive(t.status) ? now : t.updated_at);
  const elapsed = fmtClock(start && end ? Math.max(0, end - start) : NaN);
  const rate = scaling ? fmtScaledRate(t.rate, unit, scaling) : fmtRate(t.rate, unit);
  if (!hasTotal(t)) return `${n}${scaling ? '' : ' '}${unit} [${elapsed}, ${rate}]`;
  let remaining = '?';
  if (t.status === 'close') remaining = '00:00';
  else if (isLive(t.status) && typeof t.eta === 'number') {
    // The server's ETA is as of the last update; count it down in between.
    const left = t.eta - Math.max(0, now - (t.updated_at || now));
    remaining = left < -0.5 ? 'overdue' : fmtClock(Math.max(0, left));
  }
  return `${n}/${count(t.total)} [${elapsed}<${remaining}, ${rate}]`;
}

// A task closed before reaching its total (a RemoteTqdm loop that raised closes its bar
// too): its whole percent, else null.
export function endedEarly(t) {
  if (t.status !== 'close' || !hasTotal(t) || !((t.n || 0) < t.total)) return null;
  return percent(Math.max(0, t.n || 0), t.total);
}

export function whenLine(t, now) {
  let text;
  if (t.status === 'close' || t.status === 'error') {
    const word = t.status === 'error' ? 'failed' : endedEarly(t) !== null ? 'ended' : 'finished';
    text = `${word} ${fmtAgo(now - (t.done_at || t.updated_at))}`;
  } else if (t.status === 'stale') {
    text = `no update for ${fmtAgo(now - t.updated_at).replace(' ago', '')}`;
  } else {
    text = `updated ${fmtAgo(now - t.updated_at)}`;
  }
  if (t.created_at) text += ` · started ${new Date(t.created_at * 1000).toLocaleTimeString()}`;
  return text;
}
