// Throughput charts (static/js/charts.js) and the favicon badge (static/js/badge.js): the pure
// parts, without a browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chartModel, describe, fmtBefore, fmtValue, spanOf } from '../../static/js/charts.js';
import { badgeSvg, badgeUrl } from '../../static/js/badge.js';

test('chartModel: one y scale over the series, the x axis spans 10 minutes ending now', () => {
  const m = chartModel([[0, 5, 10], [1, 2, 0]], 10);
  assert.equal(m.max, 10);
  const [a, b] = m.series;
  assert.deepEqual(a.points.map((p) => p.ago), [20, 10, 0]);
  assert.equal(a.points[2].x, 300, 'the last point is at now');
  assert.equal(a.points[0].x, 290, 'a short history sits at the right');
  assert.ok(a.points[2].y < a.points[1].y && a.points[1].y < a.points[0].y, 'higher values are higher up');
  assert.deepEqual(a.points.map((p) => p.y), [78, 41, 4], 'from 0 at the bottom to the max at the top');
  assert.deepEqual(b.points.map((p) => p.y), [70.6, 63.2, 78], 'the second series on the same scale');
  const full = chartModel([Array(60).fill(1)], 10);
  assert.equal(full.series[0].points[0].x, 5);
  assert.equal(spanOf(10), 600);
  const flat = chartModel([[0, 0]], 10);
  assert.equal(flat.max, 0);
  assert.ok(flat.series[0].points.every((p) => Number.isFinite(p.y)), 'all zero: still drawable');
  assert.deepEqual(chartModel([[null, NaN, 3]], 10).series[0].points.map((p) => p.value), [0, 0, 3]);
  // The buckets' own lengths when given: the last one (still filling) is short.
  assert.deepEqual(chartModel([[1, 2, 3]], 10, [10, 10, 2.5]).series[0].points.map((p) => p.ago), [12.5, 2.5, 0]);
});

test('describe, fmtBefore, fmtValue: what the titles and the text summary say', () => {
  assert.equal(describe('Events per second', [1, 3, 2]), 'Events per second: now 2, peak 3, average 2.');
  assert.equal(describe('x', []), 'x: no data yet.');
  assert.equal(fmtBefore(0), 'now');
  assert.equal(fmtBefore(40), '40 s ago');
  assert.equal(fmtBefore(200), '3 min 20 s ago');
  assert.equal(fmtBefore(600), '10 min ago');
  assert.equal(fmtValue(12.345), '12.3');
  assert.equal(fmtValue(0.456), '0.46');
  assert.equal(fmtValue(1234.5), '1,235');
});

test('badgeSvg: the icon with the count in a red badge, 99+ past 99', () => {
  assert.match(badgeSvg(3), />3<\/text>/);
  assert.match(badgeSvg(3), /fill="#d1242f"/);
  assert.match(badgeSvg(150), />99\+<\/text>/);
  assert.match(badgeUrl(3), /^data:image\/svg\+xml,%3Csvg/);
});
