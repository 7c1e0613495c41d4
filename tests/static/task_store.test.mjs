// The dashboard's task store (static/js/task_store.js): buckets, sorting, search, grouping and
// the queue of pending changes, without a browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUCKETS, FILTERS, NO_PROJECT, TaskStore, bucketOf, groupRuns } from '../../static/js/task_store.js';
import { compileQuery } from '../../static/js/query.js';

const task = (task_id, fields = {}) => ({ task_id, status: 'update', n: 0, updated_at: 100, ...fields });
const ids = (store, key) => store.view(key).map((e) => e.id);

// Applies what is queued and brings every view up to date, as a frame does.
function frame(store) {
  store.applyPending();
  for (const def of BUCKETS) store.refreshView(def.key);
}

function loaded(tasks, setup = () => {}) {
  const store = new TaskStore();
  setup(store);
  store.queueSnapshot(Object.fromEntries(tasks.map((t) => [t.task_id, t])));
  frame(store);
  return store;
}

test('bucketOf: one bucket per status, unknown ones are active', () => {
  assert.deepEqual(['start', 'update', 'stale', 'error', 'recovered', 'close', undefined, 'weird'].map(bucketOf),
    ['active', 'active', 'stale', 'error', 'recovered', 'close', 'active', 'active']);
});

test('a snapshot fills the buckets, each sorted by last activity, newest first, ties by id', () => {
  const store = loaded([
    task('a', { updated_at: 10 }), task('b', { updated_at: 30 }), task('c', { updated_at: 20 }),
    task('d', { updated_at: 20 }), task('f', { status: 'error' }), task('x', { status: 'close' }),
    task('new', { updated_at: undefined, created_at: 25 }),
  ]);
  assert.equal(store.size, 7);
  assert.deepEqual(ids(store, 'active'), ['b', 'new', 'c', 'd', 'a']);
  assert.deepEqual(ids(store, 'error'), ['f']);
  assert.deepEqual(ids(store, 'close'), ['x']);
  assert.equal(store.count('stale'), 0);
  assert.equal(store.get('a').task.task_id, 'a');
});

test('nothing applies before applyPending; every queue asks for a frame', () => {
  let asked = 0;
  const store = new TaskStore({ onQueue: () => { asked++; } });
  store.queueSnapshot({ a: task('a') });
  store.queueDelta({ upserts: { b: task('b') } });
  store.queueRemoval(['a']);
  assert.equal(asked, 3);
  assert.equal(store.size, 0);
  frame(store);
  assert.deepEqual(ids(store, 'active'), ['b']);
});

test('a new snapshot drops the tasks it does not hold, and the changes queued before it', () => {
  const store = loaded([task('a'), task('b')]);
  store.queueDelta({ upserts: { c: task('c') } });
  store.queueSnapshot({ b: task('b', { n: 5 }) });
  frame(store);
  assert.deepEqual(ids(store, 'active'), ['b']);
  assert.equal(store.get('b').task.n, 5);
  assert.equal(store.has('a'), false);
  assert.equal(store.has('c'), false);
});

test('deltas: a later change of a task replaces the earlier, removed-then-created keeps the task', () => {
  const store = loaded([task('a'), task('b')]);
  store.queueDelta({ upserts: { a: task('a', { n: 1 }) } });
  store.queueDelta({ upserts: { a: task('a', { n: 2 }) } });
  store.queueDelta({ removed: ['b'], upserts: { b: task('b', { n: 9, updated_at: 200 }) } });
  store.queueDelta({ removed: ['zzz'] });
  frame(store);
  assert.equal(store.get('a').task.n, 2);
  assert.equal(store.get('b').task.n, 9);
  assert.deepEqual(ids(store, 'active'), ['b', 'a']);
  store.queueDelta({ upserts: { a: task('a', { n: 3 }) } });
  store.queueDelta({ removed: ['a'] });
  frame(store);
  assert.equal(store.has('a'), false, 'an upsert followed by a removal in a later delta is gone');
});

test('a status change moves a task between buckets; removals leave every bucket', () => {
  const store = loaded([task('a'), task('b')]);
  store.queueDelta({ upserts: { a: task('a', { status: 'close', updated_at: 150 }) } });
  frame(store);
  assert.deepEqual(ids(store, 'active'), ['b']);
  assert.deepEqual(ids(store, 'close'), ['a']);
  store.queueRemoval(['a', 'b']);
  frame(store);
  assert.equal(store.size, 0);
  for (const def of BUCKETS) assert.equal(store.count(def.key), 0, def.key);
});

test('changed ids: what moved is redrawn, an identical update is not, clearChanged forgets', () => {
  const store = loaded([task('a'), task('b')]);
  assert.ok(store.isChanged('a'));
  store.clearChanged();
  assert.equal(store.isChanged('a'), false);
  store.queueDelta({ upserts: { a: task('a'), b: task('b', { n: 1 }) } });
  store.applyPending();
  assert.equal(store.isChanged('a'), false, 'same fields: no redraw');
  assert.equal(store.isChanged('b'), true);
  assert.equal(store.refreshView('active'), true);
  assert.equal(store.refreshView('active'), false, 'nothing new since');
  assert.equal(store.refreshView('stale'), false);
});

test('invalid tasks in a delta are ignored', () => {
  const store = loaded([task('a')]);
  store.queueDelta({ upserts: { x: null, y: 'text' } });
  frame(store);
  assert.equal(store.size, 1);
});

test('search narrows the views by id, description and project; the counts stay whole', () => {
  const store = loaded([
    task('alpha-1', { desc: 'Train model' }), task('beta-1', { project: 'Vision' }),
    task('gamma', { desc: 'ETL', status: 'close' }),
  ]);
  assert.equal(store.setQuery('vision'), true);
  frame(store);
  assert.deepEqual(ids(store, 'active'), ['beta-1']);
  assert.equal(store.count('active'), 2);
  assert.equal(store.matchCount(), 1);
  store.setQuery('train');
  frame(store);
  assert.deepEqual(ids(store, 'active'), ['alpha-1']);
  store.setQuery('a');
  frame(store);
  assert.equal(store.matchCount(), 3);
  assert.equal(store.setQuery('a'), false, 'the same query changes nothing');
  store.setQuery('');
  frame(store);
  assert.equal(store.matchCount(), 3);
  // A task whose description changes is found by the new one.
  store.setQuery('renamed');
  store.queueDelta({ upserts: { gamma: task('gamma', { desc: 'Renamed', status: 'close', updated_at: 101 }) } });
  frame(store);
  assert.deepEqual(ids(store, 'close'), ['gamma']);
});

test('grouped: sorted by project, tasks without a project last, then by activity', () => {
  const store = loaded([
    task('n1', { updated_at: 50 }), task('b1', { project: 'beta', updated_at: 10 }),
    task('a1', { project: 'alpha', updated_at: 10 }), task('a2', { project: 'alpha', updated_at: 20 }),
    task('b2', { project: 'beta', updated_at: 30 }),
  ], (s) => s.setGrouped(true));
  assert.equal(store.grouped, true);
  assert.deepEqual(ids(store, 'active'), ['a2', 'a1', 'b2', 'b1', 'n1']);
  store.setGrouped(false);
  frame(store);
  assert.deepEqual(ids(store, 'active'), ['n1', 'b2', 'a2', 'a1', 'b1']);
});

test('the incremental sort agrees with a full sort over many random frames', () => {
  let seed = 12345;
  const random = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  for (const grouped of [false, true]) {
    const store = new TaskStore();
    store.setGrouped(grouped);
    const statuses = ['update', 'update', 'stale', 'close', 'error'];
    for (let f = 0; f < 200; f++) {
      const upserts = {};
      const removed = [];
      for (let k = 0; k < 8; k++) {
        const id = `t${random(60)}`;
        if (random(6) === 0) removed.push(id);
        else upserts[id] = task(id, { updated_at: random(40), status: statuses[random(5)], project: ['', 'p', 'q'][random(3)] });
      }
      store.queueDelta({ upserts, removed });
      if (f % 50 === 25) store.setQuery(['t1', '', 'p', 'project:q', 'status:fail t2'][random(5)]);
      frame(store);
      const matcher = compileQuery(store.query);
      for (const def of BUCKETS) {
        const view = store.view(def.key);
        const sorted = [...view].sort((a, b) => (grouped && a.project !== b.project
          ? (!a.project) - (!b.project) || (a.project < b.project ? -1 : 1)
          : b.activity - a.activity || (a.id < b.id ? -1 : 1)));
        assert.deepEqual(view.map((e) => e.id), sorted.map((e) => e.id), `frame ${f} ${def.key}`);
        const want = [...view].filter((e) => e.bucket === def.key && store.get(e.id) === e);
        assert.equal(want.length, view.length, `frame ${f} ${def.key}: only live entries of this bucket`);
        const matching = [];
        for (let i = 0; i < 60; i++) {
          const e = store.get(`t${i}`);
          if (e && e.bucket === def.key && (!matcher || matcher(e.task))) matching.push(e.id);
        }
        assert.deepEqual(view.map((e) => e.id).sort(), matching.sort(), `frame ${f} ${def.key}: every match`);
      }
    }
  }
});

test('groupRuns: one run per project with its count and capped progress', () => {
  const store = loaded([
    task('a1', { project: 'alpha', n: 5, total: 10 }), task('a2', { project: 'alpha', n: 30, total: 20 }),
    task('a3', { project: 'alpha', n: 4 }), task('n1', { n: 1, total: 4 }),
  ], (s) => s.setGrouped(true));
  const runs = groupRuns(store.view('active'));
  assert.deepEqual(runs.map(({ name, from, to, count, n, total }) => ({ name, from, to, count, n, total })), [
    { name: 'alpha', from: 0, to: 3, count: 3, n: 25, total: 30 },
    { name: NO_PROJECT, from: 3, to: 4, count: 1, n: 1, total: 4 },
  ]);
  assert.deepEqual(groupRuns([]), []);
});

test('projectTotals: per project and bucket over the tasks that match, no project last', () => {
  const store = loaded([
    task('z1', { n: 1, total: 2 }), task('b1', { project: 'beta', status: 'close', n: 10, total: 10 }),
    task('b2', { project: 'beta', status: 'stale' }), task('a1', { project: 'alpha', n: 1, total: 4 }),
    task('a2', { project: 'alpha', status: 'error' }),
  ]);
  const rows = store.projectTotals().map((s) => [s.name, s.tasks, s.active, s.stale, s.error, s.recovered, s.close, s.n, s.total]);
  assert.deepEqual(rows, [
    ['alpha', 2, 1, 0, 1, 0, 0, 1, 4],
    ['beta', 2, 0, 1, 0, 0, 1, 10, 10],
    [NO_PROJECT, 1, 1, 0, 0, 0, 0, 1, 2],
  ]);
  store.setQuery('beta');
  frame(store);
  assert.deepEqual(store.projectTotals().map((s) => s.name), ['beta']);
});

test('the summary is stale once after a change, not after an identical update', () => {
  const store = loaded([task('a')]);
  assert.equal(store.takeSummaryStale(), true);
  assert.equal(store.takeSummaryStale(), false);
  store.queueDelta({ upserts: { a: task('a') } });
  frame(store);
  assert.equal(store.takeSummaryStale(), false);
  store.queueRemoval(['a']);
  frame(store);
  assert.equal(store.takeSummaryStale(), true);
  store.setGrouped(true);
  assert.equal(store.takeSummaryStale(), true);
});

test('search: message, error, status words, meta values and field terms; several terms AND', () => {
  const store = loaded([
    task('web-1', { project: 'web', message: 'waiting for lock', meta: { host: 'node-07' } }),
    task('etl-1', { status: 'error', error: 'Disk full on /scratch', meta: { project: 'data', host: 'node-03' } }),
    task('etl-2', { status: 'close', meta: { project: 'data', host: 'node-07' } }),
  ]);
  const all = () => BUCKETS.flatMap((def) => ids(store, def.key)).sort();
  const search = (q) => { store.setQuery(q); frame(store); return all(); };
  assert.deepEqual(search('LOCK'), ['web-1'], 'message');
  assert.deepEqual(search('disk full'), ['etl-1'], 'error text, two words');
  assert.deepEqual(search('failed'), ['etl-1'], 'the status as shown');
  assert.deepEqual(search('status:error'), ['etl-1']);
  assert.deepEqual(search('status:done'), ['etl-2']);
  assert.deepEqual(search('node-07'), ['etl-2', 'web-1'], 'meta values');
  assert.deepEqual(search('project:data'), ['etl-1', 'etl-2'], 'meta.project');
  assert.deepEqual(search('host:node-07 project:data'), ['etl-2']);
  assert.deepEqual(search(''), ['etl-1', 'etl-2', 'web-1']);
  // A task that changes is matched by what it says now.
  store.setQuery('host:node-09');
  store.queueDelta({ upserts: { 'web-1': task('web-1', { project: 'web', updated_at: 101, meta: { host: 'node-09' } }) } });
  frame(store);
  assert.deepEqual(all(), ['web-1']);
});

test('meta.project groups and rolls up like project; a project field wins over it', () => {
  const store = loaded([
    task('a', { meta: { project: 'data' }, n: 1, total: 2 }), task('b', { project: 'data', updated_at: 50 }),
    task('c', { project: 'web', meta: { project: 'data' } }), task('d'),
  ], (s) => s.setGrouped(true));
  assert.deepEqual(ids(store, 'active'), ['a', 'b', 'c', 'd']);
  assert.deepEqual(groupRuns(store.view('active')).map((r) => [r.name, r.count]), [['data', 2], ['web', 1], [NO_PROJECT, 1]]);
  assert.deepEqual(store.projectTotals().map((s) => [s.name, s.tasks, s.n, s.total]),
    [['data', 2, 1, 2], ['web', 1, 0, 0], [NO_PROJECT, 1, 0, 0]]);
});

test('status chips: counts per chip from the buckets, matches while searching, the filter hides buckets', () => {
  let asked = 0;
  const store = new TaskStore({ onQueue: () => { asked++; } });
  store.queueSnapshot(Object.fromEntries([
    task('s1', { status: 'start' }), task('u1'), task('r1', { status: 'recovered' }),
    task('st1', { status: 'stale' }), task('e1', { status: 'error', project: 'p' }),
    task('e2', { status: 'error' }), task('c1', { status: 'close', project: 'p' }),
  ].map((t) => [t.task_id, t])));
  frame(store);
  assert.deepEqual(FILTERS.map((f) => f.key), ['all', 'running', 'stalled', 'stale', 'failed', 'done']);
  assert.deepEqual(store.chipCounts(), { all: 7, running: 3, stalled: 0, stale: 1, failed: 2, done: 1 });
  store.queueDelta({ upserts: { u1: task('u1', { status: 'error', updated_at: 200 }) }, removed: ['c1'] });
  frame(store);
  assert.deepEqual(store.chipCounts(), { all: 6, running: 2, stalled: 0, stale: 1, failed: 3, done: 0 });
  store.setQuery('project:p');
  frame(store);
  assert.deepEqual(store.chipCounts(), { all: 1, running: 0, stalled: 0, stale: 0, failed: 1, done: 0 }, 'matches of the search');
  store.setQuery('');
  frame(store);

  assert.equal(store.filter, 'all');
  assert.ok(BUCKETS.every((def) => store.shows(def.key)));
  store.takeSummaryStale();
  const before = asked;
  assert.equal(store.setFilter('failed'), true);
  assert.equal(asked, before + 1, 'a new filter asks for a frame');
  assert.equal(store.takeSummaryStale(), true, 'and a redraw of the chips');
  assert.equal(store.setFilter('failed'), false);
  assert.deepEqual(BUCKETS.filter((def) => store.shows(def.key)).map((def) => def.key), ['error', 'acked']);
  assert.deepEqual(BUCKETS.filter((def) => store.displays(def.key)).map((def) => def.key), ['error'],
    'no acknowledged failure: that bucket is left off');
  assert.deepEqual(store.projectTotals().map((s) => [s.name, s.tasks, s.error, s.active]), [['p', 1, 1, 0], [NO_PROJECT, 2, 2, 0]],
    'the projects table counts what the chip shows');
  store.setFilter('running');
  assert.deepEqual(BUCKETS.filter((def) => store.shows(def.key)).map((def) => def.key), ['active', 'recovered']);
  store.setFilter('nonsense');
  assert.equal(store.filter, 'all');
});

test('observe: watchers hear each incoming change as it is queued, before the store holds it', () => {
  const store = new TaskStore();
  const heard = [];
  store.observe({
    snapshot: (tasks) => heard.push(['snapshot', Object.keys(tasks)]),
    delta: (msg) => heard.push(['delta', Object.keys(msg.upserts || {}), store.get('a')?.task.n]),
    removal: (ids) => heard.push(['removal', ids]),
  });
  store.observe({});   // every method is optional
  store.queueSnapshot({ a: { task_id: 'a', n: 1, status: 'update' } });
  store.applyPending();
  store.queueDelta({ upserts: { a: { task_id: 'a', n: 2, status: 'update' } }, removed: [] });
  store.queueRemoval(['a']);
  assert.deepEqual(heard, [['snapshot', ['a']], ['delta', ['a'], 1], ['removal', ['a']]]);
});

test('nested progress: a parent on the board folds its children until it is expanded; a search shows them', () => {
  const store = new TaskStore();
  const ids = () => store.view('active').map((e) => e.id).sort();
  store.queueSnapshot({
    job: { task_id: 'job', status: 'update', n: 3, total: 4, updated_at: 5, children: { count: 2, closed: 0, failed: 0, running: 2 } },
    a: { task_id: 'a', status: 'update', n: 1, total: 2, updated_at: 4, parent: 'job' },
    b: { task_id: 'b', status: 'update', n: 2, total: 2, updated_at: 3, parent: 'job' },
    orphan: { task_id: 'orphan', status: 'update', updated_at: 2, parent: 'not-on-the-board' },
  });
  store.applyPending();
  store.refreshView('active');
  assert.deepEqual(ids(), ['job', 'orphan'], 'children folded; a child whose parent is absent shows');
  assert.equal(store.toggleChildren('job'), true);
  assert.equal(store.isExpanded('job'), true);
  store.refreshView('active');
  assert.deepEqual(ids(), ['a', 'b', 'job', 'orphan']);
  store.toggleChildren('job');
  store.refreshView('active');
  assert.deepEqual(ids(), ['job', 'orphan']);
  store.setQuery('b');
  store.refreshView('active');
  assert.ok(ids().includes('b'), 'a search finds a folded child');
});
