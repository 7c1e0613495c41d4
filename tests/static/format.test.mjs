// The dashboard's pure formatting (static/js/format.js), as tqdm and the cards show it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  fmtAgo, fmtClock, fmtCount, fmtNum, fmtRate, percent, plural, tqdmLine, whenLine,
} from '../../static/js/format.js';

test('fmtClock: MM:SS, H:MM:SS past an hour, ? for nonsense', () => {
  assert.equal(fmtClock(0), '00:00');
  assert.equal(fmtClock(61), '01:01');
  assert.equal(fmtClock(59.6), '01:00');
  assert.equal(fmtClock(3599), '59:59');
  assert.equal(fmtClock(3661), '1:01:01');
  assert.equal(fmtClock(-1), '?');
  assert.equal(fmtClock(NaN), '?');
  assert.equal(fmtClock(Infinity), '?');
});

test('fmtNum: integers as they are, fractions to two places, non-numbers as 0', () => {
  assert.equal(fmtNum(42), '42');
  assert.equal(fmtNum(3.14159), '3.14');
  assert.equal(fmtNum(2.5), '2.5');
  assert.equal(fmtNum(undefined), '0');
  assert.equal(fmtNum('7'), '0');
  assert.equal(fmtNum(NaN), '0');
});

test('fmtRate: units per second, seconds per unit below one', () => {
  assert.equal(fmtRate(3.414, 'it'), '3.41 it/s');
  assert.equal(fmtRate(1, 'epoch'), '1.00 epoch/s');
  assert.equal(fmtRate(0.4, 'it'), '2.50 s/it');
  assert.equal(fmtRate(0, 'it'), '? it/s');
  assert.equal(fmtRate(undefined, 'rec'), '? rec/s');
});

test('fmtAgo: seconds, minutes, hours, days', () => {
  assert.equal(fmtAgo(0.5), 'just now');
  assert.equal(fmtAgo(5.9), '5 s ago');
  assert.equal(fmtAgo(125), '2 min ago');
  assert.equal(fmtAgo(7200), '2 h ago');
  assert.equal(fmtAgo(3 * 86400 + 5), '3 d ago');
  assert.equal(fmtAgo(NaN), '');
});

test('counts group thousands; plural and percent', () => {
  assert.equal(fmtCount(10000), '10,000');
  assert.equal(plural(0, 'task'), '0 tasks');
  assert.equal(plural(1, 'task'), '1 task');
  assert.equal(plural(10001, 'stale task'), '10,001 stale tasks');
  assert.equal(percent(42, 100), '42%');
  assert.equal(percent(999, 1000), '99%', 'rounded down: 100% only when done');
  assert.equal(percent(1, 1), '100%');
});

test('tqdmLine with a total: n/total [elapsed<remaining, rate], the ETA counting down', () => {
  const t = { status: 'update', n: 42, total: 100, created_at: 1000, updated_at: 1012, rate: 3.414, eta: 17 };
  assert.equal(tqdmLine(t, 1012), '42/100 [00:12<00:17, 3.41 it/s]');
  assert.equal(tqdmLine(t, 1015), '42/100 [00:15<00:14, 3.41 it/s]');
  assert.equal(tqdmLine(t, 1100), '42/100 [01:40<00:00, 3.41 it/s]', 'an overdue ETA stays at zero');
  assert.equal(tqdmLine({ ...t, eta: undefined }, 1012), '42/100 [00:12<?, 3.41 it/s]');
});

test('tqdmLine stops the clock at the end, and drops the total when there is none', () => {
  const done = { status: 'close', n: 100, total: 100, created_at: 1000, updated_at: 1030, done_at: 1030, rate: 2 };
  assert.equal(tqdmLine(done, 5000), '100/100 [00:30<00:00, 2.00 it/s]');
  const failed = { status: 'error', n: 3, total: 10, created_at: 1000, updated_at: 1065, eta: 5 };
  assert.equal(tqdmLine(failed, 5000), '3/10 [01:05<?, ? it/s]');
  const open = { status: 'update', n: 7, unit: 'files', created_at: 1000, updated_at: 1003, rate: 0.5 };
  assert.equal(tqdmLine(open, 1004), '7 files [00:04, 2.00 s/files]');
  assert.equal(tqdmLine({ status: 'start', n: 0, total: 0 }, 1004), '0 it [?, ? it/s]', 'total 0 is no total');
});

test('whenLine says what the time means for each status', () => {
  assert.equal(whenLine({ status: 'update', updated_at: 100 }, 100.2), 'updated just now');
  assert.equal(whenLine({ status: 'stale', updated_at: 100 }, 220), 'no update for 2 min');
  assert.equal(whenLine({ status: 'close', updated_at: 100, done_at: 90 }, 100), 'finished 10 s ago');
  assert.equal(whenLine({ status: 'error', updated_at: 100 }, 3700), 'failed 1 h ago');
  const started = whenLine({ status: 'update', updated_at: 100, created_at: 50 }, 105);
  assert.match(started, /^updated 5 s ago · started \S/);
});
