// Every task the dashboard knows, sorted into buckets, filtered by the search (query.js) and
// the status chips. Pure state, no DOM: changes are queued as they arrive (coalesced per task,
// so memory stays bounded while the tab is hidden) and applied once per frame by
// applyPending().

import { hasTotal } from './format.js';
import { compileQuery, projectOf, searchText } from './query.js';

export const NO_PROJECT = '(no project)';

export const BUCKETS = [
  { key: 'active', title: 'Active', empty: 'No active tasks.' },
  { key: 'stale', title: 'Needs attention', empty: 'Nothing needs attention.' },
  { key: 'error', title: 'Failed', empty: 'No failed tasks.' },
  { key: 'recovered', title: 'Recovered', empty: 'No recovered tasks.' },
  { key: 'close', title: 'Completed', empty: 'No completed tasks.' },
];

// The status chips above the board; each shows the buckets it names (Running: start, update,
// recovered).
export const FILTERS = [
  { key: 'all', label: 'All', buckets: BUCKETS.map((def) => def.key) },
  { key: 'running', label: 'Running', buckets: ['active', 'recovered'] },
  { key: 'stale', label: 'Stale', buckets: ['stale'] },
  { key: 'failed', label: 'Failed', buckets: ['error'] },
  { key: 'done', label: 'Done', buckets: ['close'] },
];
const FILTER_BY_KEY = new Map(FILTERS.map((f) => [f.key, f]));

export function bucketOf(status) {
  switch (status) {
    case 'stale': return 'stale';
    case 'error': return 'error';
    case 'recovered': return 'recovered';
    case 'close': return 'close';
    default: return 'active';
  }
}

// The fields a card shows and the board sorts, groups and searches by; a task equal in all of
// them needs no redraw and keeps its place. (meta is not compared: every event changes
// updated_at, and a snapshot's meta objects are new even when equal.)
function sameTask(a, b) {
  return a.updated_at === b.updated_at && a.status === b.status && a.n === b.n &&
    a.total === b.total && a.stale_at === b.stale_at && a.done_at === b.done_at &&
    a.recovered === b.recovered && a.message === b.message && a.error === b.error &&
    a.desc === b.desc && a.project === b.project && a.phase === b.phase;
}

const byId = (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const byActivity = (a, b) => b.activity - a.activity || byId(a, b);
const byProject = (a, b) => {
  if (a.project !== b.project) {
    if (!a.project) return 1;
    if (!b.project) return -1;
    return a.project < b.project ? -1 : 1;
  }
  return byActivity(a, b);
};

// Progress over the tasks that have a total; a task past its total counts as done.
function addProgress(sum, task) {
  if (hasTotal(task)) { sum.total += task.total; sum.n += Math.min(task.n || 0, task.total); }
}

// A grouped view's runs of one project (projectOf): { name, from, to, count, n, total },
// `from`/`to` indexing the view. The view must be sorted by project (as a grouped store sorts
// it).
export function groupRuns(view) {
  const runs = [];
  let i = 0;
  while (i < view.length) {
    const name = view[i].project || NO_PROJECT;
    const run = { name, from: i, to: i, count: 0, n: 0, total: 0 };
    while (run.to < view.length && (view[run.to].project || NO_PROJECT) === name) {
      run.count++;
      addProgress(run, view[run.to].task);
      run.to++;
    }
    runs.push(run);
    i = run.to;
  }
  return runs;
}

export class TaskStore {
  // id -> { id, task (as served), bucket, activity (last update, s), project (projectOf),
  //        text (searchText, made when a search needs it, dropped when the task changes) }
  #tasks = new Map();
  // key -> { ids, view (matching entries, sorted), touched (ids changed since the sort),
  //          full (re-sort from scratch), stale (view must be recomputed) }
  #buckets = new Map();
  #changed = new Set();          // ids whose card must be redrawn this frame
  #summaryStale = true;
  #query = '';
  #matcher = null;               // compileQuery(#query)
  #grouped = false;
  #filter = FILTERS[0];

  // A later change of the same task replaces the earlier one.
  #pendingReset = null;
  #pendingUpserts = new Map();
  #pendingRemoved = new Set();
  #onQueue;

  // onQueue() is called whenever a change is queued, to ask for a frame.
  constructor({ onQueue = () => {} } = {}) {
    this.#onQueue = onQueue;
    for (const def of BUCKETS) {
      this.#buckets.set(def.key, { ids: new Set(), view: [], touched: new Set(), full: true, stale: true });
    }
  }

  get size() { return this.#tasks.size; }
  get query() { return this.#query; }
  get grouped() { return this.#grouped; }
  get filter() { return this.#filter.key; }
  // Whether the selected status chip shows this bucket.
  shows(key) { return this.#filter.buckets.includes(key); }
  get(id) { return this.#tasks.get(id); }
  has(id) { return this.#tasks.has(id); }
  count(key) { return this.#buckets.get(key).ids.size; }
  view(key) { return this.#buckets.get(key).view; }
  isChanged(id) { return this.#changed.has(id); }

  // Tasks that match the search, over all buckets.
  matchCount() {
    let matches = 0;
    for (const b of this.#buckets.values()) matches += b.view.length;
    return matches;
  }

  // Per status chip: its tasks, those matching the search while there is one. From the
  // buckets' sizes and views: nothing counted per task. Views must be up to date (refreshView).
  chipCounts() {
    const counts = {};
    for (const f of FILTERS) {
      let c = 0;
      for (const key of f.buckets) {
        const b = this.#buckets.get(key);
        c += this.#matcher ? b.view.length : b.ids.size;
      }
      counts[f.key] = c;
    }
    return counts;
  }

  // ---- incoming changes ----

  queueSnapshot(taskObj) {
    this.#pendingReset = taskObj && typeof taskObj === 'object' ? taskObj : {};
    this.#pendingUpserts.clear();
    this.#pendingRemoved.clear();
    this.#onQueue();
  }

  // Removals first: an id in both lists was removed and created again within the tick, and the
  // upsert is the table's state at the end of it.
  queueDelta(msg) {
    this.#queueRemovals(msg.removed || []);
    const ups = msg.upserts || {};
    for (const id in ups) {
      this.#pendingRemoved.delete(id);
      this.#pendingUpserts.set(id, ups[id]);
    }
    this.#onQueue();
  }

  // Tasks this page removed on the server: gone before the server's own delta says so.
  queueRemoval(ids) {
    this.#queueRemovals(ids);
    this.#onQueue();
  }

  #queueRemovals(ids) {
    for (const id of ids) {
      this.#pendingUpserts.delete(id);
      this.#pendingRemoved.add(id);
    }
  }

  applyPending() {
    if (this.#pendingReset) {
      const next = this.#pendingReset;
      this.#pendingReset = null;
      for (const id of [...this.#tasks.keys()]) if (!Object.hasOwn(next, id)) this.#remove(id);
      for (const id in next) this.#upsert(id, next[id]);
    }
    for (const [id, t] of this.#pendingUpserts) this.#upsert(id, t);
    this.#pendingUpserts.clear();
    for (const id of this.#pendingRemoved) this.#remove(id);
    this.#pendingRemoved.clear();
  }

  #upsert(id, t) {
    if (!t || typeof t !== 'object') return;
    const key = bucketOf(t.status);
    let e = this.#tasks.get(id);
    if (e) {
      if (sameTask(e.task, t)) { e.task = t; return; }
      if (e.bucket !== key) {
        this.#markStale(this.#buckets.get(e.bucket)).ids.delete(id);
        this.#buckets.get(key).ids.add(id);
        e.bucket = key;
      }
      e.task = t;
      e.text = null;
    } else {
      e = { id, task: t, bucket: key, activity: 0, project: '', text: null };
      this.#tasks.set(id, e);
      this.#buckets.get(key).ids.add(id);
    }
    e.activity = t.updated_at || t.created_at || 0;
    e.project = projectOf(t);
    this.#markStale(this.#buckets.get(key)).touched.add(id);
    this.#changed.add(id);
  }

  #remove(id) {
    const e = this.#tasks.get(id);
    if (!e) return;
    this.#tasks.delete(id);
    this.#markStale(this.#buckets.get(e.bucket)).ids.delete(id);
    this.#changed.delete(id);
  }

  #markStale(b) {
    b.stale = true;
    this.#summaryStale = true;
    return b;
  }

  // ---- search and grouping: both re-sort every bucket from scratch ----

  // True when the query changed.
  setQuery(query) {
    if (query === this.#query) return false;
    this.#query = query;
    this.#matcher = compileQuery(query);
    if (!this.#matcher) for (const e of this.#tasks.values()) e.text = null;   // let them go
    this.#resortAll();
    return true;
  }

  // A status chip's key (FILTERS; unknown keys mean all). True when the selection changed. The
  // views stay whole: the board only hides the buckets the chip does not show.
  setFilter(key) {
    const next = FILTER_BY_KEY.get(key) || FILTERS[0];
    if (next === this.#filter) return false;
    this.#filter = next;
    this.#summaryStale = true;
    this.#onQueue();
    return true;
  }

  setGrouped(on) {
    this.#grouped = on;
    this.#resortAll();
  }

  #resortAll() {
    for (const b of this.#buckets.values()) { this.#markStale(b).full = true; }
    this.#onQueue();
  }

  // ---- once per frame ----

  // Brings a bucket's view up to date; true when it had to (the view may have changed).
  refreshView(key) {
    const b = this.#buckets.get(key);
    if (!b.stale) return false;
    b.stale = false;
    this.#sortView(b, key);
    return true;
  }

  // True once after anything the summary counts changed.
  takeSummaryStale() {
    const stale = this.#summaryStale;
    this.#summaryStale = false;
    return stale;
  }

  // Called at the end of a frame: every changed card has been drawn.
  clearChanged() { this.#changed.clear(); }

  // Keeps b.view sorted. Only the touched entries changed their sort keys, so the rest of the
  // previous view is still in order: drop the touched and the departed, sort the touched alone
  // and merge, O(n + k log k) instead of a full sort of the bucket every frame.
  #sortView(b, key) {
    const cmp = this.#grouped ? byProject : byActivity;
    const matcher = this.#matcher;
    let entry = null;   // the entry being matched: its text is made once and kept
    const textOf = () => (entry.text ??= searchText(entry.task));
    const matches = matcher ? (e) => { entry = e; return matcher(e.task, textOf); } : () => true;
    const tasks = this.#tasks;
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
        if (e && e.bucket === key && matches(e)) fresh.push(e);
      }
      fresh.sort(cmp);
      const view = [];
      let j = 0;
      for (const e of b.view) {
        if (touched.has(e.id) || e.bucket !== key || tasks.get(e.id) !== e) continue;
        while (j < fresh.length && cmp(fresh[j], e) < 0) view.push(fresh[j++]);
        view.push(e);
      }
      while (j < fresh.length) view.push(fresh[j++]);
      b.view = view;
    }
    b.touched.clear();
  }

  // Per-project totals over every task matching the search in the buckets the chip shows,
  // projects by name with NO_PROJECT last: { name, tasks, n, total, and a count per bucket key }.
  projectTotals() {
    const stats = new Map();
    for (const [key, b] of this.#buckets) {
      if (!this.shows(key)) continue;
      for (const e of b.view) {
        const name = e.project || NO_PROJECT;
        let s = stats.get(name);
        if (!s) {
          s = { name, tasks: 0, n: 0, total: 0 };
          for (const def of BUCKETS) s[def.key] = 0;
          stats.set(name, s);
        }
        s.tasks++;
        s[key]++;
        addProgress(s, e.task);
      }
    }
    const names = [...stats.keys()].sort((a, b) => (a === NO_PROJECT) - (b === NO_PROJECT) || (a < b ? -1 : a > b ? 1 : 0));
    return names.map((name) => stats.get(name));
  }
}
