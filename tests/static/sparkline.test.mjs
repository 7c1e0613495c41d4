// The rate history and its sparkline (static/js/sparkline.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RATE_POINTS, RateHistory, sparkPath } from '../../static/js/sparkline.js';

test('sparkPath: x evenly spaced, y from 0 at the bottom to the largest at the top', () => {
  assert.equal(sparkPath([], 48, 14), '');
  assert.equal(sparkPath([5], 48, 14), 'M0,1H48');
  assert.equal(sparkPath([0, 10], 48, 14), 'M0,13L48,1');
  assert.equal(sparkPath([0, 5, 10], 40, 12), 'M0,11L20,6L40,1');
  assert.equal(sparkPath([0, 0, 0], 40, 12), 'M0,11L20,11L40,11', 'all zero: along the bottom');
  assert.equal(sparkPath([-3, 3], 10, 12), 'M0,11L10,1', 'negative as 0');
});

test('RateHistory: one value per new task object, the last RATE_POINTS, oldest first', () => {
  const h = new RateHistory();
  const t1 = { rate: 1 };
  assert.equal(h.record('a', t1), true);
  assert.equal(h.record('a', t1), false, 'the same update is recorded once');
  assert.deepEqual(h.values('a'), [1]);
  const v = h.version('a');
  for (let i = 2; i <= RATE_POINTS + 5; i++) h.record('a', { rate: i });
  const values = h.values('a');
  assert.equal(values.length, RATE_POINTS);
  assert.equal(values[0], 6);
  assert.equal(values[RATE_POINTS - 1], RATE_POINTS + 5);
  assert.ok(h.version('a') > v);
  assert.equal(h.record('b', { n: 3 }), false, 'no rate, nothing kept');
  assert.deepEqual(h.values('b'), []);
  assert.equal(h.version('b'), -1);
});

test('RateHistory: bounded, slots reused after prune, thousands of tasks', () => {
  const h = new RateHistory();
  for (let i = 0; i < 5000; i++) h.record(`t${i}`, { rate: i });
  assert.equal(h.size, 5000);
  assert.deepEqual(h.values('t4999'), [4999]);
  h.prune((id) => Number(id.slice(1)) % 2 === 0);
  assert.equal(h.size, 2500);
  assert.deepEqual(h.values('t1'), []);
  for (let i = 0; i < 2500; i++) h.record(`n${i}`, { rate: 7 });
  assert.equal(h.size, 5000);
  assert.deepEqual(h.values('t4998'), [4998], 'kept tasks untouched by reused slots');
  assert.deepEqual(h.values('n0'), [7]);
});
