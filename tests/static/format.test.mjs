// The dashboard's pure formatting (static/js/format.js), as tqdm and the cards show it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  endedEarly, fmtAgo, fmtClock, fmtCount, fmtNum, fmtRate, fmtSizeof, percent, plural, tqdmLine,
  unitScaling, whenLine,
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
  assert.equal(fmtNum(148634514.55), '148634515', 'a large count is whole');
  assert.equal(fmtNum(99.996), '100');
});

test('fmtSizeof: tqdm\'s three significant digits and SI prefixes', () => {
  assert.equal(fmtSizeof(0), '0.00');
  assert.equal(fmtSizeof(9.994), '9.99');
  assert.equal(fmtSizeof(42), '42.0');
  assert.equal(fmtSizeof(999), '999');
  assert.equal(fmtSizeof(999.5), '1.00k');
  assert.equal(fmtSizeof(155e6), '155M');
  assert.equal(fmtSizeof(1.81e9), '1.81G');
  assert.equal(fmtSizeof(5368709120, 1024), '5.00G');
  assert.equal(fmtSizeof(148634514.55, 1024), '142M');
  assert.equal(fmtSizeof(2e24), '2.0Y');
  assert.equal(fmtSizeof(NaN), '?');
});

test('unitScaling: meta.unit_scale / unit_divisor as tqdm takes them, bytes inferred', () => {
  assert.equal(unitScaling({ unit: 'it' }), null);
  assert.deepEqual(unitScaling({ unit: 'B' }), { factor: 1, divisor: 1024 });
  assert.deepEqual(unitScaling({ unit: 'iB' }), { factor: 1, divisor: 1024 });
  assert.deepEqual(unitScaling({ unit: 'B', meta: { unit_divisor: 1000 } }), { factor: 1, divisor: 1000 });
  assert.equal(unitScaling({ unit: 'B', meta: { unit_scale: false } }), null, 'turned off');
  assert.deepEqual(unitScaling({ unit: 'it', meta: { unit_scale: true } }), { factor: 1, divisor: 1000 });
  assert.deepEqual(unitScaling({ unit: 'B', meta: { unit_scale: true } }), { factor: 1, divisor: 1000 },
    'asked for explicitly, tqdm\'s default divisor');
  assert.deepEqual(unitScaling({ meta: { unit_scale: 512, unit_divisor: 1024 } }), { factor: 512, divisor: 1024 });
  assert.equal(unitScaling({ unit: 'it', meta: { unit_scale: 'yes' } }), null);
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
  assert.equal(tqdmLine(t, 1029), '42/100 [00:29<00:00, 3.41 it/s]', 'due now');
  assert.equal(tqdmLine(t, 1100), '42/100 [01:40<overdue, 3.41 it/s]', 'never counts past zero');
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

test('tqdmLine with unit scaling reads as tqdm\'s: 1.81G/3.17G [00:12<00:09, 155MB/s]', () => {
  const t = { status: 'update', unit: 'B', n: 1.81 * 2 ** 30, total: 3.17 * 2 ** 30, created_at: 1000,
    updated_at: 1012, rate: 155 * 2 ** 20, eta: 9 };
  assert.equal(tqdmLine(t, 1012), '1.81G/3.17G [00:12<00:09, 155MB/s]');
  assert.equal(tqdmLine({ ...t, total: undefined }, 1012), '1.81GB [00:12, 155MB/s]');
  assert.equal(tqdmLine({ ...t, rate: 0.4 }, 1012), '1.81G/3.17G [00:12<00:09, 2.50s/B]');
  assert.equal(tqdmLine({ ...t, rate: undefined }, 1012), '1.81G/3.17G [00:12<00:09, ?B/s]');
  const samples = { status: 'update', unit: 'samples', n: 12345, total: 1e6, created_at: 1000,
    updated_at: 1001, rate: 2500, eta: 394, meta: { unit_scale: true } };
  assert.equal(tqdmLine(samples, 1001), '12.3k/1.00M [00:01<06:34, 2.50ksamples/s]');
  const bytes = { status: 'update', unit: 'B', n: 148634514.55, total: 5368709120, created_at: 1000,
    updated_at: 1001, rate: 1e6, eta: 5000 };
  assert.match(tqdmLine(bytes, 1001), /^142M\/5\.00G \[/, 'no fractional byte counts');
});

test('endedEarly: a close below the total says where it stopped', () => {
  assert.equal(endedEarly({ status: 'close', n: 45, total: 100 }), '45%');
  assert.equal(endedEarly({ status: 'close', n: 100, total: 100 }), null);
  assert.equal(endedEarly({ status: 'close', n: 7 }), null, 'no total: nothing to fall short of');
  assert.equal(endedEarly({ status: 'update', n: 45, total: 100 }), null);
  assert.equal(endedEarly({ status: 'close', total: 10 }), '0%');
});

test('whenLine says what the time means for each status', () => {
  assert.equal(whenLine({ status: 'close', n: 45, total: 100, updated_at: 100 }, 110), 'ended 10 s ago');
  assert.equal(whenLine({ status: 'update', updated_at: 100 }, 100.2), 'updated just now');
  assert.equal(whenLine({ status: 'stale', updated_at: 100 }, 220), 'no update for 2 min');
  assert.equal(whenLine({ status: 'close', updated_at: 100, done_at: 90 }, 100), 'finished 10 s ago');
  assert.equal(whenLine({ status: 'error', updated_at: 100 }, 3700), 'failed 1 h ago');
  const started = whenLine({ status: 'update', updated_at: 100, created_at: 50 }, 105);
  assert.match(started, /^updated 5 s ago · started \S/);
});
