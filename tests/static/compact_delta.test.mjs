// The compact delta decoder (static/js/compact_delta.js): v2 frames in, the v1-shaped tasks the
// store takes out, without a browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SHORT_KEYS, createCompactDecoder, encodeTask, longKey, shortKey } from '../../static/js/compact_delta.js';
import { BUCKETS, TaskStore } from '../../static/js/task_store.js';

const T = 1767225600000;   // 2026-01-01T00:00:00Z, epoch ms

const snapshotFrame = (tasks, t = T) => ({ type: 'snapshot', v: 2, seq: 1, t, tasks });
const deltaFrame = (u, x = [], t = T) => ({ type: 'delta', v: 2, seq: 2, t, u, x });

// A snapshot of one task, written as the spec shows it.
function loaded() {
  const dec = createCompactDecoder();
  const tasks = dec.snapshot(snapshotFrame({
    7: { id: 'train', d: 'Training', n: 3, N: 10, un: 'epoch', s: 'update', ts: -2500, m: { host: 'gpu-3' },
      ca: -60000, ua: -1500, p: 'vision', ph: 'train', msg: 'warming up', r: 1.234, e: 5.672 },
    9: { id: 'etl', n: 7, s: 'start', ca: -1000, ua: -1000 },
  }));
  return { dec, tasks };
}

test('a snapshot gives whole v1 tasks keyed by task_id: long keys, epoch seconds, total null when absent', () => {
  const { dec, tasks } = loaded();
  assert.deepEqual(Object.keys(tasks), ['train', 'etl']);
  assert.deepEqual(tasks.train, {
    task_id: 'train', desc: 'Training', n: 3, total: 10, unit: 'epoch', status: 'update',
    timestamp: 1767225597.5, meta: { host: 'gpu-3' }, created_at: 1767225540, updated_at: 1767225598.5,
    project: 'vision', phase: 'train', message: 'warming up', rate: 1.234, eta: 5.672,
  });
  assert.deepEqual(tasks.etl, { task_id: 'etl', n: 7, status: 'start', created_at: 1767225599, updated_at: 1767225599, total: null });
  assert.equal(dec.size, 2);
});

test('every short key of the spec, and times relative to the frame, to the millisecond', () => {
  const dec = createCompactDecoder();
  const { x } = dec.snapshot(snapshotFrame({
    1: { id: 'x', d: 'D', n: 1, N: 2, un: 'u', s: 'recovered', ts: 1, m: {}, ca: -2, ua: 3, da: 4, sa: 5, rv: true,
      ra: 6, p: 'P', ph: 'PH', msg: 'M', err: 'E', r: 7, e: 8, cd: 2.5, ak: 10, pa: 'up',
      ch: { count: 2, closed: 1, failed: 0, running: 1 } },
  }, 1767225600123));
  assert.deepEqual(x, {
    task_id: 'x', desc: 'D', n: 1, total: 2, unit: 'u', status: 'recovered', timestamp: 1767225600.124, meta: {},
    created_at: 1767225600.121, updated_at: 1767225600.126, done_at: 1767225600.127, stale_at: 1767225600.128,
    recovered: true, recovered_at: 1767225600.129, project: 'P', phase: 'PH', message: 'M', error: 'E', rate: 7, eta: 8,
    cadence: 2.5, acknowledged_at: 1767225600.133, parent: 'up',
    children: { count: 2, closed: 1, failed: 0, running: 1 },
  });
  assert.equal(SHORT_KEYS.length, 24);
  for (const [s, l] of SHORT_KEYS) { assert.equal(longKey(s), l); assert.equal(shortKey(l), s); }
});

test('a partial update merges into the task held, as a fresh object', () => {
  const { dec, tasks } = loaded();
  const { upserts, removed, resync } = dec.delta(deltaFrame({ 7: { n: 4, ts: 900, ua: 1000, r: 1.5, e: 4 } }, [], T + 1000));
  assert.deepEqual(removed, []);
  assert.equal(resync, false);
  assert.deepEqual(Object.keys(upserts), ['train']);
  assert.deepEqual(upserts.train, {
    ...tasks.train, n: 4, timestamp: 1767225601.9, updated_at: 1767225602, rate: 1.5, eta: 4,
  });
  assert.notEqual(upserts.train, tasks.train, 'a new object per update');
  assert.equal(tasks.train.n, 3, 'the object handed out before is left as it was');
  // A second update starts from the first.
  const next = dec.delta(deltaFrame({ 7: { msg: 'epoch 5' } })).upserts.train;
  assert.equal(next.n, 4);
  assert.equal(next.message, 'epoch 5');
});

test('a member set to null is gone; total then reads null', () => {
  const { dec } = loaded();
  const { train } = dec.delta(deltaFrame({ 7: { N: null, msg: null, m: null, e: null } })).upserts;
  assert.equal(train.total, null);
  assert.ok(Object.hasOwn(train, 'total'));
  for (const gone of ['message', 'meta', 'eta']) assert.ok(!Object.hasOwn(train, gone), `${gone} removed`);
  assert.equal(train.desc, 'Training', 'the rest stays');
});

test('removal by handle; a handle removed again, or never held, removes nothing', () => {
  const { dec } = loaded();
  assert.deepEqual(dec.delta(deltaFrame({}, [9])), { upserts: {}, removed: ['etl'], resync: false });
  assert.equal(dec.size, 1);
  assert.deepEqual(dec.delta(deltaFrame({}, [9, 12345])), { upserts: {}, removed: [], resync: false });
});

test('a task changed and removed in one frame is only removed', () => {
  const { dec } = loaded();
  assert.deepEqual(dec.delta(deltaFrame({ 9: { n: 8 } }, [9])), { upserts: {}, removed: ['etl'], resync: false });
});

test('a member object with id replaces the task whole: a new task, or one held', () => {
  const { dec } = loaded();
  const added = dec.delta(deltaFrame({ 11: { id: 'new', n: 0, N: 5, s: 'start', ca: 0, ua: 0 } })).upserts;
  assert.deepEqual(added, { new: { task_id: 'new', n: 0, total: 5, status: 'start', created_at: 1767225600, updated_at: 1767225600 } });
  const replaced = dec.delta(deltaFrame({ 7: { id: 'train', n: 9, s: 'close', ca: -60000, ua: 0, da: 0 } })).upserts.train;
  assert.deepEqual(replaced, { task_id: 'train', n: 9, status: 'close', created_at: 1767225540, updated_at: 1767225600, done_at: 1767225600, total: null },
    'nothing of the old state is kept');
});

test('a task created again under a new handle: the old handle removes nothing', () => {
  const { dec } = loaded();
  // Removed and created again in one tick: the store takes removals first, then the new state.
  const again = dec.delta(deltaFrame({ 20: { id: 'etl', n: 0, s: 'start', ca: 0, ua: 0 } }, [9]));
  assert.deepEqual(again.removed, ['etl']);
  assert.equal(again.upserts.etl.n, 0);
  // The new handle arrives before the old one's removal: that removal must not drop the task.
  const { dec: dec2 } = loaded();
  dec2.delta(deltaFrame({ 21: { id: 'etl', n: 1, s: 'start', ca: 0, ua: 0 } }));
  assert.deepEqual(dec2.delta(deltaFrame({}, [9])).removed, []);
  assert.equal(dec2.delta(deltaFrame({ 21: { n: 2 } })).upserts.etl.n, 2);
});

test('a handle without id that is not held asks for a resync; the rest of the frame applies', () => {
  const { dec } = loaded();
  const out = dec.delta(deltaFrame({ 99: { n: 1 }, 7: { n: 5 } }, [9]));
  assert.equal(out.resync, true);
  assert.deepEqual(Object.keys(out.upserts), ['train']);
  assert.deepEqual(out.removed, ['etl']);
  // A new snapshot drops everything held.
  const fresh = dec.snapshot(snapshotFrame({ 99: { id: 'moved', n: 1, s: 'update', ca: 0, ua: 0 } }));
  assert.deepEqual(Object.keys(fresh), ['moved']);
  assert.equal(dec.size, 1);
  assert.equal(dec.delta(deltaFrame({ 7: { n: 6 } })).resync, true, 'train is no longer held');
});

test('keys the table does not know keep their names, in full states and in updates', () => {
  const { dec } = loaded();
  const { train } = dec.delta(deltaFrame({ 7: { shard: 3, retries: null } })).upserts;
  assert.equal(train.shard, 3);
  const fresh = dec.snapshot(snapshotFrame({ 1: { id: 'a', n: 0, future_member: 'x' } })).a;
  assert.equal(fresh.future_member, 'x');
});

test('encodeTask is the inverse of decoding', () => {
  const { tasks } = loaded();
  const t = T + 777;
  const dec = createCompactDecoder();
  const round = dec.snapshot(snapshotFrame({ 1: encodeTask(tasks.train, t) }, t)).train;
  assert.deepEqual(round, tasks.train);
  assert.deepEqual(encodeTask({ task_id: 'a', updated_at: 1767225601, total: null }, T), { id: 'a', ua: 1000, N: null });
});

test('decoded frames drive the task store: buckets follow status, removals apply', () => {
  const { dec, tasks } = loaded();
  const store = new TaskStore();
  const frame = () => { store.applyPending(); for (const def of BUCKETS) store.refreshView(def.key); };
  store.queueSnapshot(tasks);
  frame();
  assert.deepEqual(store.view('active').map((e) => e.id), ['etl', 'train']);
  store.queueDelta(dec.delta(deltaFrame({ 7: { s: 'close', da: 0, ua: 0, n: 10 } }, [9])));
  frame();
  assert.equal(store.count('active'), 0);
  assert.deepEqual(store.view('close').map((e) => e.id), ['train']);
  assert.equal(store.get('train').task.n, 10);
  store.queueDelta(dec.delta(deltaFrame({ 7: { msg: 'done' } })));
  frame();
  assert.ok(store.isChanged('train'), 'a changed member is redrawn');
  assert.equal(store.get('train').task.message, 'done');
});
