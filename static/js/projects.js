// Project roll-ups (issue 14): per project a stacked bar by task count (done, running, stalled,
// failed), its throughput (the sum of its running tasks' rates, where their units agree), a
// fleet ETA (units left / throughput, where units agree and every total is known) and its
// counts, failures first; a click filters the board (`project:x` in the search). Also polls
// GET /summary for the fleet panel (this module and charts.js) and the rules the board follows
// (stalled_rule, project_rule).
//
// The numbers are GET /summary's per project (the whole table, computed by the server) where it
// has them: the counts, and by_units' rate and eta (over the tasks with a total, when their
// units agree). A project the server has not reported yet, or numbers it does not give
// (`stalled`, a rate, from an older server), come from the page's own tasks: the sum of the
// running tasks' rates where their units agree, and the units left over it where every total
// is known. rollup() and its helpers are pure.

import { fmtClock, fmtCount, fmtSizeof, plural } from './format.js';
import { NO_PROJECT } from './task_store.js';

export const SUMMARY_POLL_MS = 5000;
const ROWS = 24;                 // projects shown at most

const LIVE = new Set(['start', 'update', 'recovered']);
const unitOf = (t) => t.unit || 'it';
const num = (x) => (typeof x === 'number' && Number.isFinite(x) ? x : 0);

// One project's tallies over the page's tasks.
function emptyTally(name) {
  return {
    name, total: 0, close: 0, error: 0, stale: 0, live: 0, stalled: 0,
    rate: 0, rateUnits: new Set(), liveUnits: new Set(), remaining: 0, untotalled: 0,
  };
}

// The page's tasks tallied per project: entries are the store's ({ task, project, bucket }),
// a bucket of 'stalled' meaning stalled now (task_store.js placeOf). Map name -> tally; name ''
// is no project.
export function tallyTasks(entries) {
  const byName = new Map();
  for (const e of entries) {
    const name = e.project || '';
    let s = byName.get(name);
    if (!s) { s = emptyTally(name); byName.set(name, s); }
    const t = e.task;
    const status = t.status || 'update';
    s.total++;
    if (status === 'close') s.close++;
    else if (status === 'error') s.error++;
    else if (status === 'stale') s.stale++;
    if (!LIVE.has(status)) continue;
    s.live++;
    s.liveUnits.add(unitOf(t));
    if (typeof t.total === 'number' && t.total > 0) s.remaining += Math.max(0, t.total - Math.max(0, num(t.n)));
    else s.untotalled++;
    if (e.bucket === 'stalled') { s.stalled++; continue; }
    if (num(t.rate) > 0) { s.rate += t.rate; s.rateUnits.add(unitOf(t)); }
  }
  return byName;
}

// The server's throughput and ETA of a project (its by_units rate, eta), or null when it gives
// none.
export function serverPace(byUnits) {
  if (!byUnits || typeof byUnits.rate !== 'number' || !(byUnits.rate > 0)) return null;
  const eta = typeof byUnits.eta === 'number' && Number.isFinite(byUnits.eta) ? byUnits.eta : null;
  return {
    throughput: { rate: byUnits.rate, unit: byUnits.unit || 'it' }, eta,
    etaWhy: eta === null ? 'totals unknown' : '',
  };
}

// Throughput and ETA of a tally: { rate, unit } or { mixed: [units] } or null (no running task
// measures a rate); eta in seconds or null, with why not.
export function pace(s) {
  if (!s || s.rateUnits.size === 0) return { throughput: null, eta: null, etaWhy: s && s.live ? 'no rate yet' : 'nothing running' };
  if (s.rateUnits.size > 1) return { throughput: { mixed: [...s.rateUnits].sort() }, eta: null, etaWhy: 'mixed units' };
  const unit = [...s.rateUnits][0];
  const throughput = { rate: s.rate, unit };
  if (s.liveUnits.size > 1) return { throughput, eta: null, etaWhy: 'mixed units' };
  if (s.untotalled > 0) return { throughput, eta: null, etaWhy: 'totals unknown' };
  return { throughput, eta: s.remaining / s.rate, etaWhy: '' };
}

// Counts by the server's numbers ({total, start, update, close, error, stale, recovered,
// stalled}) where given, else the tally's.
export function countsOf(serverTasks, tally) {
  const t = tally || emptyTally('');
  if (serverTasks && typeof serverTasks === 'object') {
    const live = num(serverTasks.start) + num(serverTasks.update) + num(serverTasks.recovered);
    const stalled = Math.min(live, typeof serverTasks.stalled === 'number' ? serverTasks.stalled : t.stalled);
    return {
      total: num(serverTasks.total), done: num(serverTasks.close), failed: num(serverTasks.error),
      stale: num(serverTasks.stale), stalled, running: live - stalled,
    };
  }
  return { total: t.total, done: t.close, failed: t.error, stale: t.stale, stalled: t.stalled, running: t.live - t.stalled };
}

// Every project's roll-up, failures first (most failed first), then by name, no project last:
// [{ name ('' = no project), label, counts, throughput, eta, etaWhy, progress }].
export function rollup(summary, tallies) {
  const server = new Map();
  if (summary && summary.projects && typeof summary.projects === 'object') {
    for (const [name, p] of Object.entries(summary.projects)) server.set(name, p);
  }
  if (summary && summary.no_project) server.set('', summary.no_project);
  const names = new Set([...server.keys(), ...tallies.keys()]);
  const rows = [];
  for (const name of names) {
    const p = server.get(name);
    const tally = tallies.get(name);
    const counts = countsOf(p?.tasks, tally);
    if (counts.total === 0) continue;
    rows.push({
      name, label: name || NO_PROJECT, counts, ...(serverPace(p?.by_units) || pace(tally)),
      progress: p?.by_units && typeof p.by_units.fraction === 'number' ? p.by_units : null,
    });
  }
  rows.sort((a, b) => (b.counts.failed > 0) - (a.counts.failed > 0) || b.counts.failed - a.counts.failed ||
    (a.name === '') - (b.name === '') || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return rows;
}

// Byte units are scaled as tqdm scales them (format.js unitScaling: by 1024).
const BYTE_UNITS = new Set(['B', 'iB', 'byte', 'bytes']);

// "1.2k rows/s", "0.40 it/s", "155MB/s", "mixed units (files, rows)".
export function fmtThroughput(throughput) {
  if (!throughput) return 'no rate yet';
  if (throughput.mixed) return `mixed units (${throughput.mixed.join(', ')})`;
  const { rate, unit } = throughput;
  if (BYTE_UNITS.has(unit)) return `${fmtSizeof(rate, 1024)}${unit}/s`;
  const text = rate >= 1000 ? fmtSizeof(rate) : rate >= 10 ? rate.toFixed(0) : rate.toFixed(2);
  return `${text} ${unit}/s`;
}

// "24,000 rows", "120G B" -> "120GB": a project's total in its unit.
function fmtAmount(total, unit) {
  if (BYTE_UNITS.has(unit)) return `${fmtSizeof(total, 1024)}${unit}`;
  return `${fmtCount(total)}${unit ? ` ${unit}` : ''}`;
}

// The search term that shows one project: quoted when it holds a space or a quote-less colon.
export function projectTerm(name) {
  return /[\s"]/.test(name) ? `project:"${name.replace(/"/g, '')}"` : `project:${name}`;
}

// ---- DOM ----

const SEGMENTS = [
  ['failed', 'failed'], ['stalled', 'stalled or stale'], ['running', 'running'], ['done', 'done'],
];

function makeRow(name) {
  const li = document.createElement('li');
  li.className = 'rollup';
  li.dataset.project = name;
  const btn = li.appendChild(document.createElement(name ? 'button' : 'div'));
  btn.className = 'rollup-main';
  if (name) {
    btn.type = 'button';
    btn.dataset.project = name;
    btn.title = `Show only project ${name} on the board (${projectTerm(name)})`;
  }
  const head = btn.appendChild(document.createElement('span'));
  head.className = 'rollup-head';
  const nameEl = head.appendChild(document.createElement('span'));
  nameEl.className = 'rollup-name';
  nameEl.textContent = name || NO_PROJECT;
  const counts = head.appendChild(document.createElement('span'));
  counts.className = 'rollup-counts';
  const stack = btn.appendChild(document.createElement('span'));
  stack.className = 'stack';
  stack.setAttribute('role', 'img');
  const segs = {};
  for (const [key] of SEGMENTS) {
    const seg = stack.appendChild(document.createElement('span'));
    seg.className = `seg seg-${key}`;
    segs[key] = seg;
  }
  const paceEl = btn.appendChild(document.createElement('span'));
  paceEl.className = 'rollup-pace muted';
  return { li, btn, counts, stack, segs, pace: paceEl, last: Object.create(null) };
}

function setOnce(row, key, value, apply) {
  if (row.last[key] !== value) { row.last[key] = value; apply(value); }
}

function drawRow(row, r) {
  const c = r.counts;
  const parts = [plural(c.total, 'task')];
  if (c.failed) parts.push(`${fmtCount(c.failed)} failed`);
  if (c.stalled) parts.push(`${fmtCount(c.stalled)} stalled`);
  if (c.stale) parts.push(`${fmtCount(c.stale)} stale`);
  parts.push(`${fmtCount(c.running)} running`, `${fmtCount(c.done)} done`);
  const countsText = parts.join(' · ');
  setOnce(row, 'counts', countsText, (v) => { row.counts.textContent = v; });
  const values = { failed: c.failed, stalled: c.stalled + c.stale, running: c.running, done: c.done };
  for (const [key, label] of SEGMENTS) {
    setOnce(row, `seg-${key}`, values[key], (v) => {
      row.segs[key].style.flexGrow = String(v);
      row.segs[key].hidden = v === 0;
      row.segs[key].title = `${fmtCount(v)} ${label}`;
    });
  }
  setOnce(row, 'aria', countsText, (v) => row.stack.setAttribute('aria-label', `Tasks by state: ${v}`));
  let paceText = `throughput ${fmtThroughput(r.throughput)}`;
  if (r.eta !== null) paceText += ` · ETA ${fmtClock(r.eta)}`;
  else if (r.throughput && !r.throughput.mixed) paceText += ` · ETA unknown (${r.etaWhy})`;
  if (r.progress) paceText += ` · ${Math.floor(r.progress.fraction * 100)}% of ${fmtAmount(r.progress.total, r.progress.unit)}`;
  setOnce(row, 'pace', paceText, (v) => { row.pace.textContent = v; });
  setOnce(row, 'failing', c.failed > 0, (v) => row.li.toggleAttribute('data-failing', v));
}

// The projects panel (#rollups): draw(rows, query) keeps one <li> per project shown, in order;
// a click on one puts its project: term into the search box (again: takes it out).
export function createRollups({ listEl, moreEl, searchEl }) {
  const rows = new Map();
  listEl.addEventListener('click', (ev) => {
    const btn = ev.target.closest('button[data-project]');
    if (!btn) return;
    const term = projectTerm(btn.dataset.project);
    searchEl.value = searchEl.value.trim() === term ? '' : term;
    searchEl.dispatchEvent(new Event('input'));
  });
  return {
    draw(all, query) {
      const shown = all.slice(0, ROWS);
      const keep = new Set(shown.map((r) => r.name));
      for (const [name, row] of rows) if (!keep.has(name)) { row.li.remove(); rows.delete(name); }
      let prev = null;
      for (const r of shown) {
        let row = rows.get(r.name);
        if (!row) { row = makeRow(r.name); rows.set(r.name, row); }
        drawRow(row, r);
        const current = r.name !== '' && query.trim() === projectTerm(r.name);
        setOnce(row, 'current', current, (v) => {
          if (v) row.btn.setAttribute('aria-pressed', 'true'); else if (r.name) row.btn.setAttribute('aria-pressed', 'false');
        });
        const expected = prev ? prev.nextSibling : listEl.firstChild;
        if (expected !== row.li) listEl.insertBefore(row.li, expected);
        prev = row.li;
      }
      moreEl.hidden = all.length <= ROWS;
      if (all.length > ROWS) moreEl.textContent = `and ${plural(all.length - ROWS, 'more project')} (narrow the board with the search box)`;
    },
  };
}

// Polls GET /summary every SUMMARY_POLL_MS (and now); onSummary(body) with each answer,
// onError(err) with each failure. Returns { now() } to poll at once.
export function pollSummary(api, { onSummary, onError = () => {} }) {
  let timer = 0;
  let running = false;
  async function once() {
    clearTimeout(timer);
    if (running) return;
    running = true;
    try {
      onSummary(await api('GET', 'summary'));
    } catch (err) {
      onError(err);
    } finally {
      running = false;
      timer = setTimeout(once, SUMMARY_POLL_MS);
    }
  }
  once();
  return { now: once };
}
