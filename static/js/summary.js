// The summary line (or what the connection says instead: a refused token, a server not reached
// yet, a last known state), the status chips' counts, the page title and the favicon's badge
// (the failures not yet acknowledged), the per-project table (while grouped) and whether the
// clear buttons have anything to clear.

import { createFaviconBadge } from './badge.js';
import { fmtCount, percent, plural } from './format.js';
import { FILTERS } from './task_store.js';

const PROJECT_ROWS = 100;        // project summary rows shown at most
const COLUMNS = 8;               // name, tasks, five counts, progress
const TITLE = document.title;
// The summary line's counts and the projects table's columns, by bucket: Active holds the
// stalled, Failed the acknowledged failures too.
const LINE = [
  { label: 'active', keys: ['active', 'stalled'] }, { label: 'needs attention', keys: ['stale'] },
  { label: 'failed', keys: ['error', 'acked'] }, { label: 'recovered', keys: ['recovered'] },
  { label: 'completed', keys: ['close'] },
];

// The status chips (#chips), one button per FILTERS entry; controls.js handles their clicks.
function makeChips() {
  const chipsEl = document.getElementById('chips');
  const chips = FILTERS.map((f) => {
    const el = document.createElement('button');
    el.type = 'button';
    el.className = 'chip';
    el.dataset.filter = f.key;
    el.setAttribute('aria-pressed', 'false');
    if (f.title) el.title = f.title;
    const label = el.appendChild(document.createElement('span'));
    label.className = 'chip-label';
    label.textContent = f.label;
    const count = el.appendChild(document.createElement('span'));
    count.className = 'chip-count';
    count.textContent = '0';
    return { key: f.key, el, count };
  });
  chipsEl.append(...chips.map((c) => c.el));
  return chips;
}

export function createSummary(store) {
  const summaryEl = document.getElementById('summary');
  const projectsEl = document.getElementById('projects');
  const projectsBody = document.getElementById('projects-body');
  const projectsMore = document.getElementById('projects-more');
  const clearCloseBtn = document.getElementById('clear-close');
  const clearStaleBtn = document.getElementById('clear-stale');
  const projectRows = new Map();   // name -> { tr, cells, last (texts written) }
  const chips = makeChips();
  const favicon = createFaviconBadge();
  let invalidated = false;
  let notice = null;               // connection_state.js boardNotice, or null

  // Counts of the tasks matching the search (all of them without one); the title and the
  // favicon count every failure not yet acknowledged.
  function renderChips() {
    const counts = store.chipCounts();
    for (const chip of chips) {
      const n = counts[chip.key];
      const text = fmtCount(n);
      if (chip.count.textContent !== text) chip.count.textContent = text;
      if ((n > 0) !== chip.el.hasAttribute('data-some')) chip.el.toggleAttribute('data-some', n > 0);
      const pressed = String(store.filter === chip.key);
      if (chip.el.getAttribute('aria-pressed') !== pressed) chip.el.setAttribute('aria-pressed', pressed);
    }
    const failed = store.count('error');
    const title = failed > 0 ? `(${fmtCount(failed)} failed) ${TITLE}` : TITLE;
    if (document.title !== title) document.title = title;
    favicon.set(failed);
  }

  function renderLine() {
    const parts = [plural(store.size, 'task')];
    const sum = (keys) => keys.reduce((n, key) => n + store.count(key), 0);
    const acked = store.count('acked');
    const stalled = store.count('stalled');
    for (const col of LINE) {
      if (col.label === 'active' && stalled) {
        // The stalled apart, while there are any: "3 active · 1 stalled".
        parts.push(`${fmtCount(store.count('active'))} active`, `${fmtCount(stalled)} stalled`);
        continue;
      }
      const more = col.label === 'failed' && acked ? ` (${fmtCount(acked)} acknowledged)` : '';
      parts.push(`${fmtCount(sum(col.keys))} ${col.label}${more}`);
    }
    if (store.query) parts.push(`${fmtCount(store.matchCount())} match “${store.query}”`);
    let text = parts.join(' · ');
    if (notice?.line) text = notice.line;
    else if (notice?.prefix) text = `${notice.prefix} ${text}`;
    if (summaryEl.textContent !== text) summaryEl.textContent = text;
    const kind = notice?.kind || '';
    if ((summaryEl.dataset.notice || '') !== kind) {
      if (kind) summaryEl.dataset.notice = kind; else delete summaryEl.dataset.notice;
    }
    clearCloseBtn.disabled = store.count('close') === 0;
    clearStaleBtn.disabled = store.count('stale') === 0;
  }

  function projectRow(name) {
    let row = projectRows.get(name);
    if (!row) {
      const tr = document.createElement('tr');
      const cells = [];
      for (let i = 0; i < COLUMNS; i++) cells.push(tr.appendChild(document.createElement(i ? 'td' : 'th')));
      cells[0].scope = 'row';
      cells[0].textContent = name;
      row = { tr, cells, last: [] };
      projectRows.set(name, row);
    }
    return row;
  }

  // Per-project totals over every task matching the search (not just the visible pages).
  function renderProjects() {
    projectsEl.hidden = !store.grouped;
    if (!store.grouped) return;
    const projects = store.projectTotals();
    const shown = projects.slice(0, PROJECT_ROWS);
    const keep = new Set(shown.map((s) => s.name));
    for (const [name, row] of projectRows) if (!keep.has(name)) { row.tr.remove(); projectRows.delete(name); }
    let prev = null;
    for (const s of shown) {
      const row = projectRow(s.name);
      const values = [s.name, fmtCount(s.tasks), ...LINE.map((col) => fmtCount(col.keys.reduce((n, key) => n + s[key], 0))),
        s.total > 0 ? percent(s.n, s.total) : '—'];
      for (let i = 1; i < COLUMNS; i++) {
        if (row.last[i] !== values[i]) { row.last[i] = values[i]; row.cells[i].textContent = values[i]; }
      }
      const expected = prev ? prev.nextSibling : projectsBody.firstChild;
      if (expected !== row.tr) projectsBody.insertBefore(row.tr, expected);
      prev = row.tr;
    }
    projectsMore.hidden = projects.length <= PROJECT_ROWS;
    if (projects.length > PROJECT_ROWS) {
      projectsMore.textContent = `and ${fmtCount(projects.length - PROJECT_ROWS)} more projects (narrow them with the search box)`;
    }
  }

  return {
    // Redraw in the next frame even if the store did not change (a clear button was disabled
    // while its request ran).
    invalidate() { invalidated = true; },
    // What the connection says (boardNotice); drawn in the next frame.
    setNotice(next) { notice = next; invalidated = true; },
    // Once per frame, after the bucket views are up to date.
    update() {
      if (!store.takeSummaryStale() && !invalidated) return;
      invalidated = false;
      renderLine();
      renderChips();
      renderProjects();
    },
  };
}
