// The table view's rows (issue 14, "the fleet operator's board"): which tasks, in which order,
// and what each column says and sorts by. Pure: no DOM, no clock of its own (callers pass
// `now`, in seconds), so Node's test runner imports it as it is.
//
// The order is STABLE: rows keep their places while their tasks update. Sort keys are applied
// only when asked (sort(): a header click, the re-sort button, the pointer leaving the table);
// until then a new task goes at the end and a removed one just disappears, and `outOfDate`
// says the order no longer follows the sort. Failed tasks nobody acknowledged are pinned
// above the rest whatever the sort.
//
// Rows are the task store's entries ({ id, task, project }, task_store.js): an entry keeps
// its identity for as long as its task exists, so the model marks entries (symbols) instead
// of keeping maps of 100,000 ids.

import { STATUS_LABEL, endedEarly, hasTotal, tqdmLine } from './format.js';
import { isAcknowledged, isStalled as stalledBy } from './failures.js';

// ---- stalled: the ONE spot that decides it for the table ----
// A running task silent for longer than its own rhythm allows: failures.js isStalled, the
// predicate the cards and the chips use, with GET /summary's stalled_rule as the store holds
// it (useStalledRule; until then failures.js's defaults).
let stalledRule;
export function useStalledRule(rule) { stalledRule = rule || undefined; }
export const isStalled = (t, now) => stalledBy(t, now, stalledRule);

const isLive = (s) => s === 'start' || s === 'update' || s === 'recovered' || s === undefined;

// Failed and not acknowledged by an operator: pinned on top of the table.
export const isPinned = (t) => t.status === 'error' && !isAcknowledged(t);

// What the status column says: the chips' words (running, stale, failed, done, recovered),
// "stalled" for a live task past its cadence, "ended at 45%" for a close below the total.
// rank orders the column (the most urgent first).
export function statusOf(t, now) {
  const s = t.status || 'update';
  switch (s) {
    case 'error': return { word: STATUS_LABEL.error, kind: 'error', rank: isPinned(t) ? 0 : 1 };
    case 'stale': return { word: STATUS_LABEL.stale, kind: 'stale', rank: 3 };
    case 'close': {
      const early = endedEarly(t);
      return early !== null ? { word: `ended at ${early}`, kind: 'early', rank: 5 } : { word: STATUS_LABEL.close, kind: 'close', rank: 7 };
    }
    case 'recovered':
      if (isStalled(t, now)) return { word: 'stalled', kind: 'stalled', rank: 2 };
      return { word: STATUS_LABEL.recovered, kind: 'recovered', rank: 4 };
    default:
      if (isStalled(t, now)) return { word: 'stalled', kind: 'stalled', rank: 2 };
      return { word: 'running', kind: 'running', rank: 6 };
  }
}

// tqdm's line split into the table's columns: "42/100", "00:17" (or "overdue", "?"), "3.41 it/s".
// Taken from format.js tqdmLine, so the table and the cards never disagree.
const TQDM = /^(.*) \[([^<,\]]*)(?:<([^,\]]*))?, (.*)\]$/;
export function tqdmParts(t, now) {
  const line = tqdmLine(t, now);
  const m = TQDM.exec(line);
  if (!m) return { counts: line, elapsed: '', eta: '', rate: '' };
  return { counts: m[1], elapsed: m[2], eta: m[3] === undefined ? '' : m[3], rate: m[4] };
}

// Seconds left as the cards count them (the server's ETA as of the last update), for sorting;
// null when there is none.
export function etaLeft(t, now) {
  if (t.status === 'close') return 0;
  if (!isLive(t.status) || typeof t.eta !== 'number' || !hasTotal(t)) return null;
  return t.eta - Math.max(0, now - (t.updated_at || now));
}

const str = (x) => (typeof x === 'string' && x !== '' ? x : null);
const num = (x) => (typeof x === 'number' && Number.isFinite(x) ? x : null);

// The columns, in order. key(e, now): the sort key (a string or a number; null sorts last in
// both directions). first: the direction of a first click.
export const COLUMNS = [
  { id: 'id', label: 'Task', first: 'ascending', key: (e) => e.task.task_id ?? e.id },
  { id: 'desc', label: 'Description', first: 'ascending', key: (e) => str(e.task.desc) },
  { id: 'project', label: 'Project', first: 'ascending', key: (e) => str(e.project) },
  { id: 'phase', label: 'Phase', first: 'ascending', key: (e) => str(e.task.phase) },
  { id: 'status', label: 'Status', first: 'ascending', key: (e, now) => statusOf(e.task, now).rank },
  { id: 'progress', label: 'Progress', first: 'descending', key: (e) => (hasTotal(e.task) ? Math.max(0, e.task.n || 0) / e.task.total : null) },
  { id: 'count', label: 'n/total', first: 'descending', key: (e) => num(e.task.n) },
  { id: 'rate', label: 'Rate', first: 'descending', key: (e) => num(e.task.rate) },
  { id: 'eta', label: 'ETA', first: 'ascending', key: (e, now) => etaLeft(e.task, now) },
  { id: 'updated', label: 'Updated', first: 'descending', key: (e) => num(e.task.updated_at ?? e.task.created_at) },
  { id: 'message', label: 'Message', first: 'ascending', key: (e) => str(e.task.error) ?? str(e.task.message) },
];
export const COLUMN_BY_ID = new Map(COLUMNS.map((c) => [c.id, c]));

const cmpKeys = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
const byId = (a, b) => cmpKeys(a.id, b.id);

// A comparator of entries for a column and direction: null keys last whichever the
// direction, ties by task id (so a sort is deterministic).
export function comparator(columnId, dir, now) {
  const col = COLUMN_BY_ID.get(columnId) || COLUMNS[0];
  const sign = dir === 'descending' ? -1 : 1;
  return (a, b) => {
    const ka = col.key(a, now);
    const kb = col.key(b, now);
    if (ka === null || kb === null) {
      if (ka !== kb) return ka === null ? 1 : -1;
      return byId(a, b);
    }
    return sign * cmpKeys(ka, kb) || byId(a, b);
  };
}

// Sorts by the column with each key computed once (a 100,000-row sort by description would
// otherwise call the key 3.4 million times).
export function sortEntries(entries, columnId, dir, now) {
  const col = COLUMN_BY_ID.get(columnId) || COLUMNS[0];
  const sign = dir === 'descending' ? -1 : 1;
  const keyed = entries.map((e) => ({ e, k: col.key(e, now) }));
  keyed.sort((a, b) => {
    if (a.k === null || b.k === null) {
      if (a.k !== b.k) return a.k === null ? 1 : -1;
      return byId(a.e, b.e);
    }
    return sign * cmpKeys(a.k, b.k) || byId(a.e, b.e);
  });
  return keyed.map((x) => x.e);
}

const MEMBER = Symbol('table member');   // generation in which the entry is a row
const KEPT = Symbol('table kept');       // generation in which it kept its place
const SEEN = Symbol('table seen');       // the task object the last sync saw
const SEEN_BUCKET = Symbol('table seen bucket');
const INDEX = Symbol('table index');     // its place in order, as of the last sync or sort

export class TableModel {
  sortColumn = 'updated';
  sortDir = 'descending';
  pinned = [];          // failed, not acknowledged: on top, in the sort's order
  order = [];           // every other row, in its stable order
  outOfDate = false;    // order no longer follows the sort (changed keys, rows appended)
  #gen = 0;

  get length() { return this.pinned.length + this.order.length; }
  at(i) { return i < this.pinned.length ? this.pinned[i] : this.order[i - this.pinned.length]; }
  rows() { return this.pinned.concat(this.order); }

  // The rows are now the entries of `views` (arrays of entries: the store's bucket views the
  // status chip shows, already narrowed by the search). Rows still there keep their places;
  // new ones go at the end (in the sort's order among themselves); gone ones disappear.
  // Returns true when the rows or their order changed.
  sync(views, now) {
    const gen = ++this.#gen;
    for (const view of views) for (const e of view) e[MEMBER] = gen;
    const order = [];
    const moved = [];   // indexes in order of the rows whose task changed since the last sync
    let changed = false;
    for (const e of this.order) {
      if (e[MEMBER] !== gen) { changed = true; continue; }
      // Only a task that changed can have become pinned: the others' tasks are not read (at
      // 100,000 rows, reading every task object costs more than everything else here).
      if (e[SEEN] !== e.task || e[SEEN_BUCKET] !== e.bucket) {
        if (isPinned(e.task)) { changed = true; continue; }
        moved.push(order.length);
        e[SEEN] = e.task;
        e[SEEN_BUCKET] = e.bucket;
      }
      e[KEPT] = gen;
      e[INDEX] = order.length;
      order.push(e);
    }
    const fresh = [];
    const pinned = [];
    for (const view of views) {
      for (const e of view) {
        if (e[KEPT] === gen) continue;
        if (isPinned(e.task)) pinned.push(e); else fresh.push(e);
      }
    }
    if (fresh.length) {
      changed = true;
      if (order.length) this.outOfDate = true;   // (a table filled from empty is in order)
      for (const e of sortEntries(fresh, this.sortColumn, this.sortDir, now)) {
        e[SEEN] = e.task;
        e[SEEN_BUCKET] = e.bucket;
        e[INDEX] = order.length;
        order.push(e);
      }
    }
    const nextPinned = pinned.length > 1 ? sortEntries(pinned, this.sortColumn, this.sortDir, now) : pinned;
    if (!changed && !sameList(nextPinned, this.pinned)) changed = true;
    this.pinned = nextPinned;
    this.order = order;
    // Was in order and only these rows' keys may have changed: in order still when each of
    // them is with its neighbours (O(changed), not O(rows), per frame).
    if (!this.outOfDate) {
      const cmp = comparator(this.sortColumn, this.sortDir, now);
      for (const i of moved) {
        if ((i > 0 && cmp(order[i - 1], order[i]) > 0) || (i + 1 < order.length && cmp(order[i], order[i + 1]) > 0)) {
          this.outOfDate = true;
          break;
        }
      }
    }
    return changed;
  }

  // True when a pinned row was acknowledged since the last sync (its task object is replaced
  // even when the store deems it unchanged): the rows must be synced again.
  pinnedChanged() {
    for (const e of this.pinned) if (!isPinned(e.task)) return true;
    return false;
  }

  // The rows stay the same, but these entries' tasks changed (a status or an acknowledgement
  // that did not change is not a new row): the order may be out of date. O(entries), where
  // sync() is O(rows): for the frames where only values moved.
  touched(entries, now) {
    if (this.outOfDate) return;
    const cmp = comparator(this.sortColumn, this.sortDir, now);
    const order = this.order;
    for (const e of entries) {
      const i = e[INDEX];
      if (order[i] !== e) continue;   // pinned, or not a row
      e[SEEN] = e.task;
      e[SEEN_BUCKET] = e.bucket;
      if ((i > 0 && cmp(order[i - 1], e) > 0) || (i + 1 < order.length && cmp(e, order[i + 1]) > 0)) {
        this.outOfDate = true;
        return;
      }
    }
  }

  // Re-applies the sort keys (on request).
  sort(now) {
    this.order = sortEntries(this.order, this.sortColumn, this.sortDir, now);
    const order = this.order;
    for (let i = 0; i < order.length; i++) {
      const e = order[i];
      e[SEEN] = e.task;
      e[SEEN_BUCKET] = e.bucket;
      e[INDEX] = i;
    }
    if (this.pinned.length > 1) this.pinned = sortEntries(this.pinned, this.sortColumn, this.sortDir, now);
    this.outOfDate = false;
  }

  // A header click: another column sorts in its first direction, the same one reverses.
  // Sorts at once.
  sortBy(columnId, now) {
    const col = COLUMN_BY_ID.get(columnId);
    if (!col) return;
    if (columnId === this.sortColumn) this.sortDir = this.sortDir === 'ascending' ? 'descending' : 'ascending';
    else { this.sortColumn = columnId; this.sortDir = col.first; }
    this.sort(now);
  }
}

function sameList(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

