// Project roll-ups (static/js/projects.js): tallies, throughput, ETA, the server's counts,
// failures first; without a browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countsOf, fmtThroughput, pace, projectTerm, rollup, tallyTasks } from '../../static/js/projects.js';
import { projectOf } from '../../static/js/query.js';

const entry = (project, task, bucket = 'active') => ({ project, task: { status: 'update', ...task }, bucket });

test('tallyTasks and pace: throughput where units agree, ETA where totals are known', () => {
  const tallies = tallyTasks([
    entry('etl', { n: 10, total: 100, unit: 'rows', rate: 5 }),
    entry('etl', { n: 50, total: 100, unit: 'rows', rate: 5 }),
    entry('etl', { n: 0, total: 40, unit: 'rows', rate: 9 }, 'stalled'),   // silent: no throughput, still remaining
    entry('etl', { status: 'close', n: 100, total: 100, unit: 'rows' }),
    entry('etl', { status: 'error', unit: 'rows' }),
    entry('mix', { n: 1, total: 10, unit: 'files', rate: 1 }),
    entry('mix', { n: 1, total: 10, unit: 'rows', rate: 2 }),
    entry('open', { n: 1, rate: 2 }),
    entry('', { n: 1, total: 4, rate: 0 }),
  ]);
  const etl = tallies.get('etl');
  assert.equal(etl.total, 5);
  assert.equal(etl.live, 3);
  assert.equal(etl.stalled, 1);
  const p = pace(etl);
  assert.deepEqual(p.throughput, { rate: 10, unit: 'rows' });
  assert.equal(p.eta, (90 + 50 + 40) / 10);
  assert.deepEqual(pace(tallies.get('mix')), { throughput: { mixed: ['files', 'rows'] }, eta: null, etaWhy: 'mixed units' });
  assert.equal(fmtThroughput(pace(tallies.get('mix')).throughput), 'mixed units (files, rows)');
  assert.deepEqual(pace(tallies.get('open')), { throughput: { rate: 2, unit: 'it' }, eta: null, etaWhy: 'totals unknown' });
  assert.equal(pace(tallies.get('')).throughput, null, 'no rate yet');
  assert.equal(fmtThroughput({ rate: 1234, unit: 'rows' }), '1.23k rows/s');
  assert.equal(fmtThroughput({ rate: 0.4, unit: 'it' }), '0.40 it/s');
  assert.equal(fmtThroughput({ rate: 162529280, unit: 'B' }), '155MB/s', 'bytes as tqdm scales them');
});

test('countsOf: the server\'s counts (stalled taken out of running), else the page\'s', () => {
  const tally = tallyTasks([entry('p', { n: 1 }, 'stalled'), entry('p', { n: 1 })]).get('p');
  assert.deepEqual(countsOf({ total: 9, start: 1, update: 3, recovered: 1, close: 2, error: 1, stale: 1, stalled: 2 }, tally),
    { total: 9, done: 2, failed: 1, stale: 1, stalled: 2, running: 3 });
  assert.deepEqual(countsOf({ total: 2, update: 2 }, tally).stalled, 1, 'a server without stalled: the page\'s');
  assert.deepEqual(countsOf(null, tally), { total: 2, done: 0, failed: 0, stale: 0, stalled: 1, running: 1 });
});

test('rollup: failures first (most first), then by name, no project last; server and page merged', () => {
  const summary = {
    projects: {
      alpha: { tasks: { total: 2, update: 2 }, by_units: { unit: 'rows', total: 20, n: 5, fraction: 0.25 } },
      beta: { tasks: { total: 3, update: 1, error: 2 }, by_units: null },
      gamma: { tasks: { total: 1, error: 1 } },
    },
    no_project: { tasks: { total: 1, close: 1 } },
  };
  const tallies = tallyTasks([entry('alpha', { n: 1, total: 10, unit: 'rows', rate: 2 }), entry('delta', { n: 1 })]);
  const rows = rollup(summary, tallies);
  assert.deepEqual(rows.map((r) => r.name), ['beta', 'gamma', 'alpha', 'delta', '']);
  assert.equal(rows[4].label, '(no project)');
  assert.deepEqual(rows[2].progress, summary.projects.alpha.by_units);
  assert.deepEqual(rows[2].throughput, { rate: 2, unit: 'rows' });
  assert.equal(rows[3].counts.total, 1, 'a project the server has not reported yet: the page\'s count');
  assert.deepEqual(rollup(null, new Map()), []);
  // The server's rate and ETA per project, where it gives them, over the page's.
  const withRate = rollup({ projects: { alpha: { tasks: { total: 1, update: 1 },
    by_units: { unit: 'rows', total: 20, n: 5, fraction: 0.25, rate: 3, remaining: 15, eta: 5 } } } }, tallies);
  assert.deepEqual(withRate[0].throughput, { rate: 3, unit: 'rows' });
  assert.equal(withRate[0].eta, 5);
});

test('projectTerm quotes names with spaces; projectOf follows the id rule', () => {
  assert.equal(projectTerm('etl'), 'project:etl');
  assert.equal(projectTerm('big data'), 'project:"big data"');
  const rule = { id_separators: '/:' };
  assert.equal(projectOf({ task_id: 'etl/shard-3' }, rule), 'etl');
  assert.equal(projectOf({ task_id: 'etl:x/y' }, rule), 'etl');
  assert.equal(projectOf({ task_id: 'plain' }, rule), '');
  assert.equal(projectOf({ task_id: ':lead' }, rule), '', 'not at position 0');
  assert.equal(projectOf({ task_id: 'etl/shard-3' }), '', 'off by default');
  assert.equal(projectOf({ task_id: 'etl/shard-3' }, { id_separators: '' }), '', 'empty string: off');
  assert.equal(projectOf({ task_id: 'etl/shard-3', meta: { project: 'data' } }, rule), 'data', 'meta.project first');
  assert.equal(projectOf({ task_id: 'etl/shard-3', project: 'web' }, rule), 'web', 'the field first');
});
