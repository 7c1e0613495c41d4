// Progressista dashboard: one live board of every task the server holds.
//
// Data flow: WebSocket (delta protocol) or GET /tasks polling -> pending changes (coalesced per
// task, so memory stays bounded while the tab is hidden) -> applied once per animation frame ->
// only the buckets and cards that changed are touched. Each bucket is a virtualized list: only
// the cards in view exist in the DOM, so a board of 10,000 tasks keeps a few dozen cards.
'use strict';

(() => {
  const BUCKETS = [
    { key: 'active', title: 'Active', empty: 'No active tasks.' },
    { key: 'stale', title: 'Needs attention', empty: 'Nothing needs attention.' },
    { key: 'error', title: 'Failed', empty: 'No failed tasks.' },
    { key: 'recovered', title: 'Recovered', empty: 'No recovered tasks.' },
    { key: 'close', title: 'Completed', empty: 'No completed tasks.' },
  ];
  const BACKOFF_BASE_MS = 500;     // first reconnect delay; doubles per failed attempt
  const BACKOFF_MAX_MS = 30000;    // issue 5: capped at 30 s
  const POLL_MS = 2000;            // GET /tasks period while the socket is down
  const FETCH_TIMEOUT_MS = 10000;
  const MAX_ALERTS = 5;
  const PROJECT_ROWS = 100;        // project summary rows shown at most
  const NO_PROJECT = '(no project)';

  const STATUS_LABEL = {
    start: 'started', update: 'running', close: 'done', error: 'failed',
    stale: 'stale', recovered: 'recovered',
  };

  const $ = (id) => document.getElementById(id);
  const numberFormat = new Intl.NumberFormat('en');
  const fmtCount = (x) => numberFormat.format(x);

  // ---- where the server is, and the token --------------------------------------------------

  const params = new URLSearchParams(location.search);
  let token = params.get('token') || '';
  // The dashboard lives at <base>static/index.html; the API at <base>tasks, <base>ws. A reverse
  // proxy that mounts Progressista under a prefix therefore needs no configuration here.
  const staticAt = location.pathname.lastIndexOf('/static/');
  const BASE = staticAt >= 0 ? location.pathname.slice(0, staticAt + 1) : '/';

  function wsUrl() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = new URLSearchParams({ protocol: 'delta' });
    if (token) q.set('token', token);
    return `${proto}//${location.host}${BASE}ws?${q}`;
  }

  class ApiError extends Error {
    constructor(message, status) { super(message); this.status = status; }
  }

  // One REST call. The token travels as a bearer header (kept out of access logs); failures
  // become an ApiError whose message is fit to show to a person.
  async function api(method, path) {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
    let res;
    try {
      res = await fetch(BASE + path, { method, headers, signal: ctl.signal, cache: 'no-store' });
    } catch (err) {
      throw new ApiError(ctl.signal.aborted
        ? `the server did not answer within ${FETCH_TIMEOUT_MS / 1000} s`
        : 'the server could not be reached', 0);
    } finally {
      clearTimeout(timer);
    }
    let body = null;
    try { body = await res.json(); } catch (err) { body = null; }
    if (!res.ok) {
      let detail = body && body.detail !== undefined ? body.detail : res.statusText;
      if (typeof detail !== 'string') detail = JSON.stringify(detail);
      const hint = res.status === 401 ? ' (check the ?token= in the page address)' : '';
      throw new ApiError(`HTTP ${res.status} ${detail}${hint}`, res.status);
    }
    return body;
  }

  // ---- alerts --------------------------------------------------------------------------------

  const alertsEl = $('alerts');

  function showAlert(text, kind = 'error') {
    const el = document.createElement('div');
    el.className = `alert ${kind}`;
    const span = document.createElement('span');
    span.className = 'alert-text';
    span.textContent = text;
    const close = document.createElement('button');
    close.type = 'button';
    close.textContent = '×';
    close.setAttribute('aria-label', 'Dismiss');
    close.addEventListener('click', () => el.remove());
    el.append(span, close);
    alertsEl.prepend(el);
    while (alertsEl.children.length > MAX_ALERTS) alertsEl.lastElementChild.remove();
    // Successes fade on their own; failures stay until the person dismisses them.
    if (kind !== 'error') setTimeout(() => el.remove(), 5000);
  }

  // ---- the task state ------------------------------------------------------------------------

  // id -> { id, t (task as served), bucket, u (last activity, s), proj, hay (search text) }
  const tasks = new Map();
  const buckets = new Map();         // key -> bucket view (see makeBucket)
  const changed = new Set();         // ids whose card must be redrawn this frame

  // Changes received but not yet applied; a later change of the same task replaces the earlier.
  let pendingReset = null;
  const pendingUpserts = new Map();
  const pendingRemoved = new Set();

  let query = '';
  let grouped = false;
  let allDirty = true;               // counts/summary/projects need recomputing

  function bucketOf(status) {
    switch (status) {
      case 'stale': return 'stale';
      case 'error': return 'error';
      case 'recovered': return 'recovered';
      case 'close': return 'close';
      default: return 'active';
    }
  }

  function searchText(t) {
    return `${t.task_id}\n${t.desc || ''}\n${t.project || ''}`.toLowerCase();
  }

  function sameTask(a, b) {
    return a.updated_at === b.updated_at && a.status === b.status && a.n === b.n &&
      a.total === b.total && a.stale_at === b.stale_at && a.done_at === b.done_at &&
      a.recovered === b.recovered && a.message === b.message && a.error === b.error;
  }

  function upsert(id, t) {
    if (!t || typeof t !== 'object') return;
    const bucket = bucketOf(t.status);
    let e = tasks.get(id);
    if (e) {
      if (sameTask(e.t, t)) { e.t = t; return; }
      if (e.bucket !== bucket) {
        buckets.get(e.bucket).ids.delete(id);
        buckets.get(e.bucket).dirty = true;
        buckets.get(bucket).ids.add(id);
        e.bucket = bucket;
      }
      if (e.t.desc !== t.desc || e.t.project !== t.project) e.hay = searchText(t);
      e.t = t;
    } else {
      e = { id, t, bucket, hay: searchText(t) };
      tasks.set(id, e);
      buckets.get(bucket).ids.add(id);
    }
    e.u = t.updated_at || t.created_at || 0;
    e.proj = t.project || '';
    buckets.get(bucket).touched.add(id);
    buckets.get(bucket).dirty = true;
    changed.add(id);
    allDirty = true;
  }

  function remove(id) {
    const e = tasks.get(id);
    if (!e) return;
    tasks.delete(id);
    const b = buckets.get(e.bucket);
    b.ids.delete(id);
    b.dirty = true;
    changed.delete(id);
    allDirty = true;
  }

  function queueSnapshot(taskObj) {
    pendingReset = taskObj && typeof taskObj === 'object' ? taskObj : {};
    pendingUpserts.clear();
    pendingRemoved.clear();
    schedule();
  }

  // Removals first: an id in both lists was removed and created again within the tick, and the
  // upsert is the table's state at the end of it.
  function queueDelta(msg) {
    for (const id of msg.removed || []) {
      pendingUpserts.delete(id);
      pendingRemoved.add(id);
    }
    const ups = msg.upserts || {};
    for (const id in ups) {
      pendingRemoved.delete(id);
      pendingUpserts.set(id, ups[id]);
    }
    schedule();
  }

  function removeLocally(ids) {
    for (const id of ids) {
      pendingUpserts.delete(id);
      pendingRemoved.add(id);
    }
    schedule();
  }

  function applyPending() {
    if (pendingReset) {
      const next = pendingReset;
      pendingReset = null;
      for (const id of [...tasks.keys()]) if (!Object.prototype.hasOwnProperty.call(next, id)) remove(id);
      for (const id in next) upsert(id, next[id]);
    }
    for (const [id, t] of pendingUpserts) upsert(id, t);
    pendingUpserts.clear();
    for (const id of pendingRemoved) remove(id);
    pendingRemoved.clear();
  }

  // ---- formatting ----------------------------------------------------------------------------

  const pad2 = (x) => (x < 10 ? '0' : '') + x;

  // tqdm's clock: MM:SS, or H:MM:SS past an hour.
  function fmtClock(s) {
    if (!Number.isFinite(s) || s < 0) return '?';
    s = Math.round(s);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = s % 60;
    return h ? `${h}:${pad2(m)}:${pad2(sec)}` : `${pad2(m)}:${pad2(sec)}`;
  }

  function fmtNum(x) {
    if (typeof x !== 'number' || !Number.isFinite(x)) return '0';
    if (Number.isInteger(x)) return String(x);
    return String(Math.round(x * 100) / 100);
  }

  // tqdm shows "3.41 it/s", and "2.50 s/it" once a unit takes longer than a second.
  function fmtRate(rate, unit) {
    if (typeof rate !== 'number' || !(rate > 0)) return `? ${unit}/s`;
    if (rate < 1) return `${(1 / rate).toFixed(2)} s/${unit}`;
    return `${rate.toFixed(2)} ${unit}/s`;
  }

  function fmtAgo(s) {
    if (!Number.isFinite(s)) return '';
    if (s < 1) return 'just now';
    if (s < 60) return `${Math.floor(s)} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
  }

  const isLive = (status) => status === 'start' || status === 'update' || status === 'recovered';
  const hasTotal = (t) => typeof t.total === 'number' && t.total > 0;

  // `42/100 [00:12<00:17, 3.41 it/s]` with a total, `42 it [00:12, 3.41 it/s]` without.
  function tqdmLine(t, now) {
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

  function whenLine(t, now) {
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

  const nowSeconds = () => Date.now() / 1000;

  // ---- cards ---------------------------------------------------------------------------------

  const cardTemplate = $('card-template').content.firstElementChild;
  const groupTemplate = $('group-template').content.firstElementChild;
  const bucketTemplate = $('bucket-template').content.firstElementChild;

  // Cards scrolled or sorted out of view are kept for reuse: sorted by activity at 1,000
  // changes/s, about as many cards enter the view as leave it in every frame.
  const cardPool = [];
  const CARD_POOL_MAX = 200;

  function makeCard(id) {
    const el = cardTemplate.cloneNode(true);
    el.dataset.id = id;
    const q = (sel) => el.querySelector(sel);
    return {
      el, id,
      desc: q('.desc'), tid: q('.tid'), badge: q('.badge'), discard: q('.discard'),
      metaBtn: q('.meta-btn'), project: q('.project'), phase: q('.phase'), bar: q('.bar'),
      fill: q('.fill'), tqdm: q('.tqdm'), pct: q('.pct'), when: q('.when'), note: q('.note'),
      last: Object.create(null),   // last values written, so unchanged ones cost nothing
    };
  }

  function takeCard(id) {
    const card = cardPool.pop();
    if (!card) return makeCard(id);
    card.id = id;
    card.el.dataset.id = id;
    card.last = Object.create(null);
    return card;
  }

  function releaseCard(card) {
    card.el.remove();
    if (cardPool.length < CARD_POOL_MAX) cardPool.push(card);
  }

  function setText(card, key, node, value) {
    if (card.last[key] !== value) { card.last[key] = value; node.textContent = value; }
  }

  function setAttr(card, key, node, name, value) {
    if (card.last[key] === value) return;
    card.last[key] = value;
    if (value === null) node.removeAttribute(name); else node.setAttribute(name, value);
  }

  function drawCard(card, e, now) {
    const t = e.t;
    const status = t.status || 'update';
    if (card.last.status !== status) { card.last.status = status; card.el.dataset.status = status; }
    const title = t.desc || t.task_id;
    setText(card, 'desc', card.desc, title);
    setAttr(card, 'title', card.desc, 'title', title);
    setText(card, 'tid', card.tid, t.task_id);
    setText(card, 'badge', card.badge, STATUS_LABEL[status] || status);
    setAttr(card, 'discardLabel', card.discard, 'aria-label', `Discard task ${t.task_id}`);
    setText(card, 'project', card.project, t.project || '');
    setText(card, 'phase', card.phase, t.phase || '');

    const determinate = hasTotal(t);
    const frac = determinate ? Math.min(1, Math.max(0, (t.n || 0) / t.total)) : 0;
    if (card.last.det !== determinate) {
      card.last.det = determinate;
      card.bar.classList.toggle('indeterminate', !determinate);
      card.fill.style.transform = '';
      card.last.frac = undefined;
    }
    if (determinate && card.last.frac !== frac) {
      card.last.frac = frac;
      card.fill.style.transform = `scaleX(${frac})`;
    }
    setAttr(card, 'label', card.bar, 'aria-label', title);
    setAttr(card, 'vmax', card.bar, 'aria-valuemax', determinate ? String(t.total) : null);
    setAttr(card, 'vnow', card.bar, 'aria-valuenow', determinate ? String(t.n || 0) : null);
    setAttr(card, 'vtext', card.bar, 'aria-valuetext',
      `${fmtNum(t.n)}${determinate ? ` of ${fmtNum(t.total)}` : ''} ${t.unit || 'it'}`);
    setText(card, 'pct', card.pct, determinate ? `${Math.floor(frac * 100)}%` : '');

    const note = t.error || t.message || '';
    setText(card, 'note', card.note, note);
    setAttr(card, 'noteTitle', card.note, 'title', note || null);
    const isErr = Boolean(t.error);
    if (card.last.isErr !== isErr) { card.last.isErr = isErr; card.note.classList.toggle('error', isErr); }

    const hasMeta = Boolean(t.meta && typeof t.meta === 'object' && Object.keys(t.meta).length > 0);
    if (card.last.hasMeta !== hasMeta) { card.last.hasMeta = hasMeta; card.metaBtn.hidden = !hasMeta; }
    setAttr(card, 'metaLabel', card.metaBtn, 'aria-label', `Show the meta of task ${t.task_id}`);

    drawTimes(card, t, now);
  }

  // The parts of a card that move with the clock alone.
  function drawTimes(card, t, now) {
    setText(card, 'tqdm', card.tqdm, tqdmLine(t, now));
    setText(card, 'when', card.when, whenLine(t, now));
  }

  // ---- meta, on demand -----------------------------------------------------------------------

  const metaDialog = $('meta-dialog');
  const metaTitle = $('meta-title');
  const metaPre = $('meta-pre');
  let metaTaskId = null;

  function drawMeta() {
    const e = tasks.get(metaTaskId);
    metaTitle.textContent = `meta of ${metaTaskId}`;
    metaPre.textContent = e ? JSON.stringify(e.t.meta || {}, null, 2) : '(this task has been removed)';
  }

  function openMeta(id) {
    metaTaskId = id;
    drawMeta();
    if (!metaDialog.open) metaDialog.showModal();
  }

  metaDialog.addEventListener('close', () => { metaTaskId = null; });

  // ---- buckets: virtualized lists --------------------------------------------------------------
  //
  // A bucket's cards are laid out in rows of `cols` cards (group headers take a row of their
  // own). All rows have known heights, so the rows in view follow from the scroll position
  // alone: only those (plus an overscan) are in the DOM, whatever the bucket holds.

  const board = $('board');
  const OVERSCAN_PX = 400;
  const geometry = { cardH: 166, cardMin: 320, gap: 10, groupH: 30 };

  // Reads the sizes from the style sheet; true when they changed (a media query switched).
  function readGeometry() {
    const css = getComputedStyle(document.documentElement);
    const px = (name, fallback) => parseFloat(css.getPropertyValue(name)) || fallback;
    const next = {
      cardH: px('--card-h', 166), cardMin: px('--card-min', 320),
      gap: px('--gap', 10), groupH: px('--group-h', 30),
    };
    const changedSizes = Object.keys(next).some((k) => next[k] !== geometry[k]);
    Object.assign(geometry, next);
    return changedSizes;
  }
  readGeometry();

  function makeBucket(def) {
    const el = bucketTemplate.cloneNode(true);
    el.dataset.bucket = def.key;
    el.setAttribute('aria-label', def.title);
    el.querySelector('.bucket-title').textContent = def.title;
    const b = {
      key: def.key, def, el,
      toggle: el.querySelector('.bucket-toggle'),
      count: el.querySelector('.bucket-count'),
      body: el.querySelector('.bucket-body'),
      scroller: el.querySelector('.scroller'),
      spacer: el.querySelector('.spacer'),
      cardsEl: el.querySelector('.cards'),
      emptyEl: el.querySelector('.empty'),
      ids: new Set(),
      view: [],                 // matching entries, sorted
      touched: new Set(),       // ids added or changed since the view was sorted
      full: true,               // the view must be rebuilt from scratch (search, grouping)
      groups: new Map(),        // project -> { count, n, total } over the view (grouped only)
      rows: [],                 // { head: name } or { from, to } (indexes into view)
      rowTop: [],               // pixel offset of each row
      height: 0,                // of all rows
      cols: 1,
      width: 0,                 // scroller width and height, from a ResizeObserver
      viewH: window.innerHeight,
      scrollTop: 0,
      cards: new Map(),         // id -> card in the DOM
      heads: new Map(),         // project -> group header element
      last: Object.create(null),
      dirty: true,              // view must be recomputed
      moved: false,             // view unchanged, but the window onto it moved
      collapsed: false,
    };
    b.toggle.dataset.bucket = def.key;
    b.body.id = `bucket-${def.key}`;
    b.toggle.setAttribute('aria-controls', b.body.id);
    b.scroller.addEventListener('scroll', () => {
      b.scrollTop = b.scroller.scrollTop;
      b.moved = true;
      schedule();
    }, { passive: true });
    board.append(el);
    return b;
  }

  for (const def of BUCKETS) buckets.set(def.key, makeBucket(def));

  const resizeObserver = new ResizeObserver((entries) => {
    if (readGeometry()) for (const b of buckets.values()) b.dirty = true;
    for (const entry of entries) {
      const b = buckets.get(entry.target.closest('.bucket').dataset.bucket);
      b.width = entry.contentRect.width;
      b.viewH = entry.contentRect.height || window.innerHeight;
      const cols = Math.max(1, Math.floor((b.width + geometry.gap) / (geometry.cardMin + geometry.gap)));
      if (cols !== b.cols) { b.cols = cols; b.dirty = true; } else { b.moved = true; }
    }
    schedule();
  });
  for (const b of buckets.values()) resizeObserver.observe(b.scroller);

  const byActivity = (a, b) => b.u - a.u || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const byProject = (a, b) => {
    if (a.proj !== b.proj) {
      if (!a.proj) return 1;
      if (!b.proj) return -1;
      return a.proj < b.proj ? -1 : 1;
    }
    return byActivity(a, b);
  };

  // Keeps b.view sorted. Only the touched entries changed their sort keys, so the rest of the
  // previous view is still in order: drop the touched and the departed, sort the touched alone
  // and merge, O(n + k log k) instead of a full sort of the bucket every frame.
  function sortView(b) {
    const cmp = grouped ? byProject : byActivity;
    const matches = (e) => !query || e.hay.includes(query);
    if (b.full) {
      b.full = false;
      const view = [];
      for (const id of b.ids) {
        const e = tasks.get(id);
        if (matches(e)) view.push(e);
      }
      b.view = view.sort(cmp);
    } else {
      const touched = b.touched;
      const fresh = [];
      for (const id of touched) {
        const e = tasks.get(id);
        if (e && e.bucket === b.key && matches(e)) fresh.push(e);
      }
      fresh.sort(cmp);
      const old = b.view;
      const view = new Array(0);
      let j = 0;
      for (let i = 0; i < old.length; i++) {
        const e = old[i];
        if (touched.has(e.id) || e.bucket !== b.key || tasks.get(e.id) !== e) continue;
        while (j < fresh.length && cmp(fresh[j], e) < 0) view.push(fresh[j++]);
        view.push(e);
      }
      while (j < fresh.length) view.push(fresh[j++]);
      b.view = view;
    }
    b.touched.clear();
  }

  function computeView(b) {
    sortView(b);
    const view = b.view;

    // Rows and their offsets.
    const { cardH, gap, groupH } = geometry;
    const rows = [];
    const rowTop = [];
    let y = 0;
    const cols = b.cols;
    b.groups.clear();
    let i = 0;
    while (i < view.length) {
      let end = view.length;
      if (grouped) {
        const name = view[i].proj || NO_PROJECT;
        const g = { count: 0, n: 0, total: 0 };
        end = i;
        while (end < view.length && (view[end].proj || NO_PROJECT) === name) {
          const t = view[end].t;
          g.count++;
          if (hasTotal(t)) { g.total += t.total; g.n += Math.min(t.n || 0, t.total); }
          end++;
        }
        b.groups.set(name, g);
        rows.push({ head: name });
        rowTop.push(y);
        y += groupH + gap;
      }
      for (let from = i; from < end; from += cols) {
        rows.push({ from, to: Math.min(end, from + cols) });
        rowTop.push(y);
        y += cardH + gap;
      }
      i = end;
    }
    b.rows = rows;
    b.rowTop = rowTop;
    b.height = Math.max(0, y - gap);
  }

  function groupHead(b, name) {
    let el = b.heads.get(name);
    if (!el) {
      el = groupTemplate.cloneNode(true);
      el.querySelector('.group-name').textContent = name;
      b.heads.set(name, el);
    }
    const g = b.groups.get(name);
    const pct = g.total > 0 ? ` · ${Math.floor((g.n / g.total) * 100)}% of ${fmtCount(g.total)}` : '';
    const text = `${fmtCount(g.count)} task${g.count === 1 ? '' : 's'} here${pct}`;
    const stats = el.querySelector('.group-stats');
    if (stats.textContent !== text) stats.textContent = text;
    return el;
  }

  // First row whose bottom is below y (binary search over the row offsets).
  function rowAt(b, y) {
    let lo = 0;
    let hi = b.rowTop.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (b.rowTop[mid + 1] !== undefined && b.rowTop[mid + 1] <= y) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  function setStyle(b, key, node, prop, value) {
    if (b.last[key] !== value) { b.last[key] = value; node.style[prop] = value; }
  }

  function renderBucket(b, now) {
    const total = b.ids.size;
    const shown = b.view.length;
    const countText = query ? `${fmtCount(shown)} of ${fmtCount(total)}` : fmtCount(total);
    if (b.count.textContent !== countText) b.count.textContent = countText;
    const emptyText = shown === 0 ? (total === 0 ? b.def.empty : 'No task matches the search.') : '';
    if (b.emptyEl.textContent !== emptyText) b.emptyEl.textContent = emptyText;
    b.emptyEl.hidden = shown !== 0;
    if ((total === 0) !== ('empty' in b.el.dataset)) b.el.toggleAttribute('data-empty', total === 0);

    setStyle(b, 'height', b.spacer, 'height', `${b.height}px`);
    if (b.last.cols !== b.cols) { b.last.cols = b.cols; b.cardsEl.style.setProperty('--cols', String(b.cols)); }

    const wanted = [];
    const keep = new Set();
    let first = 0;
    if (!b.collapsed && b.rows.length) {
      const top = Math.max(0, b.scrollTop - OVERSCAN_PX);
      const bottom = b.scrollTop + b.viewH + OVERSCAN_PX;
      first = rowAt(b, top);
      for (let r = first; r < b.rows.length && b.rowTop[r] < bottom; r++) {
        const row = b.rows[r];
        if (row.head !== undefined) { wanted.push(groupHead(b, row.head)); continue; }
        for (let i = row.from; i < row.to; i++) {
          const e = b.view[i];
          let card = b.cards.get(e.id);
          if (!card) {
            card = takeCard(e.id);
            b.cards.set(e.id, card);
            drawCard(card, e, now);
          } else if (changed.has(e.id)) {
            drawCard(card, e, now);
          }
          keep.add(e.id);
          wanted.push(card.el);
        }
      }
    }
    for (const [id, card] of b.cards) {
      if (!keep.has(id)) { releaseCard(card); b.cards.delete(id); }
    }
    if (!grouped && b.heads.size) { for (const el of b.heads.values()) el.remove(); b.heads.clear(); }
    setStyle(b, 'offset', b.cardsEl, 'transform', `translateY(${b.rows.length ? b.rowTop[first] : 0}px)`);

    // Put the wanted nodes in order, moving only those out of place. A focused control inside
    // a moved card would lose focus, so it is given back.
    const focused = document.activeElement;
    const parent = b.cardsEl;
    let node = parent.firstChild;
    for (const el of wanted) {
      if (node === el) node = node.nextSibling;
      else parent.insertBefore(el, node);
    }
    while (node) { const next = node.nextSibling; node.remove(); node = next; }
    if (focused && focused !== document.activeElement && focused.isConnected) {
      focused.focus({ preventScroll: true });
    }
  }

  // ---- summary, projects and action buttons ----------------------------------------------------

  const summaryEl = $('summary');
  const projectsEl = $('projects');
  const projectsBody = $('projects-body');
  const projectsMore = $('projects-more');
  const clearCloseBtn = $('clear-close');
  const clearStaleBtn = $('clear-stale');
  const projectRows = new Map();

  function renderSummary() {
    const parts = [`${fmtCount(tasks.size)} task${tasks.size === 1 ? '' : 's'}`];
    for (const def of BUCKETS) parts.push(`${fmtCount(buckets.get(def.key).ids.size)} ${def.title.toLowerCase()}`);
    if (query) {
      let matches = 0;
      for (const b of buckets.values()) matches += b.view.length;
      parts.push(`${fmtCount(matches)} match “${query}”`);
    }
    const text = parts.join(' · ');
    if (summaryEl.textContent !== text) summaryEl.textContent = text;
    clearCloseBtn.disabled = buckets.get('close').ids.size === 0;
    clearStaleBtn.disabled = buckets.get('stale').ids.size === 0;
  }

  // Per-project totals over every task matching the search (not just the visible pages).
  function renderProjects() {
    projectsEl.hidden = !grouped;
    if (!grouped) return;
    const stats = new Map();
    for (const b of buckets.values()) {
      for (const e of b.view) {
        const name = e.proj || NO_PROJECT;
        let s = stats.get(name);
        if (!s) {
          s = { tasks: 0, active: 0, stale: 0, error: 0, recovered: 0, close: 0, n: 0, total: 0 };
          stats.set(name, s);
        }
        s.tasks++;
        s[b.key]++;
        if (hasTotal(e.t)) { s.total += e.t.total; s.n += Math.min(e.t.n || 0, e.t.total); }
      }
    }
    const names = [...stats.keys()].sort((a, b) => (a === NO_PROJECT) - (b === NO_PROJECT) || (a < b ? -1 : a > b ? 1 : 0));
    const shown = names.slice(0, PROJECT_ROWS);
    const keep = new Set(shown);
    for (const [name, row] of projectRows) if (!keep.has(name)) { row.tr.remove(); projectRows.delete(name); }
    let prev = null;
    for (const name of shown) {
      const s = stats.get(name);
      let row = projectRows.get(name);
      if (!row) {
        const tr = document.createElement('tr');
        const cells = [];
        for (let i = 0; i < 8; i++) cells.push(tr.appendChild(document.createElement(i ? 'td' : 'th')));
        cells[0].scope = 'row';
        cells[0].textContent = name;
        row = { tr, cells, last: [] };
        projectRows.set(name, row);
      }
      const values = [name, fmtCount(s.tasks), fmtCount(s.active), fmtCount(s.stale), fmtCount(s.error),
        fmtCount(s.recovered), fmtCount(s.close), s.total > 0 ? `${Math.floor((s.n / s.total) * 100)}%` : '—'];
      for (let i = 1; i < 8; i++) {
        if (row.last[i] !== values[i]) { row.last[i] = values[i]; row.cells[i].textContent = values[i]; }
      }
      const expected = prev ? prev.nextSibling : projectsBody.firstChild;
      if (expected !== row.tr) projectsBody.insertBefore(row.tr, expected);
      prev = row.tr;
    }
    projectsMore.hidden = names.length <= PROJECT_ROWS;
    if (names.length > PROJECT_ROWS) {
      projectsMore.textContent = `and ${fmtCount(names.length - PROJECT_ROWS)} more projects (narrow them with the search box)`;
    }
  }

  // ---- the frame loop --------------------------------------------------------------------------

  // Render statistics, read by the browser test (window.progressista.stats).
  const stats = { frames: 0, totalMs: 0, maxMs: 0, lastMs: 0 };
  let frameRequested = false;

  function schedule() {
    if (!frameRequested) { frameRequested = true; requestAnimationFrame(frame); }
  }

  function frame() {
    frameRequested = false;
    const t0 = performance.now();
    applyPending();
    const now = nowSeconds();
    let anyDirty = false;
    for (const b of buckets.values()) {
      if (b.dirty) {
        anyDirty = true;
        computeView(b);
      } else if (!b.moved) {
        continue;
      }
      b.dirty = false;
      b.moved = false;
      renderBucket(b, now);
    }
    if (metaTaskId !== null && (changed.has(metaTaskId) || !tasks.has(metaTaskId))) drawMeta();
    if (anyDirty || allDirty) {
      allDirty = false;
      renderSummary();
      renderProjects();
    }
    changed.clear();
    const ms = performance.now() - t0;
    stats.frames++;
    stats.totalMs += ms;
    stats.lastMs = ms;
    if (ms > stats.maxMs) stats.maxMs = ms;
  }

  function markAllDirty() {
    for (const b of buckets.values()) { b.dirty = true; b.full = true; }
    allDirty = true;
    schedule();
  }

  // Once a second: relative times, elapsed clocks and ETAs of the cards on screen.
  function tick() {
    const now = nowSeconds();
    for (const b of buckets.values()) {
      for (const card of b.cards.values()) {
        const e = tasks.get(card.id);
        if (e) drawTimes(card, e.t, now);
      }
    }
    renderConn();
  }

  // ---- connection ----------------------------------------------------------------------------

  const connEl = $('conn');
  const connText = $('conn-text');
  const connRetry = $('conn-retry');
  const tokenForm = $('token-form');
  const tokenInput = $('token-input');

  let ws = null;
  let live = false;
  let everLive = false;
  let attempt = 0;              // failed connection attempts since the last good one
  let retryTimer = 0;
  let retryAt = 0;
  let pollTimer = 0;
  let polling = false;
  let pollRound = 0;            // a poll answering after its round ended is dropped
  let pollState = 'pending';    // since the socket went down: 'pending' | 'ok' | 'failing'
  let lastPollOk = 0;
  let authProblem = false;

  function setAuthProblem(on) {
    authProblem = on;
    tokenForm.hidden = !on;
    renderConn();
  }

  function renderConn() {
    let mode;
    let text;
    const retryIn = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    let retry = ws ? 'Reconnecting now.' : `Reconnecting in ${retryIn} s.`;
    if (live) {
      mode = 'live';
      text = 'Live: updates stream over WebSocket';
    } else if (authProblem) {
      mode = 'auth';
      text = token
        ? 'Access denied: the server rejected the API token given in the page address (?token=). Enter the right token.'
        : 'Access denied: this server needs an API token. Add ?token=… to the page address or enter it here.';
    } else if (!everLive && !polling) {
      mode = 'connecting';
      text = 'Connecting…';
    } else if (pollState === 'failing') {
      mode = 'offline';
      text = `Disconnected: server unreachable. Polling GET /tasks every ${POLL_MS / 1000} s.`;
    } else {
      mode = 'polling';
      text = `Disconnected: polling GET /tasks every ${POLL_MS / 1000} s.`;
      if (pollState === 'ok') retry = `Last answer ${new Date(lastPollOk).toLocaleTimeString()}. ${retry}`;
    }
    if (mode === 'live' || mode === 'connecting') retry = '';
    if (connEl.dataset.mode !== mode) connEl.dataset.mode = mode;
    if (connText.textContent !== text) connText.textContent = text;
    if (connRetry.textContent !== retry) connRetry.textContent = retry;
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = 0;
    if (ws) return;
    let sock;
    try {
      sock = new WebSocket(wsUrl());
    } catch (err) {
      showAlert(`Cannot open the WebSocket: ${err.message}`);
      scheduleReconnect();
      return;
    }
    ws = sock;
    let sockSeq = 0;  // seq of the newest state this socket delivered
    renderConn();
    sock.onmessage = (ev) => {
      if (ws !== sock) return;
      let msg;
      try { msg = JSON.parse(ev.data); } catch (err) { return; }
      if (msg.type === 'delta') {
        // A delta at or below the state already held repeats it: skip it.
        if (typeof msg.seq === 'number' && msg.seq <= sockSeq) return;
        if (typeof msg.seq === 'number') sockSeq = msg.seq;
        if (live) queueDelta(msg);
      } else if (msg.type === 'snapshot' || (msg.type === undefined && msg.tasks)) {
        sockSeq = typeof msg.seq === 'number' ? msg.seq : 0;
        queueSnapshot(msg.tasks);
        if (!live) onLive();
      } else if (msg.type === 'error') {
        showAlert(`Server: ${typeof msg.detail === 'string' ? msg.detail : JSON.stringify(msg.detail)}`);
      }
    };
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      ws = null;
      live = false;
      if (ev.code === 4401) setAuthProblem(true);
      scheduleReconnect();
      startPolling();
    };
  }

  function onLive() {
    live = true;
    everLive = true;
    attempt = 0;
    stopPolling();
    if (authProblem) setAuthProblem(false);
    renderConn();
  }

  function scheduleReconnect() {
    clearTimeout(retryTimer);
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 16));
    const delay = Math.min(BACKOFF_MAX_MS, base * (0.8 + Math.random() * 0.4));
    attempt++;
    retryAt = Date.now() + delay;
    retryTimer = setTimeout(connect, delay);
    renderConn();
  }

  function reconnectNow() {
    if (ws || live) return;
    attempt = 0;
    connect();
  }

  function startPolling() {
    if (polling) return;
    polling = true;
    pollState = 'pending';
    pollOnce(++pollRound);
  }

  function stopPolling() {
    polling = false;
    pollRound++;
    clearTimeout(pollTimer);
    pollTimer = 0;
  }

  async function pollOnce(round) {
    if (round !== pollRound) return;
    const wasFailing = pollState !== 'ok';
    try {
      const body = await api('GET', 'tasks');
      if (round !== pollRound) return;  // the socket came back meanwhile: its snapshot is newer
      queueSnapshot(body && body.tasks);
      lastPollOk = Date.now();
      pollState = 'ok';
      if (authProblem && !ws) setAuthProblem(false);
      // The server answers again after a silence: try the socket now instead of waiting out
      // the backoff. (A proxy that never lets the socket through keeps polls steady, so this
      // cannot turn into a fast reconnect loop.)
      if (wasFailing) reconnectNow();
    } catch (err) {
      if (round !== pollRound) return;
      pollState = 'failing';
      if (err.status === 401) setAuthProblem(true);
    } finally {
      if (round === pollRound) pollTimer = setTimeout(pollOnce, POLL_MS, round);
      renderConn();
    }
  }

  tokenForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    token = tokenInput.value.trim();
    const url = new URL(location.href);
    if (token) url.searchParams.set('token', token); else url.searchParams.delete('token');
    history.replaceState(null, '', url);
    tokenInput.value = '';
    if (ws) { const old = ws; ws = null; old.close(); }
    live = false;
    reconnectNow();
  });

  window.addEventListener('online', reconnectNow);

  // ---- actions -------------------------------------------------------------------------------

  async function discard(id, button) {
    button.disabled = true;
    try {
      await api('DELETE', `tasks/${encodeURIComponent(id)}`);
      removeLocally([id]);
    } catch (err) {
      showAlert(`Could not discard task “${id}”: ${err.message}.`);
      if (err.status === 401) setAuthProblem(true);
    } finally {
      button.disabled = false;
    }
  }

  async function clearStatus(status, label, button) {
    button.disabled = true;
    try {
      const body = await api('DELETE', `tasks?status=${encodeURIComponent(status)}`);
      const removed = body && Array.isArray(body.removed) ? body.removed : [];
      removeLocally(removed);
      showAlert(`Cleared ${fmtCount(removed.length)} ${label} task${removed.length === 1 ? '' : 's'}.`, 'ok');
    } catch (err) {
      showAlert(`Could not clear ${label} tasks: ${err.message}.`);
      if (err.status === 401) setAuthProblem(true);
    } finally {
      allDirty = true;
      schedule();
    }
  }

  clearCloseBtn.addEventListener('click', () => clearStatus('close', 'completed', clearCloseBtn));
  clearStaleBtn.addEventListener('click', () => clearStatus('stale', 'stale', clearStaleBtn));

  board.addEventListener('click', (ev) => {
    const target = ev.target.closest('button');
    if (!target) return;
    if (target.classList.contains('discard')) {
      const card = target.closest('.card');
      if (card) discard(card.dataset.id, target);
    } else if (target.classList.contains('meta-btn')) {
      const card = target.closest('.card');
      if (card) openMeta(card.dataset.id);
    } else if (target.classList.contains('bucket-toggle')) {
      const b = buckets.get(target.dataset.bucket);
      b.collapsed = !b.collapsed;
      target.setAttribute('aria-expanded', String(!b.collapsed));
      b.body.hidden = b.collapsed;
      b.dirty = true;
      schedule();
    }
  });

  // ---- search, grouping, theme, keyboard -----------------------------------------------------

  const searchEl = $('search');
  const groupEl = $('group');
  let searchTimer = 0;

  searchEl.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      const q = searchEl.value.trim().toLowerCase();
      if (q === query) return;
      query = q;
      for (const b of buckets.values()) { b.scroller.scrollTop = 0; b.scrollTop = 0; }
      markAllDirty();
    }, 120);
  });

  function store(key, value) {
    try { localStorage.setItem(key, value); } catch (err) { /* private mode: not remembered */ }
  }
  function recall(key) {
    try { return localStorage.getItem(key); } catch (err) { return null; }
  }

  grouped = recall('progressista.group') === '1';
  groupEl.checked = grouped;
  groupEl.addEventListener('change', () => {
    grouped = groupEl.checked;
    store('progressista.group', grouped ? '1' : '0');
    markAllDirty();
  });

  const themeBtn = $('theme');
  const THEMES = ['auto', 'light', 'dark'];
  function applyTheme(name) {
    if (name === 'auto') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = name;
    themeBtn.textContent = `Theme: ${name}`;
    themeBtn.setAttribute('aria-label', `Colour theme: ${name}. Change`);
  }
  let theme = THEMES.includes(recall('progressista.theme')) ? recall('progressista.theme') : 'auto';
  applyTheme(theme);
  themeBtn.addEventListener('click', () => {
    theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
    store('progressista.theme', theme);
    applyTheme(theme);
  });

  document.addEventListener('keydown', (ev) => {
    if (ev.key === '/' && !ev.ctrlKey && !ev.metaKey && !ev.altKey) {
      const tag = (document.activeElement && document.activeElement.tagName) || '';
      if (tag !== 'INPUT' && tag !== 'TEXTAREA') { ev.preventDefault(); searchEl.focus(); }
    } else if (ev.key === 'Escape' && document.activeElement === searchEl && searchEl.value) {
      searchEl.value = '';
      searchEl.dispatchEvent(new Event('input'));
    }
  });

  // ---- start ---------------------------------------------------------------------------------

  window.progressista = { stats };
  setInterval(tick, 1000);
  renderConn();
  schedule();
  connect();
})();
