// Progressista dashboard: one live board of every task the server holds.
//
// Data flow: WebSocket (compact delta protocol, delta2, decoded by compact_delta.js) or
// GET /tasks polling (connection.js) -> the task store's pending changes (task_store.js) ->
// applied once per animation frame here -> only the buckets (bucket_list.js) and cards
// (cards.js) that changed are touched.

import { api, getShare } from './api.js';
import { createMetaDialog, showAlert } from './alerts.js';
import { BucketList, observeSizes } from './bucket_list.js';
import { drawTimes } from './cards.js';
import { createConnection } from './connection.js';
import { setupControls } from './controls.js';
import { plural } from './format.js';
import { setupBoardKeys } from './keys.js';
import { createSummary } from './summary.js';
import { createTableView } from './table_view.js';
import { BUCKETS, TaskStore } from './task_store.js';
import { acknowledge, readStalledRule, setupNotifier } from './failures.js';
import { createRollups, pollSummary, rollup, tallyTasks } from './projects.js';
import { drawHistory } from './charts.js';

// A share link is read-only (the server answers 403 to its writes): its board shows no
// Discard, Clear or Acknowledge buttons (style.css, body[data-read-only]).
if (getShare()) document.body.dataset.readOnly = '';

// Render statistics, read by the browser test (window.progressista.stats).
const stats = { frames: 0, totalMs: 0, maxMs: 0, lastMs: 0 };
let frameRequested = false;

function schedule() {
  if (!frameRequested) { frameRequested = true; requestAnimationFrame(frame); }
}

const store = new TaskStore({ onQueue: schedule });
const board = document.getElementById('board');
const lists = BUCKETS.map((def) => new BucketList(def, store, schedule));
const listByKey = new Map(lists.map((list) => [list.key, list]));
board.append(...lists.map((list) => list.el));
observeSizes(lists, schedule);
// The table view (table_view.js): the other view of the same store, `t` or ?view=table.
const table = createTableView({ store, lists, schedule, onActionFailed: (what, err) => actionFailed(what, err) });
const metaDialog = createMetaDialog(store);
const summary = createSummary(store);
const projectsEl = document.getElementById('projects');
const fleetEl = document.getElementById('fleet');
const fleetWrap = document.getElementById('fleet-wrap');
// On a phone the panel starts closed: the pinned failures come first.
if (window.matchMedia('(max-width: 640px)').matches) fleetWrap.open = false;
// What the connection says about the board: dimmed while it is not fresh (connection_state.js
// isFresh: polling that answers counts as fresh), and the summary and empty buckets saying a
// token was refused or the server not reached instead of "0 tasks".
const connection = createConnection(store, {
  onNotice(notice) {
    board.toggleAttribute('data-stale-view', notice.stale);
    projectsEl.toggleAttribute('data-stale-view', notice.stale);
    fleetEl.toggleAttribute('data-stale-view', notice.stale);
    summary.setNotice(notice);
    table.setNotice(notice);
    for (const list of lists) list.setEmptyNotice(notice.empty);
    schedule();
  },
});
setupControls(store, lists);
const keys = setupBoardKeys({ store, lists, metaDialog, schedule });

const nowSeconds = () => Date.now() / 1000;

// A desktop notification for each new failure, when asked for (failures.js); the failures
// present when the board first loads are only learnt.
const notifier = setupNotifier(document.getElementById('notify'));
let failedVersion = '';
function notifyFailures() {
  const version = `${store.version('error')}/${store.version('acked')}`;
  if (store.snapshots === 0 || version === failedVersion) return;
  failedVersion = version;
  const failed = [...store.bucketEntries('error'), ...store.bucketEntries('acked')];
  notifier.update(failed.map((e) => [e.id, e.task]));
}

function frame() {
  frameRequested = false;
  const t0 = performance.now();
  store.setNow(nowSeconds());
  store.applyPending();
  const now = nowSeconds();
  for (const list of lists) {
    const changed = store.refreshView(list.key);
    if (!table.shown) list.update(now, changed);
    else if (changed) list.layoutStale = true;   // laid out when the cards are shown again
  }
  table.update(now);
  keys.afterFrame();
  metaDialog.refresh();
  summary.update();
  notifyFailures();
  store.clearChanged();
  const ms = performance.now() - t0;
  stats.frames++;
  stats.totalMs += ms;
  stats.lastMs = ms;
  if (ms > stats.maxMs) stats.maxMs = ms;
}

// Once a second: relative times, elapsed clocks and ETAs of the cards on screen.
// Running tasks become stalled (or stop being) as the clock moves.
function tick() {
  const now = nowSeconds();
  store.sweepStalled(now);
  for (const list of lists) {
    for (const card of list.cards.values()) {
      const e = store.get(card.id);
      if (e) drawTimes(card, e.task, now, store);
    }
  }
  connection.render();
  table.tick(now);
}

// ---- the fleet panel: project roll-ups and charts from GET /summary (projects.js, charts.js) ----

const searchEl = document.getElementById('search');
const rollups = createRollups({
  listEl: document.getElementById('rollups'), moreEl: document.getElementById('rollups-more'), searchEl,
});
let lastSummary = null;
fleetWrap.addEventListener('toggle', () => drawRollups());
// With each GET /summary (every few seconds: the rates and counts are the server's) while the
// panel is open, and when it opens. Not every second: the page's own tally is a pass over
// every task, a frame's worth of work at 100,000 tasks.
function drawRollups() {
  if (!lastSummary || !fleetWrap.open) return;
  rollups.draw(rollup(lastSummary, tallyTasks(store.entries())), store.query);
}
pollSummary(api, {
  onSummary(body) {
    if (!body || typeof body !== 'object') return;
    lastSummary = body;
    store.setStalledRule(readStalledRule(body.stalled_rule));
    store.setProjectRule(body.project_rule || null);
    fleetWrap.hidden = false;
    drawHistory(document.getElementById('chart-events'), document.getElementById('chart-closed'), body.history);
    drawRollups();
    schedule();
  },
});

// ---- actions ----

// A failed action is shown; a 401 also tells the connection the token is refused.
function actionFailed(what, err) {
  showAlert(`Could not ${what}: ${err.message}.`);
  if (err.status === 401) connection.rejected();
}

async function discard(id, button) {
  button.disabled = true;
  try {
    await api('DELETE', `tasks/${encodeURIComponent(id)}`);
    store.queueRemoval([id]);
  } catch (err) {
    actionFailed(`discard task “${id}”`, err);
  } finally {
    button.disabled = false;
  }
}

// The button stays disabled until the summary sees whether anything is left to clear.
async function clearStatus(status, label, button) {
  button.disabled = true;
  try {
    const body = await api('DELETE', `tasks?status=${encodeURIComponent(status)}`);
    const removed = body && Array.isArray(body.removed) ? body.removed : [];
    store.queueRemoval(removed);
    showAlert(`Cleared ${plural(removed.length, `${label} task`)}.`, 'ok');
  } catch (err) {
    actionFailed(`clear ${label} tasks`, err);
  } finally {
    summary.invalidate();
    schedule();
  }
}

// Acknowledge a failure, or withdraw it (Undo); the change comes back in the live frames, to
// every open dashboard.
async function acknowledgeTask(id, on, button) {
  button.disabled = true;
  try {
    await acknowledge(api, id, on);
  } catch (err) {
    actionFailed(on ? `acknowledge the failure of task “${id}”` : `undo the acknowledgement of task “${id}”`, err);
  } finally {
    button.disabled = false;
  }
}

const clearCloseBtn = document.getElementById('clear-close');
const clearStaleBtn = document.getElementById('clear-stale');
clearCloseBtn.addEventListener('click', () => clearStatus('close', 'completed', clearCloseBtn));
clearStaleBtn.addEventListener('click', () => clearStatus('stale', 'stale', clearStaleBtn));

board.addEventListener('click', (ev) => {
  const target = ev.target.closest('button');
  if (!target) return;
  const card = target.closest('.card');
  if (target.classList.contains('discard')) {
    if (card) discard(card.dataset.id, target);
  } else if (target.classList.contains('ack')) {
    if (card) acknowledgeTask(card.dataset.id, target.dataset.on === '1', target);
  } else if (target.classList.contains('meta-btn')) {
    if (card) metaDialog.open(card.dataset.id);
  } else if (target.classList.contains('kids')) {
    if (card) store.toggleChildren(card.dataset.id);
    schedule();
  } else if (target.classList.contains('bucket-toggle')) {
    listByKey.get(target.dataset.bucket).toggleCollapsed();
    schedule();
  }
});

// ---- start ----

// Read by the browser test: render statistics and a task as the store holds it.
window.progressista = { stats, task: (id) => store.get(id)?.task, table: table.probe };
setInterval(tick, 1000);
connection.start();
schedule();
