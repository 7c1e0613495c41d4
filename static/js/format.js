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

export function fmtNum(x) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '0';
  if (Number.isInteger(x)) return String(x);
  return String(Math.round(x * 100) / 100);
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

// `42/100 [00:12<00:17, 3.41 it/s]` with a total, `42 it [00:12, 3.41 it/s]` without.
export function tqdmLine(t, now) {
  const unit = t.unit || 'it';
  const n = fmtNum(t.n);
  const start = t.created_at;
  const end = t.done_at || (isLive(t.status) ? now : t.updated_at);
  const elapsed = fmtClock(start && end ? Math.max(0, end - start) : NaN);
  const rate = fmtRate(t.rate, unit);
  if (!hasTotal(t)) return `${n} ${unit} [${elapsed}, ${rate}]`;
  let remaining = '?';
  if (t.status === 'close') remaining = '00:00';
  else if (isLive(t.status) && typeof t.eta === 'number') {
    // The server's ETA is as of the last update; count it down in between.
    remaining = fmtClock(Math.max(0, t.eta - Math.max(0, now - (t.updated_at || now))));
  }
  return `${n}/${fmtNum(t.total)} [${elapsed}<${remaining}, ${rate}]`;
}

export function whenLine(t, now) {
  let text;
  if (t.status === 'close' || t.status === 'error') {
    text = `${t.status === 'close' ? 'finished' : 'failed'} ${fmtAgo(now - (t.done_at || t.updated_at))}`;
  } else if (t.status === 'stale') {
    text = `no update for ${fmtAgo(now - t.updated_at).replace(' ago', '')}`;
  } else {
    text = `updated ${fmtAgo(now - t.updated_at)}`;
  }
  if (t.created_at) text += ` · started ${new Date(t.created_at * 1000).toLocaleTimeString()}`;
  return text;
}
