// Every task the dashboard knows, sorted into buckets, filtered by the search (query.js) and
// the status chips. Pure state, no DOM: changes are queued as they arrive (coalesced per task,
// so memory stays bounded while the tab is hidden) and applied once per frame by
// applyPending().

import { hasTotal } from './format.js';
import { DEFAULT_STALLED_RULE, isAcknowledged, isStalled } from './failures.js';
import { compileQuery, projectOf, searchText } from './query.js';

export const NO_PROJECT = '(no project)';

// In the board's order: failures not yet acknowledged first (issue 14), then the running tasks
// silent past their rhythm (failures.js isStalled), the rest; acknowledged failures last,
// collapsed. `optional` buckets are left off the board while empty, unless their chip alone is
// pressed; `tall` ones have room for a whole error text.
export const BUCKETS = [
  { key: 'error', title: 'Failed', empty: 'No failed tasks.', tall: true },
  { key: 'stalled', title: 'Stalled', empty: 'No stalled tasks.', optional: true },
  { key: 'active', title: 'Active', empty: 'No active tasks.' },
  { key: 'stale', title: 'Needs attention', empty: 'Nothing needs attention.' },
  { key: 'recovered', title: 'Recovered', empty: 'No recovered tasks.' },
  { key: 'close', title: 'Completed', empty: 'No completed tasks.' },
  { key: 'acked', title: 'Acknowledged failures', empty: 'No acknowledged failures.', optional: true,
    collapsed: true },
];

// The status chips above the board; each shows the buckets it names. Running: start, update,
// recovered, not stalled; Stalled: those silent past their rhythm; Stale: the server's `stale`
// status (its janitor's mark); Failed: every `error`, acknowledged or not.
export const FILTERS = [
  { key: 'all', label: 'All', buckets: BUCKETS.map((def) => def.key) },
  { key: 'running', label: 'Running', buckets: ['active', 'recovered'] },
  { key: 'stalled', label: 'Stalled', buckets: ['stalled'],
    title: 'Running tasks silent for longer than their own rhythm allows (GET /summary stalled_rule)' },
  { key: 'stale', label: 'Stale', buckets: ['stale'],
    title: 'Marked stale by the server: no event for its --stale-seconds' },
  { key: 'failed', label: 'Failed', buckets: ['error', 'acked'] },
  { key: 'done', label: 'Done', buckets: ['close'] },
];
const FILTER_BY_KEY = new Map(FILTERS.map((f) => [f.key, f]));
const OPTIONAL = new Set(BUCKETS.filter((def) => def.optional).map((def) => def.key));
// Buckets whose tasks may become stalled (or stop being) as the clock moves.
const LIVE_BUCKETS = ['active', 'recovered', 'stalled'];

export function bucketOf(status) {
  switch (status) {
    case 'stale': return 'stale';
    case 'error': return 'error';
    case 'recovered': return 'recovered';
    case 'close': return 'close';
    default: return 'active';
  }
}

// The bucket a task is on at `now` (epoch seconds): bucketOf its status, except an
// acknowledged failure (acked) and a running task silent past the rule (stalled).
export function placeOf(task, now, rule = DEFAULT_STALLED_RULE) {
  const key = bucketOf(task.status);
  if (key === 'error') return isAcknowledged(task) ? 'acked' : key;
  if ((key === 'active' || key === 'recovered') && isStalled(task, now, rule)) return 'stalled';
  return key;
}

// The fields a card shows and the board sorts, groups and searches by; a task equal in all of
// them needs no redraw and keeps its place. (meta is not compared: every event changes
// updated_at, and a snapshot's meta objects are new even when equal.)
function sameTask(a, b) {
  return a.updated_at === b.updated_at && a.status === b.status && a.n === b.n &&
    a.total === b.total && a.stale_at === b.stale_at && a.done_at === b.done_at &&
    a.recovered === b.recovered && a.message === b.message && a.error === b.error &&
    a.desc === b.desc && a.project === b.project && a.phase === b.phase &&
    a.acknowledged_at === b.acknowledged_at && a.cadence === b.cadence;
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
  #now = -Infinity;              // the clock (setNow): nothing is stalled before it is set
  #stalledRule = DEFAULT_STALLED_RULE;
  #projectRule = null;           // GET /summary project_rule; null: no id-prefix projects
  #snapshots = 0;                // snapshots applied
  // Nested progress: parents whose children are shown. A child of a parent on the board is
  // hidden under it until the parent is expanded (a search shows every match).
  #expanded = new Set();
  #familyChanged = false;        // a parent came or went: who is hidden must be judged again

  // A later change of the same task replaces the earlier one.
  #pendingReset = null;
  #pendingUpserts = new Map();
  #pendingRemoved = new Set();
  #onQueue;
  #watchers = [];   // observe(): told of each incoming change as it is queued

  // onQueue() is called whenever a change is queued, to ask for a frame.
  constructor({ onQueue = () => {} } = {}) {
    this.#onQueue = onQueue;
    for (const def of BUCKETS) {
      this.#buckets.set(def.key, { ids: new Set(), view: [], touched: new Set(), full: true, stale: true, version: 0 });
    }
  }

  get size() { return this.#tasks.size; }
  get query() { return this.#query; }
  get grouped() { return this.#grouped; }
  get filter() { return this.#filter.key; }
  get stalledRule() { return this.#stalledRule; }
  get projectRule() { return this.#projectRule; }
  get now() { return this.#now; }
  // How many snapshots (socket or poll) have been applied: 0 until the board has a state.
  get snapshots() { return this.#snapshots; }
  // Whether the selected status chip shows this bucket.
  shows(key) { return this.#filter.buckets.includes(key); }
  // Whether the board shows the bucket at all: the chip shows it, and an optional bucket has
  // tasks or is the chip's own.
  displays(key) {
    if (!this.shows(key)) return false;
    return !OPTIONAL.has(key) || this.#buckets.get(key).ids.size > 0 || this.#filter.buckets[0] === key;
  }
  // Every entry, in no order.
  entries() { return this.#tasks.values(); }
  // A bucket's entries, matching the search or not, in no order.
  *bucketEntries(key) { for (const id of this.#buckets.get(key).ids) yield this.#tasks.get(id); }
  // Grows whenever a bucket's tasks or one of them changed.
  version(key) { return this.#buckets.get(key).version; }
  get(id) { return this.#tasks.get(id); }
  has(id) { return this.#tasks.has(id); }
  count(key) { return this.#buckets.get(key).ids.size; }
  view(key) { return this.#buckets.get(key).view; }
  isChanged(id) { return this.#changed.has(id); }

  // ---- nested progress ----

  isExpanded(id) { return this.#expanded.has(id); }
  // Shows or hides a parent's children; returns whether they are shown now.
  toggleChildren(id) {
    const on = !this.#expanded.has(id);
    if (on) this.#expanded.add(id); else this.#expanded.delete(id);
    this.#changed.add(id);
    this.#resortAll();
    return on;
  }
  // True for a task under a parent on the board that is not expanded (at any level up).
  isHiddenChild(task) {
    let parent = task?.parent;
    for (let depth = 0; parent && depth < 16; depth++) {
      const up = this.#tasks.get(parent);
      if (!up) return false;
      if (!this.#expanded.has(parent)) return true;
      parent = up.task.parent;
    }
    return false;
  }

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

  // `watcher` ({ snapshot(tasks), delta(msg), removal(ids) }, each optional) is told of every
  // incoming change as it is queued, before the store holds it (store.get still answers the
  // task as it was): the table view records rates there, and notes whether rows came or went.
  observe(watcher) { this.#watchers.push(watcher); }

  queueSnapshot(taskObj) {
    for (const w of this.#watchers) w.snapshot?.(taskObj);
    this.#pendingReset = taskObj && typeof taskObj === 'object' ? taskObj : {};
    this.#pendingUpserts.clear();
    this.#pendingRemoved.clear();
    this.#onQueue();
  }

  // Removals first: an id in both lists was removed and created again within the tick, and the
  // upsert is the table's state at the end of it.
  queueDelta(msg) {
    for (const w of this.#watchers) w.delta?.(msg);
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
    for (const w of this.#watchers) w.removal?.(ids);
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
      this.#snapshots++;
      for (const id of [...this.#tasks.keys()]) if (!Object.hasOwn(next, id)) this.#remove(id);
      for (const id in next) this.#upsert(id, next[id]);
    }
    for (const [id, t] of this.#pendingUpserts) this.#upsert(id, t);
    this.#pendingUpserts.clear();
    for (const id of this.#pendingRemoved) this.#remove(id);
    this.#pendingRemoved.clear();
    if (this.#familyChanged) {
      this.#familyChanged = false;
      this.#resortAll();
    }
  }

  #upsert(id, t) {
    if (!t || typeof t !== 'object') return;
    const key = placeOf(t, this.#now, this.#stalledRule);
    let e = this.#tasks.get(id);
    if (e) {
      if (sameTask(e.task, t) && e.task.parent === t.parent &&
          e.task.children?.count === t.children?.count) { e.task = t; return; }
      if (Boolean(e.task.children) !== Boolean(t.children) || e.task.parent !== t.parent) this.#familyChanged = true;
      if (e.bucket !== key) {
        this.#markStale(this.#buckets.get(e.bucket)).ids.delete(id);
        this.#buckets.get(key).ids.add(id);
        e.bucket = key;
      }
      e.task = t;
      e.text = null;
    } else {
      e = { id, task: t, bucket: key, activity: 0, project: '', text: null };
      if (t.children) this.#familyChanged = true;
      this.#tasks.set(id, e);
      this.#buckets.get(key).ids.add(id);
    }
    e.activity = t.updated_at || t.created_at || 0;
    e.project = projectOf(t, this.#projectRule);
    this.#markStale(this.#buckets.get(key)).touched.add(id);
    this.#changed.add(id);
  }

  #remove(id) {
    const e = this.#tasks.get(id);
    if (!e) return;
    this.#tasks.delete(id);
    if (e.task.children) this.#familyChanged = true;
    this.#markStale(this.#buckets.get(e.bucket)).ids.delete(id);
    this.#changed.delete(id);
  }

  #markStale(b) {
    b.stale = true;
    b.version++;
    this.#summaryStale = true;
    return b;
  }

  // ---- search and grouping: both re-sort every bucket from scratch ----

  // True when the query changed.
  setQuery(query) {
    if (query === this.#query) return false;
    this.#query = query;
    this.#matcher = compileQuery(query, { projectRule: this.#projectRule });
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

  // ---- the clock and GET /summary's rules ----

  // The clock the stalled flag is judged by (epoch seconds), before each frame's changes.
  setNow(now) { this.#now = now; }

  // Moves the running tasks that became stalled at `now`, or stopped being, between buckets.
  // Once a second is enough (the rule counts whole seconds). Returns how many moved.
  sweepStalled(now = this.#now) {
    this.#now = now;
    let moved = 0;
    const moves = [];  // [id, from, to]: found first, so no copy of a 100,000-id bucket is made
    for (const key of LIVE_BUCKETS) {
      for (const id of this.#buckets.get(key).ids) {
        const next = placeOf(this.#tasks.get(id).task, now, this.#stalledRule);
        if (next !== key) moves.push([id, key, next]);
      }
    }
    for (const [id, key, next] of moves) {
      this.#markStale(this.#buckets.get(key)).ids.delete(id);
      const b = this.#markStale(this.#buckets.get(next));
      b.ids.add(id);
      b.touched.add(id);
      this.#tasks.get(id).bucket = next;
      this.#changed.add(id);
      moved++;
    }
    if (moved) this.#onQueue();
    return moved;
  }

  // GET /summary's stalled_rule ({factor, min_seconds}, failures.js readStalledRule).
  setStalledRule(rule) {
    if (rule.factor === this.#stalledRule.factor && rule.min_seconds === this.#stalledRule.min_seconds) return false;
    this.#stalledRule = rule;
    this.sweepStalled();
    return true;
  }

  // GET /summary's project_rule ({id_separators}); null or '' separators: off. Every task's
  // project is taken again.
  setProjectRule(rule) {
    const next = rule && typeof rule.id_separators === 'string' && rule.id_separators !== '' ? { id_separators: rule.id_separators } : null;
    if ((next?.id_separators ?? null) === (this.#projectRule?.id_separators ?? null)) return false;
    this.#projectRule = next;
    for (const e of this.#tasks.values()) {
      e.project = projectOf(e.task, next);
      e.text = null;
      this.#changed.add(e.id);
    }
    this.#matcher = compileQuery(this.#query, { projectRule: next });
    this.#resortAll();
    return true;
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
    const rule = this.#projectRule;
    const textOf = () => (entry.text ??= searchText(entry.task, rule));
    const matches = matcher ? (e) => { entry = e; return matcher(e.task, textOf); }
      : (e) => !e.task.parent || !this.isHiddenChild(e.task);
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
