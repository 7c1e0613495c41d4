// The table view's rows (static/js/table_model.js): a stable order while tasks update, sorting
// on request, failures pinned on top, the status words, tqdm's parts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COLUMNS, TableModel, comparator, isPinned, sortEntries, statusOf, tqdmParts } from '../../static/js/table_model.js';

const NOW = 1000;
// A store entry as task_store.js makes them: { id, task, project }.
const entry = (id, fields = {}) => ({ id, project: fields.project || '', task: { task_id: id, status: 'update', n: 0, total: 10, updated_at: 900, created_at: 800, ...fields } });
const ids = (model) => model.rows().map((e) => e.id);
// A task's next state, as the store holds it: the same entry, a new task object.
const update = (e, fields) => { e.task = { ...e.task, ...fields }; return e; };

test('sync fills an empty table in the sort order, without calling it out of date', () => {
  const m = new TableModel();
  m.sortColumn = 'id';
  m.sortDir = 'ascending';
  const a = entry('a'); const b = entry('b'); const c = entry('c');
  assert.equal(m.sync([[c, a], [b]], NOW), true);
  assert.deepEqual(ids(m), ['a', 'b', 'c']);
  assert.equal(m.outOfDate, false);
  assert.equal(m.sync([[c, a], [b]], NOW), false, 'nothing changed');
});

test('the order stays stable while sort keys change; re-sorted only on request', () => {
  const m = new TableModel();   // default: updated, newest first
  const a = entry('a', { updated_at: 903 }); const b = entry('b', { updated_at: 902 }); const c = entry('c', { updated_at: 901 });
  m.sync([[a, b, c]], NOW);
  assert.deepEqual(ids(m), ['a', 'b', 'c']);
  assert.equal(m.outOfDate, false);
  // c is updated: it would sort first, but keeps its place; the model says the order is old.
  update(c, { updated_at: 950, n: 5 });
  assert.equal(m.sync([[c, a, b]], NOW), false, 'no row moved');
  assert.deepEqual(ids(m), ['a', 'b', 'c']);
  assert.equal(m.outOfDate, true);
  // A new task goes at the end, a removed one disappears, the rest stay put.
  const d = entry('d', { updated_at: 999 });
  assert.equal(m.sync([[d, c, b]], NOW), true);
  assert.deepEqual(ids(m), ['b', 'c', 'd']);
  // On request: the sort applies.
  m.sort(NOW);
  assert.deepEqual(ids(m), ['d', 'c', 'b']);
  assert.equal(m.outOfDate, false);
});

test('new tasks appended together are in the sort order among themselves', () => {
  const m = new TableModel();
  m.sortColumn = 'id';
  m.sortDir = 'ascending';
  const mid = entry('m');
  m.sync([[mid]], NOW);
  m.sync([[entry('z'), mid, entry('b'), entry('k')]], NOW);
  assert.deepEqual(ids(m), ['m', 'b', 'k', 'z']);
  assert.equal(m.outOfDate, true, 'rows appended to a table in order');
});

test('sortBy: a first click in the column\'s direction, again reverses; aria names', () => {
  const m = new TableModel();
  const rows = [entry('a', { n: 3, rate: 2 }), entry('b', { n: 9, rate: 0.5 }), entry('c', { n: 1 })];
  m.sync([rows], NOW);
  m.sortBy('count', NOW);
  assert.deepEqual([m.sortColumn, m.sortDir], ['count', 'descending']);
  assert.deepEqual(ids(m), ['b', 'a', 'c']);
  m.sortBy('count', NOW);
  assert.equal(m.sortDir, 'ascending');
  assert.deepEqual(ids(m), ['c', 'a', 'b']);
  // A missing value sorts last in both directions.
  m.sortBy('rate', NOW);
  assert.deepEqual(ids(m), ['a', 'b', 'c']);
  m.sortBy('rate', NOW);
  assert.deepEqual(ids(m), ['b', 'a', 'c']);
  m.sortBy('desc', NOW);
  assert.equal(m.sortDir, 'ascending');
  assert.ok(COLUMNS.every((col) => col.first === 'ascending' || col.first === 'descending'));
});

test('failed tasks not acknowledged are pinned on top whatever the sort; acknowledged ones go back', () => {
  const m = new TableModel();
  m.sortColumn = 'id';
  m.sortDir = 'ascending';
  const a = entry('a'); const b = entry('b'); const z = entry('z', { status: 'error', error: 'boom' });
  m.sync([[a, b, z]], NOW);
  assert.deepEqual(ids(m), ['z', 'a', 'b']);
  assert.equal(m.pinned.length, 1);
  m.sortBy('id', NOW);   // descending
  assert.deepEqual(ids(m), ['z', 'b', 'a'], 'still on top');
  // b fails: it leaves its place for the pinned rows at once.
  update(b, { status: 'error', error: 'disk full' });
  assert.equal(m.sync([[a], [b, z]], NOW), true);
  assert.deepEqual(ids(m), ['z', 'b', 'a']);
  assert.equal(m.pinned.length, 2);
  // Acknowledged (the store may deem it unchanged: pinnedChanged tells): back among the rest.
  update(z, { acknowledged_at: 990 });
  assert.equal(m.pinnedChanged(), true);
  m.sync([[a], [b, z]], NOW);
  assert.deepEqual(ids(m), ['b', 'a', 'z']);
  assert.equal(isPinned(b.task), true);
  assert.equal(isPinned(z.task), false);
});

test('a re-created task (a new entry under the same id) is a new row', () => {
  const m = new TableModel();
  m.sortColumn = 'id';
  m.sortDir = 'ascending';
  const a = entry('a'); const b = entry('b');
  m.sync([[a, b]], NOW);
  const a2 = entry('a');
  m.sync([[a2, b]], NOW);
  assert.deepEqual(ids(m), ['b', 'a']);
  assert.equal(m.at(1), a2);
});

test('sortEntries equals a sort by comparator, ties by id, and handles 100,000 rows', () => {
  const rows = [];
  for (let i = 0; i < 2000; i++) rows.push(entry(`t${String(i).padStart(5, '0')}`, { n: i % 17, desc: `job ${i % 13}` }));
  for (const col of COLUMNS) {
    for (const dir of ['ascending', 'descending']) {
      const want = rows.slice().sort(comparator(col.id, dir, NOW)).map((e) => e.id);
      assert.deepEqual(sortEntries(rows, col.id, dir, NOW).map((e) => e.id), want, `${col.id} ${dir}`);
    }
  }
  const big = [];
  for (let i = 0; i < 100000; i++) big.push(entry(`x${i}`, { updated_at: (i * 7919) % 100003 }));
  const t0 = performance.now();
  const sorted = sortEntries(big, 'updated', 'descending', NOW);
  const ms = performance.now() - t0;
  assert.equal(sorted[0].task.updated_at, 100002);
  assert.ok(ms < 2000, `100,000 rows sorted in ${ms.toFixed(0)} ms`);
});

test('statusOf: the chips\' words, ended early, stalled past the cadence', () => {
  assert.equal(statusOf({ status: 'update', updated_at: 999 }, NOW).word, 'running');
  assert.equal(statusOf({ status: 'start', updated_at: 999 }, NOW).word, 'running');
  assert.equal(statusOf({ updated_at: 999 }, NOW).word, 'running');
  assert.equal(statusOf({ status: 'stale' }, NOW).word, 'stale');
  assert.equal(statusOf({ status: 'error' }, NOW).word, 'failed');
  assert.equal(statusOf({ status: 'recovered', updated_at: 999 }, NOW).word, 'recovered');
  assert.equal(statusOf({ status: 'close', n: 10, total: 10 }, NOW).word, 'done');
  assert.equal(statusOf({ status: 'close', n: 45, total: 100 }, NOW).word, 'ended at 45%');
  // Silent for 500 s with a 2 s cadence: stalled (failures.js isStalled, its default rule).
  assert.equal(statusOf({ status: 'update', updated_at: 500, cadence: 2 }, NOW).word, 'stalled');
  assert.ok(statusOf({ status: 'error' }, NOW).rank < statusOf({ status: 'update', updated_at: 999 }, NOW).rank);
});

test('tqdmParts: the cards\' tqdm line split into columns (overdue, scaled units)', () => {
  const t = { status: 'update', n: 42, total: 100, created_at: 988, updated_at: 1000, rate: 3.41, eta: 17 };
  assert.deepEqual(tqdmParts(t, 1000), { counts: '42/100', elapsed: '00:12', eta: '00:17', rate: '3.41 it/s' });
  assert.equal(tqdmParts(t, 1030).eta, 'overdue');
  const GiB = 2 ** 30;
  const dl = { status: 'update', n: 1.81 * GiB, total: 3.17 * GiB, unit: 'B', created_at: 988, updated_at: 1000, rate: 155 * 2 ** 20, eta: 9 };
  assert.deepEqual(tqdmParts(dl, 1000), { counts: '1.81G/3.17G', elapsed: '00:12', eta: '00:09', rate: '155MB/s' });
  assert.deepEqual(tqdmParts({ status: 'update', n: 7, unit: 'files', created_at: 990, updated_at: 1000 }, 1000),
    { counts: '7 files', elapsed: '00:10', eta: '', rate: '? files/s' });
});

test('touched: values that changed in place put the order out of date only when it is', () => {
  const m = new TableModel();
  m.sortColumn = 'count';
  m.sortDir = 'descending';
  const a = entry('a', { n: 9 }); const b = entry('b', { n: 5 }); const c = entry('c', { n: 1 });
  m.sync([[a, b, c]], NOW);
  assert.deepEqual(ids(m), ['a', 'b', 'c']);
  update(b, { n: 6 });
  m.touched([b], NOW);
  assert.equal(m.outOfDate, false, '6 is still between 9 and 1');
  update(c, { n: 7 });
  m.touched([c], NOW);
  assert.equal(m.outOfDate, true, '7 after 6');
  assert.deepEqual(ids(m), ['a', 'b', 'c'], 'and nothing moved');
  m.sort(NOW);
  assert.deepEqual(ids(m), ['a', 'c', 'b']);
  update(a, { n: 0 });
  m.touched([entry('x'), a], NOW);   // an entry that is not a row is ignored
  assert.equal(m.outOfDate, true);
});
