// The table view (issue 14, "the fleet operator's board"): one dense row per task, sortable by
// any column, failed tasks nobody acknowledged pinned on top, filtered by the status chips and
// the search exactly as the cards are (it shows the store's bucket views), exportable as CSV
// or JSON.
//
// One page scroll: the table has no scroll area of its own. Its body is as tall as all its
// rows, and only the rows in or near the window's view exist in the DOM (rows have one fixed
// height, so the rows in view follow from the window's scroll position alone), so 100,000
// tasks cost as much as 60.
//
// The order is stable while tasks update (table_model.js): it is re-sorted on a header click,
// by the "re-sort" button that shows when the order is out of date, when the pointer leaves
// the table, and when the table is shown.

import { api } from './api.js';
import { showAlert } from './alerts.js';
import { drawCard } from './cards.js';
import { fmtAgo, fmtCount, fmtNum, hasTotal, percent, plural } from './format.js';
import { download, exportFileName, toCsv, toJson } from './export.js';
import { RateHistory, sparkPath } from './sparkline.js';
import { COLUMNS, TableModel, isPinned, statusOf, tqdmParts, useStalledRule } from './table_model.js';
import { BUCKETS, bucketOf } from './task_store.js';
import { getViewMode, onViewMode, setViewMode } from './view_mode.js';
import { isTyping } from './keys.js';

const OVERSCAN_ROWS = 12;
const ROW_POOL_MAX = 200;
const SPARK_W = 48;
const SPARK_H = 14;
const SVG = 'http://www.w3.org/2000/svg';

// Writes through `apply` only when `value` differs from the last one written under `key`.
function setOnce(last, key, value, apply) {
  if (last[key] !== value) { last[key] = value; apply(value); }
}

function makeRowProto() {
  const row = document.createElement('div');
  row.className = 'tt-row';
  row.setAttribute('role', 'row');
  row.tabIndex = -1;   // j/k give the focused row real focus; not in the Tab order
  for (const col of COLUMNS) {
    const cell = row.appendChild(document.createElement('div'));
    cell.className = `tt-cell c-${col.id}`;
    cell.setAttribute('role', 'cell');
  }
  const q = (id) => row.querySelector(`.c-${id}`);
  const status = q('status');
  status.innerHTML = '<span class="tt-chip"></span><button class="tt-ack" type="button" hidden>'
    + 'Ack<span class="tt-ack-rest">nowledge</span></button>';
  q('progress').innerHTML = '<div class="bar tt-pbar"><div class="fill"></div></div><span class="tt-pct"></span>';
  q('rate').innerHTML = '<span class="tt-rate"></span>';
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'tt-spark');
  svg.setAttribute('viewBox', `0 0 ${SPARK_W} ${SPARK_H}`);
  svg.setAttribute('width', String(SPARK_W));
  svg.setAttribute('height', String(SPARK_H));
  svg.setAttribute('aria-hidden', 'true');
  svg.appendChild(document.createElementNS(SVG, 'path'));
  q('rate').appendChild(svg);
  return row;
}

export function createTableView({ store, lists, schedule, onActionFailed }) {
  const section = document.getElementById('table-view');
  const board = document.getElementById('board');
  const tableEl = document.getElementById('task-table');
  const headerRow = tableEl.querySelector('.tt-header');
  const body = tableEl.querySelector('.tt-body');
  const spacer = tableEl.querySelector('.tt-spacer');
  const rowsEl = tableEl.querySelector('.tt-rows');
  const emptyEl = tableEl.querySelector('.tt-empty');
  const countEl = document.getElementById('table-count');
  const resortBtn = document.getElementById('table-resort');
  const switchBtns = [...document.querySelectorAll('.view-switch [data-view]')];
  const topbar = document.querySelector('.topbar');
  const proto = makeRowProto();

  const model = new TableModel();
  const history = new RateHistory();
  const rows = new Map();          // id -> row in the DOM
  const pool = [];
  const lastViews = {};            // bucket key -> the view array last seen (a new array: changed)
  const last = Object.create(null);
  let shown = false;
  let lastFilter = null;
  let lastQuery = null;
  let ticks = 0;
  let needSync = true;
  let rowH = 24;
  let notice = null;
  // Where a frame's time goes (the bench reads them): totals in ms since the page opened.
  let focusId = null;              // the row j/k focus (a task id: rows are recycled)
  let focusPending = false;        // j/k moved it: give its row real focus once drawn
  let ringEl = null;               // the row element wearing aria-current
  const stats = { syncs: 0, syncMs: 0, sorts: 0, sortMs: 0, renders: 0, renderMs: 0 };

  // ---- header ----
  const heads = COLUMNS.map((col) => {
    const th = headerRow.appendChild(document.createElement('div'));
    th.className = `tt-cell tt-th c-${col.id}`;
    th.setAttribute('role', 'columnheader');
    const btn = th.appendChild(document.createElement('button'));
    btn.type = 'button';
    btn.className = 'tt-sort';
    btn.dataset.col = col.id;
    btn.textContent = col.label;
    btn.title = `Sort by ${col.label.toLowerCase()} (again: reverse)`;
    return { col, th, btn };
  });

  function drawHeader() {
    for (const { col, th } of heads) {
      const sort = col.id === model.sortColumn ? model.sortDir : null;
      if (sort) th.setAttribute('aria-sort', sort); else th.removeAttribute('aria-sort');
    }
  }
  drawHeader();

  const nowSeconds = () => Date.now() / 1000;

  function resort(now = nowSeconds()) {
    const t0 = performance.now();
    model.sort(now);
    stats.sorts++;
    stats.sortMs = performance.now() - t0;
    schedule();
  }

  headerRow.addEventListener('click', (ev) => {
    const btn = ev.target.closest('.tt-sort');
    if (!btn) return;
    const t0 = performance.now();
    model.sortBy(btn.dataset.col, nowSeconds());
    stats.sorts++;
    stats.sortMs = performance.now() - t0;
    drawHeader();
    schedule();
  });
  resortBtn.addEventListener('click', () => resort());
  // The order freezes while the pointer is over the rows (so what you aim at stays put) and
  // catches up when it leaves.
  tableEl.addEventListener('pointerleave', () => { if (model.outOfDate) resort(); });

  // ---- acknowledge (a pinned failure); a parent's description toggles its children ----
  rowsEl.addEventListener('click', async (ev) => {
    const kids = ev.target.closest('.tt-kids');
    if (kids) {
      store.toggleChildren(kids.closest('.tt-row').dataset.id);
      structural = true;   // rows come or go: taken again from the views
      schedule();
      return;
    }
    const btn = ev.target.closest('.tt-ack');
    if (!btn) return;
    const id = btn.closest('.tt-row').dataset.id;
    btn.disabled = true;
    try {
      await api('POST', `tasks/${encodeURIComponent(id)}/acknowledge`);
      showAlert(`Acknowledged the failure of “${id}”.`, 'ok');
    } catch (err) {
      onActionFailed(`acknowledge task “${id}”`, err);
    } finally {
      btn.disabled = false;
    }
  });

  // ---- export: every row that matches, not only those on screen ----
  const exportTasks = () => model.rows();
  function exportAs(kind) {
    const now = nowSeconds();
    const tasks = exportTasks();
    if (kind === 'csv') download(exportFileName('csv'), toCsv(tasks, now), 'text/csv;charset=utf-8');
    else download(exportFileName('json'), toJson(tasks, now), 'application/json');
  }
  document.getElementById('export-csv').addEventListener('click', () => exportAs('csv'));
  document.getElementById('export-json').addEventListener('click', () => exportAs('json'));

  // ---- the view switch ----
  for (const btn of switchBtns) btn.addEventListener('click', () => setViewMode(btn.dataset.view));

  function applyMode(mode) {
    const table = mode === 'table';
    for (const btn of switchBtns) btn.setAttribute('aria-pressed', String(btn.dataset.view === mode));
    document.body.dataset.view = mode;
    section.hidden = !table;
    board.hidden = table;
    if (table && !shown) {
      shown = true;
      needSync = true;
    } else if (!table && shown) {
      shown = false;
      releaseAll();
      // The cards were not drawn while the table was shown: everything in them may be old.
      const now = nowSeconds();
      for (const list of lists) {
        list.layoutStale = true;
        for (const card of list.cards.values()) {
          const e = store.get(card.id);
          if (e) drawCard(card, e.task, now, store);
        }
      }
    }
    schedule();
  }
  onViewMode(applyMode);

  // ---- geometry ----
  function readGeometry() {
    const css = getComputedStyle(tableEl);
    const h = parseFloat(css.getPropertyValue('--tt-row-h'));
    if (h > 0) rowH = h;
  }
  new ResizeObserver(() => {
    tableEl.style.setProperty('--tt-top', `${topbar.getBoundingClientRect().height}px`);
    readGeometry();
    schedule();
  }).observe(topbar);
  new ResizeObserver(() => { readGeometry(); schedule(); }).observe(tableEl);
  window.addEventListener('scroll', () => { if (shown) schedule(); }, { passive: true });
  window.addEventListener('resize', () => { if (shown) schedule(); });

  // ---- rows ----
  function takeRow(id) {
    let row = pool.pop();
    if (!row) {
      const el = proto.cloneNode(true);
      const q = (sel) => el.querySelector(sel);
      const cell = (id2) => q(`.c-${id2}`);
      row = {
        el, id,
        cells: Object.fromEntries(COLUMNS.map((c) => [c.id, cell(c.id)])),
        chip: q('.tt-chip'), ack: q('.tt-ack'), bar: q('.tt-pbar'), fill: q('.fill'), pct: q('.tt-pct'),
        rate: q('.tt-rate'), path: q('.tt-spark path'),
      };
    }
    row.id = id;
    row.el.dataset.id = id;
    row.last = Object.create(null);
    row.task = null;
    row.spark = -2;
    return row;
  }

  function releaseRow(row) {
    if (row.el === ringEl) { ringEl.removeAttribute('aria-current'); ringEl = null; }
    row.el.remove();
    if (pool.length < ROW_POOL_MAX) pool.push(row);
  }

  function releaseAll() {
    for (const row of rows.values()) releaseRow(row);
    rows.clear();
  }

  const text = (row, key, node, value) => setOnce(row.last, key, value, (v) => { node.textContent = v; });
  const attr = (row, key, node, name, value) => setOnce(row.last, key, value, (v) => {
    if (v === null) node.removeAttribute(name); else node.setAttribute(name, v);
  });

  // Everything a row shows of its task.
  function drawRow(row, e, now) {
    const t = e.task;
    row.task = t;
    const c = row.cells;
    const id = t.task_id ?? e.id;
    text(row, 'id', c.id, id);
    attr(row, 'idTitle', c.id, 'title', id);
    // Nested progress: a parent's description leads with its children's toggle.
    const kids = t.children?.count || 0;
    const open = kids > 0 && store.isExpanded(id);
    setOnce(row.last, 'desc', `${kids}|${open}|${t.desc || ''}`, () => {
      c.desc.textContent = t.desc || '';
      if (kids > 0) {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'kids tt-kids';
        b.setAttribute('aria-expanded', String(open));
        b.textContent = `${open ? '▾' : '▸'} ${kids}`;
        b.title = `${open ? 'Hide' : 'Show'} its ${kids} ${kids === 1 ? 'child' : 'children'}`;
        c.desc.prepend(b, ' ');
      }
    });
    attr(row, 'descTitle', c.desc, 'title', t.desc || null);
    text(row, 'project', c.project, e.project || '');
    text(row, 'phase', c.phase, t.phase || '');
    const pinned = isPinned(t);
    setOnce(row.last, 'pinned', pinned, (v) => { row.el.toggleAttribute('data-pinned', v); row.ack.hidden = !v; });
    attr(row, 'ackLabel', row.ack, 'aria-label', pinned ? `Acknowledge the failure of task ${id}` : null);
    const determinate = hasTotal(t);
    const frac = determinate ? Math.min(1, Math.max(0, (t.n || 0) / t.total)) : 0;
    setOnce(row.last, 'det', determinate, (v) => { row.bar.classList.toggle('indeterminate', !v); if (!v) row.fill.style.transform = ''; });
    if (determinate) setOnce(row.last, 'frac', frac, (v) => { row.fill.style.transform = `scaleX(${v})`; });
    else row.last.frac = undefined;
    text(row, 'pct', row.pct, determinate ? percent(frac, 1) : '');
    const note = t.error || t.message || '';
    text(row, 'note', c.message, note);
    attr(row, 'noteTitle', c.message, 'title', note || null);
    setOnce(row.last, 'isErr', Boolean(t.error), (v) => c.message.classList.toggle('error', v));
    drawTimes(row, e, now);
  }

  // The parts that move with the clock alone: status (stalled), ETA, rate, updated.
  function drawTimes(row, e, now) {
    const t = e.task;
    const c = row.cells;
    const st = statusOf(t, now);
    setOnce(row.last, 'kind', st.kind, (v) => { row.el.dataset.kind = v; });
    text(row, 'status', row.chip, st.word);
    const parts = tqdmParts(t, now);
    text(row, 'count', c.count, parts.counts);
    attr(row, 'countTitle', c.count, 'title', `${fmtNum(t.n)}${hasTotal(t) ? ` of ${fmtNum(t.total)}` : ''} ${t.unit || 'it'}`);
    text(row, 'eta', c.eta, parts.eta);
    text(row, 'rate', row.rate, parts.rate);
    const when = t.updated_at || t.created_at;
    text(row, 'updated', c.updated, when ? fmtAgo(now - when) : '');
    attr(row, 'updatedTitle', c.updated, 'title', when ? new Date(when * 1000).toLocaleString() : null);
    const version = history.version(e.id);
    if (row.spark !== version) {
      row.spark = version;
      row.path.setAttribute('d', sparkPath(history.values(e.id), SPARK_W, SPARK_H));
    }
  }

  // Puts the wanted rows in order, moving only those out of place; a focused button inside a
  // moved row gets its focus back.
  function placeInOrder(wanted) {
    const focused = document.activeElement;
    let node = rowsEl.firstChild;
    for (const el of wanted) {
      if (node === el) node = node.nextSibling;
      else rowsEl.insertBefore(el, node);
    }
    while (node) { const next = node.nextSibling; node.remove(); node = next; }
    if (focused && focused !== document.activeElement && focused.isConnected) focused.focus({ preventScroll: true });
  }

  function render(now) {
    stats.renders++;
    const n = model.length;
    setOnce(last, 'height', n * rowH, (v) => { spacer.style.height = `${v}px`; });
    setOnce(last, 'rowcount', n + 1, (v) => tableEl.setAttribute('aria-rowcount', String(v)));
    const countText = `${plural(n, 'row')}${model.pinned.length ? ` · ${fmtCount(model.pinned.length)} failed pinned on top` : ''}`;
    setOnce(last, 'count', countText, (v) => { countEl.textContent = v; });
    setOnce(last, 'outOfDate', model.outOfDate, (v) => { resortBtn.hidden = !v; });
    let emptyText = '';
    if (n === 0) emptyText = (store.size === 0 && notice?.empty) || (store.size === 0 ? 'No tasks yet.' : 'No task matches the search and the status chip.');
    setOnce(last, 'empty', emptyText, (v) => { emptyEl.textContent = v; emptyEl.hidden = !v; });

    // The rows in view: from where the body is on the page and the window's height.
    const top = body.getBoundingClientRect().top;
    const first = Math.max(0, Math.min(n, Math.floor(-top / rowH) - OVERSCAN_ROWS));
    const end = Math.max(first, Math.min(n, Math.ceil((window.innerHeight - top) / rowH) + OVERSCAN_ROWS));
    const wanted = [];
    const keep = new Set();
    for (let i = first; i < end; i++) {
      const e = model.at(i);
      let row = rows.get(e.id);
      if (!row) { row = takeRow(e.id); rows.set(e.id, row); }
      if (row.task !== e.task) drawRow(row, e, now);
      else if (row.spark !== history.version(e.id)) drawTimes(row, e, now);
      setOnce(row.last, 'index', i, (v) => row.el.setAttribute('aria-rowindex', String(v + 2)));
      keep.add(e.id);
      wanted.push(row.el);
    }
    for (const [id, row] of rows) if (!keep.has(id)) { releaseRow(row); rows.delete(id); }
    setOnce(last, 'offset', first * rowH, (v) => { rowsEl.style.transform = `translateY(${v}px)`; });
    placeInOrder(wanted);
    const el = focusId === null ? null : rows.get(focusId)?.el || null;
    if (el !== ringEl) {
      if (ringEl) ringEl.removeAttribute('aria-current');
      if (el) el.setAttribute('aria-current', 'true');
      ringEl = el;
    }
    if (focusPending && el) { focusPending = false; el.focus({ preventScroll: true }); }
  }

  // ---- keys: j/k next/previous row (keys.js leaves them to the table while it is shown),
  // Escape clears the row focus. The window scrolls just enough to show the row.
  function moveFocus(step) {
    const n = model.length;
    if (!n) return;
    const at = focusId === null ? -1 : model.rows().findIndex((e) => e.id === focusId);
    const index = at < 0 ? 0 : Math.max(0, Math.min(n - 1, at + step));
    focusId = model.at(index).id;
    focusPending = true;
    const rowTop = body.getBoundingClientRect().top + index * rowH;
    const top = tableEl.querySelector('.tt-sticky').getBoundingClientRect().bottom;
    if (rowTop < top) window.scrollBy(0, rowTop - top);
    else if (rowTop + rowH > window.innerHeight) window.scrollBy(0, rowTop + rowH - window.innerHeight);
    schedule();
  }
  document.addEventListener('keydown', (ev) => {
    if (!shown || ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey || ev.isComposing) return;
    if (isTyping(ev.target) || document.querySelector('dialog[open]')) return;
    if (ev.key === 'j' || ev.key === 'k') moveFocus(ev.key === 'j' ? 1 : -1);
    else if (ev.key === 'Escape' && focusId !== null) {
      focusId = null;
      if (ringEl && document.activeElement === ringEl) ringEl.blur();
      schedule();
    } else return;
    ev.preventDefault();
  });

  // One value of each task's rate per update applied, for every task in the store's views
  // (all of them without a search), whichever view is shown.
  // ---- what arrives: rates recorded, and whether the rows may have changed ----
  // The store's incoming changes are observed as they are queued (store.observe): each task's
  // rate is recorded once per update received, and a
  // frame whose updates changed only values (no task new or removed, none pinned or unpinned)
  // needs no pass over every row while every task is a row (model.touched, not model.sync).
  let structural = true;           // since the last frame: a task came, went, was pinned or unpinned
  let moved = true;                // ...or may have changed bucket (what a status chip shows)
  const touchedIds = new Set();    // since the last frame: tasks whose values alone changed
  store.observe({
    delta(msg) {
      if (msg.removed && msg.removed.length) {
        structural = true;
        for (const id of msg.removed) history.drop(id);
      }
      const ups = msg.upserts || {};
      for (const id in ups) {
        const t = ups[id];
        if (!t || typeof t !== 'object') continue;
        history.record(id, t);
        const e = store.get(id);
        if (!e || isPinned(e.task) !== isPinned(t)) { structural = true; continue; }
        // Another status class, or a stalled task (an event makes it active again).
        if (bucketOf(e.task.status) !== bucketOf(t.status) || e.bucket === 'stalled') moved = true;
        if (!structural) touchedIds.add(id);
      }
    },
    snapshot(tasks) {
      structural = true;
      if (!tasks || typeof tasks !== 'object') return;
      for (const id in tasks) if (tasks[id] && typeof tasks[id] === 'object') history.record(id, tasks[id]);
      history.prune((id) => Object.hasOwn(tasks, id));
    },
    removal(ids) {
      structural = true;
      for (const id of ids) history.drop(id);
    },
  });

  const shownViews = () => BUCKETS.filter((def) => store.shows(def.key)).map((def) => store.view(def.key));

  const api2 = {
    get shown() { return shown; },
    // Once per frame, after the store's views are up to date.
    update(now) {
      let viewsChanged = false;
      for (const def of BUCKETS) {
        const v = store.view(def.key);
        if (v !== lastViews[def.key]) { lastViews[def.key] = v; viewsChanged = true; }
      }
      if (!shown) { touchedIds.clear(); return; }
      const t1 = performance.now();
      useStalledRule(store.stalledRule);
      // The same rows (no task new, gone, pinned or unpinned; with a status chip, none moved
      // between buckets): only the changed values are checked against their neighbours.
      // Otherwise (or with a search, which any change may enter or leave) the rows are taken
      // again from the views.
      const sameRows = !needSync && !structural && (!moved || store.filter === 'all') &&
        store.filter === lastFilter && store.query === lastQuery && !store.query && !model.pinnedChanged();
      if (sameRows) {
        if (touchedIds.size) {
          const entries = [];
          for (const id of touchedIds) { const e = store.get(id); if (e) entries.push(e); }
          model.touched(entries, now);
        }
      } else if (needSync || structural || viewsChanged || store.filter !== lastFilter || store.query !== lastQuery || model.pinnedChanged()) {
        const wasEmpty = model.length === 0;
        model.sync(shownViews(), now);
        if (needSync && !wasEmpty) model.sort(now);   // shown again: a fresh order
        needSync = false;
        lastFilter = store.filter;
        lastQuery = store.query;
        stats.syncs++;
      }
      structural = false;
      moved = false;
      touchedIds.clear();
      const t2 = performance.now();
      stats.syncMs += t2 - t1;
      render(now);
      stats.renderMs += performance.now() - t2;
    },
    // Once a second: relative times and ETAs of the rows on screen.
    tick(now) {
      // Removals are dropped as they arrive; this catches what they could not (every 10 s).
      if (++ticks % 10 === 0) history.prune((id) => store.has(id));
      // Running tasks become stalled (or stop being) with the clock alone, once a second.
      moved = true;
      if (!shown) return;
      for (const row of rows.values()) {
        const e = store.get(row.id);
        if (e && e.task === row.task) drawTimes(row, e, now);
      }
    },
    // What the connection says (connection_state.js boardNotice).
    setNotice(next) {
      notice = next;
      section.toggleAttribute('data-stale-view', Boolean(next?.stale));
      last.empty = undefined;
    },
    // For the browser test and the bench (window.progressista.table).
    probe: {
      ids: () => model.rows().map((e) => e.id),
      domIds: () => [...rowsEl.children].map((el) => el.dataset.id),
      get outOfDate() { return model.outOfDate; },
      get sort() { return { column: model.sortColumn, dir: model.sortDir }; },
      sortBy: (col) => {
        const t0 = performance.now();
        model.sortBy(col, nowSeconds());
        stats.sorts++;
        stats.sortMs = performance.now() - t0;
        drawHeader();
        schedule();
      },
      resort: () => resort(),
      csv: () => toCsv(exportTasks(), nowSeconds()),
      json: () => toJson(exportTasks(), nowSeconds()),
      rates: (id) => history.values(id),
      historySize: () => history.size,
      stats,
    },
  };
  applyMode(getViewMode());
  return api2;
}
