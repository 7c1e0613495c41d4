// Failures first and kept, and stalled tasks (static/js/failures.js, and how the task store
// places them), without a browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_STALLED_RULE, fmtEvery, isAcknowledged, isStalled, newFailures, readStalledRule,
  stalledAfter, stalledNote,
} from '../../static/js/failures.js';
import { BUCKETS, FILTERS, TaskStore, placeOf } from '../../static/js/task_store.js';

const NOW = 1_000_000;
const task = (fields = {}) => ({ task_id: 't', status: 'update', updated_at: NOW, ...fields });

test('isStalled: running and silent past max(factor x cadence, min_seconds)', () => {
  const rule = { factor: 10, min_seconds: 60 };
  // No cadence yet: min_seconds.
  assert.equal(isStalled(task({ updated_at: NOW - 60 }), NOW, rule), false, 'exactly min_seconds is not past it');
  assert.equal(isStalled(task({ updated_at: NOW - 61 }), NOW, rule), true);
  // A slow task's own rhythm: 30 s between events -> 300 s.
  assert.equal(isStalled(task({ cadence: 30, updated_at: NOW - 200 }), NOW, rule), false);
  assert.equal(isStalled(task({ cadence: 30, updated_at: NOW - 301 }), NOW, rule), true);
  // A fast one: 2 s x 10 = 20 s, but never below min_seconds.
  assert.equal(isStalled(task({ cadence: 2, updated_at: NOW - 59 }), NOW, rule), false);
  assert.equal(stalledAfter(task({ cadence: 2 }), rule), 60);
  assert.equal(stalledAfter(task({ cadence: 30 }), rule), 300);
  // Only start, update (or none), recovered.
  for (const status of ['start', 'update', undefined, 'recovered']) {
    assert.equal(isStalled(task({ status, updated_at: NOW - 999 }), NOW, rule), true, String(status));
  }
  for (const status of ['close', 'error', 'stale']) {
    assert.equal(isStalled(task({ status, updated_at: NOW - 999 }), NOW, rule), false, status);
  }
  assert.equal(isStalled(task({ updated_at: undefined }), NOW, rule), false, 'no time, no verdict');
  assert.equal(isStalled(null, NOW, rule), false);
  // The defaults until /summary says: 10 x cadence, 60 s.
  assert.deepEqual(DEFAULT_STALLED_RULE, { factor: 10, min_seconds: 60 });
  assert.equal(isStalled(task({ updated_at: NOW - 61 }), NOW), true);
  // A small rule, as the browser test starts the server with.
  assert.equal(isStalled(task({ cadence: 0.1, updated_at: NOW - 1.5 }), NOW, { factor: 2, min_seconds: 1 }), true);
});

test('readStalledRule: the server\'s numbers when sane, else the defaults', () => {
  assert.deepEqual(readStalledRule({ factor: 3, min_seconds: 5 }), { factor: 3, min_seconds: 5 });
  assert.deepEqual(readStalledRule({ factor: -1, min_seconds: -1 }), DEFAULT_STALLED_RULE);
  assert.deepEqual(readStalledRule({ factor: 0, min_seconds: 60 }), { factor: 0, min_seconds: 60 });
  assert.equal(isStalled(task({ updated_at: NOW - 9999 }), NOW, { factor: 0, min_seconds: 60 }), false,
    'factor 0: never flagged, as the server');
  assert.deepEqual(readStalledRule(undefined), DEFAULT_STALLED_RULE);
  assert.deepEqual(readStalledRule({ factor: '2' }), DEFAULT_STALLED_RULE);
  assert.deepEqual(readStalledRule({ min_seconds: 0 }), { factor: 10, min_seconds: 0 });
});

test('stalledNote: how long silent and the usual rhythm', () => {
  const rule = { factor: 10, min_seconds: 60 };
  assert.equal(stalledNote(task({ cadence: 2, updated_at: NOW - 240 }), NOW, rule),
    'stalled — no event for 4 min, usually every 2 s');
  assert.equal(stalledNote(task({ updated_at: NOW - 90 }), NOW, rule), 'stalled — no event for 1 min');
  assert.equal(stalledNote(task({ cadence: 1.25, updated_at: NOW - 75 }), NOW, rule),
    'stalled — no event for 1 min, usually every 1.3 s');
  assert.equal(stalledNote(task({ updated_at: NOW - 5 }), NOW, rule), '');
  assert.equal(fmtEvery(90), '1.5 min');
  assert.equal(fmtEvery(7200), '2 h');
  assert.equal(fmtEvery(0), '');
});

test('isAcknowledged: a failure with acknowledged_at', () => {
  assert.equal(isAcknowledged(task({ status: 'error', acknowledged_at: NOW })), true);
  assert.equal(isAcknowledged(task({ status: 'error' })), false);
  assert.equal(isAcknowledged(task({ status: 'update', acknowledged_at: NOW })), false, 'only failures');
});

test('newFailures: the first call only learns; later ones tell the new, a task failing again is new', () => {
  const f = (id, at) => [id, { task_id: id, status: 'error', done_at: at }];
  let r = newFailures(null, [f('a', 1), f('b', 2)]);
  assert.deepEqual(r.fresh, [], 'present at first load: never told');
  r = newFailures(r.seen, [f('a', 1), f('b', 2), f('c', 3)]);
  assert.deepEqual(r.fresh.map(([id]) => id), ['c']);
  r = newFailures(r.seen, [f('c', 3)]);            // a and b acknowledged or gone
  assert.deepEqual(r.fresh, []);
  assert.equal(r.seen.size, 1, 'forgets what is gone');
  r = newFailures(r.seen, [f('c', 3), f('a', 9)]);  // a reopened and failed again
  assert.deepEqual(r.fresh.map(([id]) => id), ['a']);
  // Acknowledged and withdrawn again: the same failure, not a new one.
  const acked = (id, at) => [id, { task_id: id, status: 'error', done_at: at, acknowledged_at: at + 1 }];
  r = newFailures(r.seen, [acked('c', 3), f('a', 9)]);
  assert.deepEqual(r.fresh, []);
  r = newFailures(r.seen, [f('c', 3), f('a', 9)]);
  assert.deepEqual(r.fresh, [], 'Undo is no new failure');
  r = newFailures(r.seen, [f('c', 3), f('a', 9), acked('d', 5)]);
  assert.deepEqual(r.fresh, [], 'a failure already acknowledged elsewhere is not told');
});

test('placeOf: acknowledged failures and stalled running tasks get their own buckets', () => {
  const rule = { factor: 10, min_seconds: 60 };
  assert.equal(placeOf(task({ status: 'error' }), NOW, rule), 'error');
  assert.equal(placeOf(task({ status: 'error', acknowledged_at: NOW }), NOW, rule), 'acked');
  assert.equal(placeOf(task({ updated_at: NOW - 100 }), NOW, rule), 'stalled');
  assert.equal(placeOf(task({ status: 'recovered', updated_at: NOW - 100 }), NOW, rule), 'stalled');
  assert.equal(placeOf(task({ status: 'stale', updated_at: NOW - 100 }), NOW, rule), 'stale', 'the server\'s stale stays stale');
  assert.equal(placeOf(task({ updated_at: NOW - 10 }), NOW, rule), 'active');
  assert.deepEqual(BUCKETS.map((b) => b.key), ['error', 'stalled', 'active', 'stale', 'recovered', 'close', 'acked'],
    'failures first, acknowledged ones last');
  assert.deepEqual(FILTERS.find((f) => f.key === 'failed').buckets, ['error', 'acked'], 'Failed counts both');
});

function frame(store) {
  store.applyPending();
  for (const def of BUCKETS) store.refreshView(def.key);
}
const ids = (store, key) => store.view(key).map((e) => e.id);

test('the store: nothing stalls before the clock is set; the sweep moves tasks both ways', () => {
  const store = new TaskStore();
  store.queueSnapshot({ a: task({ task_id: 'a', updated_at: NOW - 100 }), b: task({ task_id: 'b', updated_at: NOW - 5 }) });
  frame(store);
  assert.deepEqual(ids(store, 'active'), ['b', 'a'], 'no clock: nothing stalled');
  assert.equal(store.sweepStalled(NOW), 1);
  frame(store);
  assert.deepEqual(ids(store, 'stalled'), ['a']);
  assert.deepEqual(ids(store, 'active'), ['b']);
  assert.equal(store.chipCounts().stalled, 1);
  assert.equal(store.chipCounts().running, 1, 'Running leaves the stalled out');
  // Time passes: b stalls too; an event brings a back.
  store.sweepStalled(NOW + 60);
  store.queueDelta({ upserts: { a: task({ task_id: 'a', updated_at: NOW + 60, cadence: 2 }) } });
  frame(store);
  assert.deepEqual(ids(store, 'stalled'), ['b']);
  assert.deepEqual(ids(store, 'active'), ['a']);
  // A wider rule from /summary: b is not stalled by it.
  assert.equal(store.setStalledRule({ factor: 10, min_seconds: 600 }), true);
  frame(store);
  assert.deepEqual(ids(store, 'stalled'), []);
  assert.equal(store.setStalledRule({ factor: 10, min_seconds: 600 }), false, 'the same rule: nothing to do');
});

test('the store: acknowledging moves a failure to the acknowledged bucket, its next event takes it out', () => {
  const store = new TaskStore();
  store.setNow(NOW);
  store.queueSnapshot({
    f1: task({ task_id: 'f1', status: 'error', updated_at: NOW - 10 }),
    f2: task({ task_id: 'f2', status: 'error', updated_at: NOW - 5 }),
  });
  frame(store);
  assert.deepEqual(ids(store, 'error'), ['f2', 'f1'], 'newest failure first');
  assert.equal(store.displays('acked'), false, 'the empty acknowledged bucket is left off');
  store.queueDelta({ upserts: { f1: task({ task_id: 'f1', status: 'error', updated_at: NOW - 10, acknowledged_at: NOW }) } });
  frame(store);
  assert.deepEqual(ids(store, 'error'), ['f2']);
  assert.deepEqual(ids(store, 'acked'), ['f1']);
  assert.equal(store.displays('acked'), true);
  assert.equal(store.chipCounts().failed, 2, 'still counted as failed');
  assert.equal(store.count('error'), 1, 'the title counts the unacknowledged');
  // The server removes acknowledged_at with the task's next event (here: reopened).
  store.queueDelta({ upserts: { f1: task({ task_id: 'f1', status: 'start', updated_at: NOW }) } });
  frame(store);
  assert.deepEqual(ids(store, 'acked'), []);
  assert.deepEqual(ids(store, 'active'), ['f1']);
  // The Stalled chip alone shows its bucket even while empty.
  store.setFilter('stalled');
  assert.equal(store.displays('stalled'), true);
  store.setFilter('all');
  assert.equal(store.displays('stalled'), false);
});

test('the store: the project rule from /summary regroups and re-searches every task', () => {
  const store = new TaskStore();
  store.queueSnapshot({
    'etl/1': { task_id: 'etl/1', status: 'update', updated_at: 3 },
    'etl:2': { task_id: 'etl:2', status: 'update', updated_at: 2 },
    'own/1': { task_id: 'own/1', status: 'update', updated_at: 1, project: 'mine' },
    '/root': { task_id: '/root', status: 'update', updated_at: 0 },
  });
  store.setQuery('project:etl');
  frame(store);
  assert.deepEqual(ids(store, 'active'), [], 'no rule: no project from the id');
  assert.equal(store.setProjectRule({ id_separators: '/:' }), true);
  frame(store);
  assert.deepEqual(ids(store, 'active'), ['etl/1', 'etl:2']);
  assert.equal(store.get('own/1').project, 'mine', 'a project field wins');
  assert.equal(store.get('/root').project, '', 'a separator at position 0 names nothing');
  assert.equal(store.setProjectRule({ id_separators: '/:' }), false);
  store.setProjectRule({ id_separators: '' });
  frame(store);
  assert.deepEqual(ids(store, 'active'), [], 'empty separators: the rule is off');
});
